"""Notebook kernels forked from a warm server instead of started from scratch (issue 17).

A daily run executes five notebooks, each in a fresh kernel of its own (papermill). A
kernel started from scratch spends 2-4 s of CPU importing ipykernel, pandas, the
package and vectorbt before its notebook's first cell, and five of them compete for the
machine's two cores with the run itself. Here the standard library's ``forkserver``
imports that stack once per run (:data:`PRELOAD`, started at the run's beginning, while
the data and the account load), and each kernel is a fork of that server: a separate
process with its own pid, session, environment, working folder and connection file, that
runs ipykernel's own entry point (``IPKernelApp.launch_instance``) with the arguments its
kernelspec gives, exactly as ``python -m ipykernel_launcher`` would. Nothing of a run is
shared: the server only imported modules, it never executed a notebook.

:class:`ForkedProvisioner` is jupyter_client's local provisioner with only the launch
replaced; papermill, nbclient and the kernel manager talk to the kernel as to any other.
Where a kernel cannot be forked (a kernelspec of another interpreter, the server cannot
start), it is started from scratch as before, with a warning. The provisioner is also the
entry point ``algotrading-forked`` (pyproject.toml): with
``JUPYTER_DEFAULT_PROVISIONER_NAME=algotrading-forked`` every kernel jupyter_client starts
in a process is forked (the test suite's nbval kernels).

A forked kernel exits when its parent, the server, is gone (ipykernel's parent poller,
``JPY_PARENT_PID``), and the server exits when the process that started it does: a run
killed by ``kill -9`` leaves no kernel behind.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import sys
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

log = logging.getLogger(__name__)

#: What the server imports once: ipykernel's application (first, so that the warm-up sees
#: a kernel), then the daily notebooks' own modules and vectorbt (report/kernel_warmup.py).
PRELOAD = ("ipykernel.kernelapp", "algotrading.report.kernel_warmup")
#: Interpreter options a kernelspec may put before ``-m ipykernel_launcher`` that a fork
#: can ignore (ipykernel's own kernelspec adds the first, for debuggers only).
_IGNORED_OPTIONS = frozenset({"-Xfrozen_modules=off"})

_CONTEXT = multiprocessing.get_context("forkserver")


def start_server() -> bool:
    """Start the fork server if it is not running (it imports :data:`PRELOAD` in the
    background, without blocking this process). False, with a warning, where it cannot
    start: kernels are then started from scratch."""
    try:
        server = forkserver._forkserver
        if getattr(server, "_forkserver_pid", None) is None:
            # PRELOAD first (a kernel's modules are imported as in a kernel: ipykernel, then the
            # warm-up, whose matplotlib.use("Agg") comes before pyplot), then what this process
            # asked the server to import already, but never its __main__
            wanted = [m for m in getattr(server, "_preload_modules", []) if m != "__main__"]
            _CONTEXT.set_forkserver_preload(list(dict.fromkeys([*PRELOAD, *wanted])))
        forkserver.ensure_running()
    except Exception as exc:  # noqa: BLE001  (any failure: the kernels start from scratch)
        log.warning("kernels start from scratch: the fork server could not start (%s)", exc)
        return False
    return True


def kernel_arguments(cmd: list[str]) -> list[str] | None:
    """The arguments for ipykernel's application in a kernelspec's command, or None when
    the command is not this interpreter running ``-m ipykernel_launcher`` (another
    interpreter's kernel must start from scratch: its packages are not ours)."""
    if len(cmd) < 3 or os.path.abspath(cmd[0]) != os.path.abspath(sys.executable):
        return None
    try:
        at = cmd.index("-m")
    except ValueError:
        return None
    if cmd[at + 1 : at + 2] != ["ipykernel_launcher"] or any(o not in _IGNORED_OPTIONS for o in cmd[1:at]):
        return None
    return cmd[at + 2 :]


class ForkedProcess:
    """The handle jupyter_client keeps of a kernel process (the part of
    :class:`subprocess.Popen` its provisioner uses), for a kernel forked by the server.
    Signals go only to a kernel that has not exited (its pid could be reused after)."""

    stdin = stdout = stderr = None

    def __init__(self, arguments: list[str], env: dict[str, str], cwd: str) -> None:
        self._process = _CONTEXT.Process(target=_kernel_main, args=(arguments, env, cwd), name="algotrading-kernel")
        self._process.start()
        self.pid: int = self._process.pid  # type: ignore[assignment]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit status (negative: the signal that ended it), None while it runs."""
        if self.returncode is None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self.poll()

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching the kernel as a fork of the warm
    server (:class:`ForkedProcess`) when its command allows it; everything else (the
    connection file, ports or sockets, signals to its process group, shutdown) is the
    local provisioner's own."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        arguments = kernel_arguments(cmd)
        if arguments is not None and start_server():  # started already by a pool: nothing to do
            cwd = str(kwargs.get("cwd") or Path.cwd())
            try:
                process = ForkedProcess(arguments, dict(kwargs.get("env") or os.environ), cwd)
            except Exception as exc:  # noqa: BLE001  (started from scratch instead, below)
                log.warning("kernel started from scratch: it could not be forked (%s)", exc)
            else:
                self.process = process  # type: ignore[assignment]  # the part of Popen it uses
                self.pid = process.pid
                self.pgid = process.pid  # its own session (_kernel_main); until then killpg finds no group
                self.cwd = cwd
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)


def _let_the_server_go() -> None:
    """Close this fork's copy of the end of the pipe that keeps the server running: the
    standard library hands it to every fork so that the server outlives its users, but a
    kernel exits when the server does (its parent), so with it neither would ever exit
    after the run was killed."""
    server = forkserver._forkserver
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        setattr(server, "_forkserver_alive_fd", None)  # noqa: B010  (not in typeshed)


def _kernel_main(arguments: list[str], env: dict[str, str], cwd: str) -> None:
    """In the forked process: become what ``python -m ipykernel_launcher ARGUMENTS``
    started by jupyter_client is (a session of its own, the kernel's environment and
    folder, no standard input), run the kernel, and end as an interpreter ends."""
    os.setsid()
    _let_the_server_go()
    os.environ.clear()
    os.environ.update(env)
    server = str(os.getppid())  # the kernel exits when the server is gone (ipykernel's parent poller)
    os.environ["JPY_PARENT_PID"] = server
    os.chdir(cwd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # ipykernel read JPY_PARENT_PID when the server imported it: the parent goes as an option
    sys.argv = ["ipykernel_launcher", *arguments, f"--IPKernelApp.parent_handle={server}"]
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]  # as ipykernel_launcher does; the shell puts the working folder back
    from ipykernel.kernelapp import IPKernelApp  # local: in the runner 0.5 s to import (the server has it)

    try:
        IPKernelApp.launch_instance()
    finally:
        atexit._run_exitfuncs()
