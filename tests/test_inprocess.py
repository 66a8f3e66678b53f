"""Notebooks run in the test's process (report/inprocess.py, ALGOTRADING_NOTEBOOKS_IN_PROCESS):
papermill's parameters, the run folder as the working directory, every cell's outputs
kept, a failing cell saved and named, a fresh namespace per notebook; never for a live
account. tests/test_daily_run.py shows that such a run makes the same plan, artifacts,
report and email as a run with a kernel per notebook."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell
from papermill.exceptions import PapermillExecutionError

from algotrading.config import Mode, load_settings
from algotrading.daily import artifacts
from algotrading.jobs.daily import _in_process
from algotrading.report.inprocess import VARIABLE, execute_in_process


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = None")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, str(path))
    return path


def test_a_notebook_in_process_gets_papermills_parameters_and_keeps_its_outputs(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    source = _notebook(
        tmp_path / "a.ipynb",
        "import os\nimport pandas as pd\nprint('x is', x)\nos.getcwd()",
        "from IPython.display import HTML, display\ndisplay(HTML('<b>shown</b>'))\npd.DataFrame({'a': [x * 2]})",
        "y = 3",
    )
    execute_in_process(source, folder / "a.ipynb", {"x": 21}, folder)
    nb = nbformat.read(str(folder / "a.ipynb"), as_version=4)
    assert nb.metadata.papermill.parameters == {"x": 21}
    injected = nb.cells[1]
    assert "injected-parameters" in injected.metadata.tags and injected.source.endswith("x = 21\n")
    first, second, third = nb.cells[2:]
    assert [c.execution_count for c in nb.cells] == [1, 2, 3, 4, 5]
    assert first.outputs[0].text == "x is 21\n"
    assert first.outputs[1].output_type == "execute_result" and first.outputs[1].data["text/plain"] == repr(str(folder))
    shown, table = second.outputs
    assert (shown.output_type, shown.data["text/html"]) == ("display_data", "<b>shown</b>")
    assert table.output_type == "execute_result" and "<td>42</td>" in table.data["text/html"]
    assert third.outputs == []
    # the next notebook starts from a fresh namespace, as in a fresh kernel
    other = _notebook(tmp_path / "b.ipynb", "print('y' in globals(), 'pd' in globals())")
    execute_in_process(other, folder / "b.ipynb", {}, folder)
    assert nbformat.read(str(folder / "b.ipynb"), as_version=4).cells[-1].outputs[0].text == "False False\n"


def test_a_failing_cell_saves_the_notebook_up_to_it_and_names_the_cell(tmp_path):
    source = _notebook(tmp_path / "a.ipynb", "print('before')", "1 / 0", "print('never')")
    with pytest.raises(PapermillExecutionError, match=r"(?s)In \[4\].*ZeroDivisionError: division by zero"):
        execute_in_process(source, tmp_path / "out.ipynb", {"x": 1}, tmp_path)
    cells = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells
    assert cells[2].outputs[0].text == "before\n"
    (error,) = cells[3].outputs  # the traceback once, in the error output
    assert (error.output_type, error.ename, error.evalue) == ("error", "ZeroDivisionError", "division by zero")
    assert "1 / 0" in "".join(error.traceback)
    assert cells[4].outputs == [] and cells[4].execution_count is None


def test_every_daily_notebook_runs_in_process_but_never_one_that_serves_a_live_account(workdirs, monkeypatch, caplog):
    settings = load_settings()
    assert _in_process(settings) == set(artifacts.DAILY_NOTEBOOKS) and len(artifacts.DAILY_NOTEBOOKS) == 5
    live = settings.model_copy(update={"mode": Mode.LIVE})
    with caplog.at_level(logging.WARNING):
        assert _in_process(live) == frozenset()
    assert f"{VARIABLE} is ignored for a live account" in caplog.text
    assert _in_process(settings, shared=True) == set(artifacts.DAILY_NOTEBOOKS)  # no accounts file, no live account
    live_account = {"name": "real", "mode": "live", "api_key_env": "K_REAL", "secret_key_env": "S_REAL"}
    (workdirs["params"] / "accounts.yaml").write_text(yaml.safe_dump({"accounts": [live_account]}))
    assert _in_process(settings, shared=True) == frozenset()  # the strategies step serves the live account too
    assert _in_process(settings) == set(artifacts.DAILY_NOTEBOOKS)  # a paper account's own notebooks (a twin's)
    monkeypatch.setenv(VARIABLE, "0")
    assert _in_process(settings) == frozenset()


def test_the_shell_leaves_the_processs_main_module_alone(tmp_path):
    """IPython installs its namespace as ``__main__``; the in-process shell puts the real one
    back, or a later process pool started with ``spawn`` in the same process fails."""
    execute_in_process(_notebook(tmp_path / "a.ipynb", "z = __name__"), tmp_path / "out.ipynb", {}, tmp_path)
    shell = InteractiveShell.instance()
    assert shell.user_ns["z"] == "__main__" and sys.modules["__main__"] is not shell.user_module
    assert hasattr(sys.modules["__main__"], "__spec__")


def test_a_ctrl_c_in_a_cell_stops_the_run_instead_of_failing_the_notebook(tmp_path):
    """IPython turns every exception of a cell into its output; a KeyboardInterrupt (Ctrl-C)
    is raised again as itself after the notebook is saved, as a kernel's interrupt would
    stop the run, not record a failing cell."""
    source = _notebook(tmp_path / "a.ipynb", "raise KeyboardInterrupt")
    with pytest.raises(KeyboardInterrupt):
        execute_in_process(source, tmp_path / "out.ipynb", {"x": 1}, tmp_path)
    assert (tmp_path / "out.ipynb").is_file()
