"""Kernels started ahead of the notebooks that will run in them.

A daily run executes five notebooks one after another, each in a fresh kernel (papermill,
nbclient). Most of a notebook's time is the kernel's start and its imports (about 2 s
each, measured in issue 17), not its cells. :class:`KernelPool` starts a fresh kernel
for each notebook ahead (a few at a time), in the run's folder: a fork of a server that
imported the stack once (report/kernel_forks.py), or, where that is not possible, a
kernel started from scratch that imports its notebook's modules while the earlier
notebooks run. papermill then executes the notebook in that kernel (``km=``), and the
kernel is shut down when its notebook is done. Each notebook still gets a kernel of its
own that nothing else ran in, except those imports.

The warm-up is the notebook's own ``import`` statements (read from its code cells) and
the statements given for it in ``ahead``; the kernel runs it while it starts, before
it answers papermill (no output, no execution count). A warm-up that fails changes
nothing: the notebook's own cell imports again and fails with the real error in the
executed notebook.
"""

from __future__ import annotations

import ast
import json
import logging
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from traitlets.config import Config

from algotrading.report import kernel_forks

log = logging.getLogger(__name__)

#: Seconds a kernel gets to stop after a shutdown request before it is killed.
SHUTDOWN_WAIT_SECONDS = 5.0


