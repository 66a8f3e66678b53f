"""Run a notebook's cells in this process instead of a kernel, for the test suite.

A daily run executes its notebooks with papermill, each in a fresh Jupyter kernel (DESIGN
§3); most of that time is the kernels' start and imports, not the cells (issue 17). The
tests whose subject is not the notebooks (submission, the ledger, the email, recovery
after a kill) run the same daily command many times, so with
``ALGOTRADING_NOTEBOOKS_IN_PROCESS=1`` the daily notebooks run here instead: the same
notebook file, its parameters injected exactly as papermill injects them, every code
cell executed in order by IPython in the run's folder, outputs captured into the
executed notebook (the report and the email rendered from them are the same as from
kernels: tests/test_daily_run.py). A live account's notebooks always run in kernels
(``jobs/daily``).

A failing cell stops the notebook: the notebook is saved up to that cell (with the error
as its output, as papermill does) and papermill's own ``PapermillExecutionError`` is raised,
so a failed run reads the same either way.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.displayhook import DisplayHook
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from papermill.exceptions import PapermillExecutionError
from papermill.execute import prepare_notebook_metadata
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from traitlets import Type
from traitlets.config import Config

from algotrading.storage.files import atomic_write_text

#: Set to 1 to run the daily notebooks in the runner's process (tests only).
VARIABLE = "ALGOTRADING_NOTEBOOKS_IN_PROCESS"


class KeepingDisplayHook(DisplayHook):
    """Keeps the formatted value of a cell's last expression (``shown``) instead of
    printing it with an ``Out[]`` prompt."""

    shown: tuple[dict[str, Any], dict[str, Any]] | None = None

    def write_output_prompt(self) -> None:
        return None

    def write_format_data(self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None) -> None:
        self.shown = (format_dict, md_dict or {})


def enabled() -> bool:
    """Whether the environment asks for in-process notebooks."""
    return os.environ.get(VARIABLE, "").strip().lower() in ("1", "true", "yes")


def execute_in_process(source: Path, output: Path, parameters: dict[str, Any], cwd: Path) -> None:
    """Run ``source`` with ``parameters`` in this process, in ``cwd``, into ``output``."""
    # what papermill.execute_notebook does before it starts a kernel
    nb = parameterize_notebook(load_notebook_node(str(source)), parameters, kernel_name="python3", language="python")
    nb = prepare_notebook_metadata(nb, str(source), str(output))
    shell = _shell()
    shell.reset(new_session=False)  # a fresh namespace for each notebook, as a fresh kernel has
    _fresh_plotly()
    failed: tuple[int, int, Any, BaseException] | None = None  # cell index, count, cell, error
    code_cells = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    with contextlib.chdir(cwd):
        for count, (index, cell) in enumerate(code_cells, start=1):
            cell.execution_count = count
            cell.outputs, failure = _run_cell(shell, cell.source)
            if failure is not None:
                failed = (index, count, cell, failure)
                break
    atomic_write_text(output, nbformat.writes(nb))
    if failed is None:
        return
    index, count, cell, failure = failed
    if not isinstance(failure, Exception):  # Ctrl-C, SystemExit: not the notebook's error
        raise failure
    shown = cell.outputs[-1]  # _run_cell's error output
    raise PapermillExecutionError(index, count, cell.source, shown.ename, shown.evalue, shown.traceback) from failure


def _run_cell(shell: InteractiveShell, code: str) -> tuple[list[Any], BaseException | None]:
    """One cell's outputs (stream, display data, the last expression's value, the error)."""
    hook = shell.displayhook
    assert isinstance(hook, KeepingDisplayHook)  # _shell() made it
    hook.shown = None
    with capture_output(display=True) as captured:
        result = shell.run_cell(code, store_history=False)
    outputs: list[Any] = []
    if captured.stdout:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=captured.stdout))
    if captured.stderr:
        outputs.append(nbformat.v4.new_output("stream", name="stderr", text=captured.stderr))
    for shown in captured.outputs:
        outputs.append(nbformat.v4.new_output("display_data", data=shown.data, metadata=shown.metadata or {}))
    error = result.error_before_exec or result.error_in_exec
    if error is not None:
        lines = traceback.format_exception(error)
        outputs.append(nbformat.v4.new_output("error", ename=type(error).__name__, evalue=str(error), traceback=lines))
        return outputs, error
    if hook.shown is not None:
        data, metadata = hook.shown
        outputs.append(nbformat.v4.new_output("execute_result", data=data, metadata=metadata or {}))
    return outputs, None


def _fresh_plotly() -> None:
    """plotly embeds plotly.js in the first figure's output after its renderer is chosen,
    once per process; a notebook here gets it as one in a fresh kernel does."""
    pio = sys.modules.get("plotly.io")
    if pio is not None:
        pio.renderers.default = ""  # the notebook's own setup (report.notebook.setup) chooses it again


class NotebookShell(InteractiveShell):
    """IPython's shell as a kernel would run the cells, minus the terminal: the last
    expression's value is kept (:class:`KeepingDisplayHook`), and a failing cell's
    traceback goes only into its error output, not to stdout as well."""

    displayhook_class = Type(KeepingDisplayHook)

    def _showtraceback(self, etype: Any, evalue: Any, stb: Any) -> None:
        return None


def _shell() -> NotebookShell:
    """This process's shell (made once): no history file, no output cache, no colours."""
    if InteractiveShell.initialized():
        shell = InteractiveShell.instance()
        if not isinstance(shell, NotebookShell):
            raise RuntimeError("another IPython shell runs in this process: in-process notebooks need their own")
        return shell
    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.cache_size = 0
    config.InteractiveShell.colors = "nocolor"
    config.InteractiveShell.xmode = "Plain"
    main = sys.modules.get("__main__")
    shell = NotebookShell.instance(config=config)
    if main is not None:  # IPython puts its namespace module there; multiprocessing's spawn needs the real one
        sys.modules["__main__"] = main
    return shell
