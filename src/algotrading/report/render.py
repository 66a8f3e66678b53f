"""Execute notebooks with papermill and render them to self-contained HTML with nbconvert.

Papermill writes its parameters into the executed notebook, so only the session date
and folders are ever passed (never a secret: DESIGN §7). Notebooks run in the run
folder (``cwd``), so an executed notebook opened later from ``reports/<D>/`` finds its
artifacts with ``run_dir="."``.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path
from typing import Any

from ipykernel.kernelspec import install
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from algotrading.report.kernels import KernelPool, ipc_config
from algotrading.storage.files import atomic_write_text

log = logging.getLogger(__name__)

KERNEL_NAME = "algotrading"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "offline"
#: Cells the email shows and report.html leaves out (the report has them elsewhere).
EMAIL_ONLY_TAG = "email-only"


def ensure_kernel() -> str:
    """A kernelspec that runs *this* interpreter.

    A user-level ``python3`` kernelspec may point at another Python without the
    package, so runs use a dedicated ``algotrading`` kernelspec installed into this
    environment; falls back to ``python3`` when the environment is read-only.
    """
    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(KERNEL_NAME)
        if spec.argv and Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    try:
        install(kernel_name=KERNEL_NAME, display_name="AlgoTrading (.venv)", prefix=sys.prefix)
        return KERNEL_NAME
    except OSError as exc:
        log.warning("could not install the %s kernelspec (%s); using python3", KERNEL_NAME, exc)
        return "python3"


def execute_notebook(
    source: Path,
    output: Path,
    parameters: dict[str, Any],
    cwd: Path,
    cell_timeout: int,
    kernel_name: str,
    output_timeout: int,
    km: Any = None,
) -> None:
    """Run ``source`` with ``parameters`` into ``output``. On a failing cell (or a
    deadline raised during a cell) papermill saves the partly executed notebook to
    ``output`` and raises.

    ``cell_timeout``: seconds a cell may run; ``output_timeout``: seconds to wait for a
    finished cell's output (nbclient's ``iopub_timeout``; its 4 s default fails slow cells
    on a busy machine). ``km``: a kernel already started in ``cwd``
    (:class:`~algotrading.report.kernels.KernelPool`), which the caller stops; without
    it one is started here for this notebook and stopped after it. The notebook is saved
    once, when it ends (saving after every cell cost 0.9 s on the report notebook)."""
    import papermill as pm  # local: 1.4 s to import; the modules that import this one for render_html need not pay it

    with ExitStack() as stack:
        if km is None:  # a kernel of its own, stopped without the SIGINT that shutdown_kernel() sends
            km = stack.enter_context(KernelPool(kernel_name, cwd, {source.name: source})).take(source.name)
        sockets = stack.enter_context(tempfile.TemporaryDirectory(prefix="algotrading-kernel-"))
        pm.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            cwd=str(cwd),
            kernel_name=kernel_name,
            execution_timeout=cell_timeout,
            iopub_timeout=output_timeout,
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
            km=km,  # None (a kernel the pool could not start): papermill starts one, over ipc sockets too
            config=ipc_config(Path(sockets)),
        )


def render_html(notebook: Path, output: Path, title: str) -> int:
    """Render an executed notebook to one HTML file that needs no network to view.

    Code cells are hidden (the reader sees text, tables and figures), and cells tagged
    ``email-only`` are left out. Returns the size in bytes.
    """
    import nbformat  # local: nbconvert costs 1.5 s to import (nbformat most of it); only rendering needs them

    nb = nbformat.read(str(notebook), as_version=4)
    nb.metadata["title"] = title
    nb.cells = [c for c in nb.cells if EMAIL_ONLY_TAG not in c.get("metadata", {}).get("tags", [])]
    body, _ = _report_exporter().from_notebook_node(nb)
    atomic_write_text(output, body)
    return len(body.encode("utf-8"))


@lru_cache(maxsize=1)
def _report_exporter() -> Any:
    """The report's nbconvert exporter, one per process: it compiles its Jinja templates on
    its first render, 0.2-0.3 s that a new exporter paid on every render (a process that
    renders several reports: accounts of one run, a replay, the tests). What a render
    needs of the notebook comes with the notebook, not from the exporter."""
    from nbconvert import HTMLExporter  # local: see render_html

    return HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