def notebook_imports(notebook: Path) -> list[str]:
    """The ``import`` statements of ``notebook``'s code cells, in order, each once.
    Cells that are not valid Python (magics) are skipped."""
    doc = json.loads(notebook.read_text(encoding="utf-8"))
    lines: list[str] = []
    for cell in doc.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        lines += [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return list(dict.fromkeys(lines))


def warm_up_code(notebook: Path, ahead: Iterable[str] = ()) -> str:
    """What a kernel runs before ``notebook``: its imports, then the statements ``ahead``
    (imports its cells make lazily), each guarded so one failure does not stop the rest."""
    statements = notebook_imports(notebook) + list(ahead)
    return "\n".join(f"try:\n    {s}\nexcept Exception:\n    pass" for s in statements)


def ipc_config(folder: Path) -> Config:
    """Kernel managers that talk to their kernel over Unix sockets in ``folder`` rather
    than localhost TCP ports (ipykernel warns about unencrypted TCP, and other local users
    can't connect). One folder per kernel: two kernels sharing one would race for the same
    socket names."""
    return Config({"KernelManager": {"transport": "ipc", "ip": str(folder / "kernel")}})


class _Manager(AsyncKernelManager):
    """A kernel manager that remembers the clients it made (papermill's), so their
    channels are closed when the kernel stops; ``forked``: its kernel is a fork of the
    warm server (report/kernel_forks.py) when the kernelspec allows it."""

    def __init__(self, forked: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._made: list[Any] = []
        self._forked = forked

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self._forked and self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = kernel_forks.ForkedProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)

    def client(self, **kwargs: Any) -> Any:
        made = super().client(**kwargs)
        self._made.append(made)
        return made

    def made_clients(self) -> list[Any]:
        return list(self._made)


class _Kernel:
    """One started kernel, asked to stop at most once."""

    def __init__(self, manager: _Manager) -> None:
        self.manager = manager
        self.asked = False

    async def ask_to_stop(self) -> None:
        """Ask the kernel to exit, without waiting: it exits while the run goes on. A
        shutdown request, not km.shutdown_kernel(): that interrupts the kernel first, and
        ipykernel logs the SIGINT as "KeyboardInterrupt caught in kernel"."""
        if self.asked:
            return
        self.asked = True  # released, even if the request below fails (the pool's exit then kills it)
        for client in self.manager.made_clients():
            client.stop_channels()
        if await self.manager.is_alive():
            await self.manager.request_shutdown()

    async def stop(self) -> None:
        """Wait for the kernel to exit (killed after ``SHUTDOWN_WAIT_SECONDS``)."""
        try:
            await self.ask_to_stop()
            await self.manager.finish_shutdown(waittime=SHUTDOWN_WAIT_SECONDS)
        finally:
            await self.manager.cleanup_resources()


class KernelPool:
    """A fresh kernel for each of ``notebooks`` (name -> path, in the order they run),
    warmed with that notebook's imports; :meth:`take` hands one to papermill.

    At most ``live`` kernels run at once (None: all of them), so memory stays bounded (a
    kernel holds 200-500 MB): the first ``live`` start when the first kernel is taken
    (forked from the warm server, which starts importing when the pool is entered), or
    when the pool is entered if they are started from scratch; the next each time one is
    released. Kernels not taken and taken ones alike are stopped by :meth:`release` or
    when the pool exits, also when a notebook failed."""

    def __init__(
        self,
        kernel_name: str,
        cwd: Path,
        notebooks: Mapping[str, Path],
        ahead: Mapping[str, Iterable[str]] | None = None,
        live: int | None = None,
    ) -> None:
        self.kernel_name = kernel_name
        self.cwd = cwd
        self.notebooks = dict(notebooks)
        self.ahead = dict(ahead or {})
        self.live = live if live is not None else len(self.notebooks)
        self._kernels: dict[str, _Kernel] = {}
        self._pending = list(self.notebooks)
        self._sockets: tempfile.TemporaryDirectory[str] | None = None
        self._forked = False

    def __enter__(self) -> KernelPool:
        self._sockets = tempfile.TemporaryDirectory(prefix="algotrading-kernels-")
        # Forked kernels start when the first is taken: the server imports meanwhile (a fork
        # waits for it), while the run loads its data. From scratch, they start importing now.
        self._forked = bool(self.notebooks) and kernel_forks.start_server()
        if not self._forked:
            self._start_more()
        return self

    def _start_more(self) -> None:
        """Start the next kernels, up to ``live`` running and not released."""
        running = sum(not kernel.asked for kernel in self._kernels.values())
        names = self._pending[: max(self.live - running, 0)]
        del self._pending[: len(names)]
        if names and self._sockets is not None:
            run_sync(self._start)(Path(self._sockets.name), names)

    def __exit__(self, *exc: object) -> None:
        try:
            run_sync(self._stop)(list(self._kernels))
        finally:
            if self._sockets is not None:
                self._sockets.cleanup()

    async def _start(self, sockets: Path, names: list[str]) -> None:
        for name in names:
            path = self.notebooks[name]
            try:
                folder = Path(tempfile.mkdtemp(dir=sockets))
                km = _Manager(forked=self._forked, kernel_name=self.kernel_name, config=ipc_config(folder))
                # The kernel runs its warm-up while it starts (IPython's exec_lines, without
                # history), and answers papermill's client once it is done. A second client
                # sending it instead lost the race with the kernel's start about once in six.
                code = warm_up_code(path, self.ahead.get(name, ()))
                await km.start_kernel(
                    cwd=str(self.cwd), extra_arguments=[f"--IPKernelApp.exec_lines={code}"] if code else []
                )
            except Exception as exc:  # papermill starts its own kernel for this one and says why it can't
                log.warning("kernel for %s not started ahead: %s", name, exc)
                continue
            self._kernels[name] = _Kernel(km)

    def take(self, name: str) -> Any:
        """The started kernel manager for notebook ``name`` (papermill's ``km``), or None
        when it could not be started ahead (papermill then starts one itself)."""
        if name not in self._kernels and name in self._pending:
            self._start_more()
        kernel = self._kernels.get(name)
        return kernel.manager if kernel is not None else None

    def release(self, name: str) -> None:
        """``name``'s notebook is done: ask its kernel to exit (the pool waits for it when
        it exits, by when it has), and start the next one waiting."""
        kernel = self._kernels.get(name)
        if kernel is not None:
            try:
                run_sync(kernel.ask_to_stop)()
            except Exception as exc:  # the pool's exit stops it, killing it if need be
                log.warning("kernel of %s was not asked to stop: %s", name, exc)
        self._start_more()

    async def _stop(self, names: list[str]) -> None:
        for name in names:
            kernel = self._kernels.pop(name, None)
            if kernel is None:
                continue
            try:
                await kernel.stop()
            except Exception as exc:  # the notebook's outputs are written; a stuck kernel is only logged
                log.warning("kernel of %s did not stop cleanly: %s", name, exc)
