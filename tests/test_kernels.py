"""Kernels started ahead (report/kernels.py): real ipykernel processes, real papermill.

A pooled kernel must behave as a fresh one for its notebook (counts from 1, runs in the
run folder), have its notebook's modules imported already, stop without the SIGINT that
ipykernel logs as "KeyboardInterrupt caught in kernel", and never outlive the pool, also
when a notebook fails or was never run."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import psutil
import pytest
from papermill.exceptions import PapermillExecutionError

from algotrading.report.kernels import KernelPool, notebook_imports, warm_up_code
from algotrading.report.render import ensure_kernel, execute_notebook

from .conftest import ROOT

pytestmark = pytest.mark.slow


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = None")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "algotrading", "display_name": "AlgoTrading", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def _outputs(path: Path) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs).strip() for c in nb.cells if c.cell_type == "code"]


def _pids(pool: KernelPool) -> list[int]:
    return [kernel.manager.provisioner.pid for kernel in pool._kernels.values()]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_imports_ahead_are_the_notebooks_own_import_lines():
    assert notebook_imports(ROOT / "notebooks" / "90_daily_report.ipynb") == [
        "from algotrading.daily import steps",
        "from algotrading.report import decision_views as dv",
        "from algotrading.report import notebook as rn",
        "from algotrading.report import strategy_views as sv",
        "from algotrading.report import twin_views as tv",
    ]
    code = warm_up_code(ROOT / "notebooks" / "20_ranking.ipynb", ["import no_such_module_x"])
    namespace: dict[str, object] = {}
    exec(compile(code, "warm-up", "exec"), namespace)  # a module that is not there stops nothing
    assert "steps" in namespace and "no_such_module_x" not in namespace


def test_a_pooled_kernel_is_fresh_warm_and_stops_quietly(tmp_path, capfd):
    (tmp_path / "marker_mod.py").write_text("VALUE = 41\n")
    source = _notebook(
        tmp_path / "nb.ipynb",
        "import sys, os\nprint('marker_mod' in sys.modules, os.getcwd())",
        "import marker_mod\nprint(marker_mod.VALUE + 1)",
    )
    other = _notebook(tmp_path / "other.ipynb", "print('never run')")
    kernel = ensure_kernel()
    with KernelPool(kernel, tmp_path, {"nb.ipynb": source, "other.ipynb": other}) as pool:
        pids = _pids(pool)
        assert len(pids) == 2
        execute_notebook(source, tmp_path / "out.ipynb", {"x": 1}, tmp_path, 60, kernel, 60, pool.take("nb.ipynb"))
        pool.release("nb.ipynb")
    # imported ahead (before its own cell imported it), in the run folder, counts from 1
    assert _outputs(tmp_path / "out.ipynb")[-2:] == [f"True {tmp_path}", "42"]
    counts = [c.execution_count for c in nbformat.read(str(tmp_path / "out.ipynb"), 4).cells if c.cell_type == "code"]
    assert counts == [1, 2, 3, 4]  # the parameters cell, the injected parameters, the two cells
    assert all(_gone(pid) for pid in pids)  # the one never taken too
    assert "KeyboardInterrupt" not in capfd.readouterr().err


def test_a_failing_notebook_is_saved_up_to_its_error_and_no_kernel_outlives_the_pool(tmp_path):
    source = _notebook(tmp_path / "bad.ipynb", "print('before')", "raise ValueError('broken cell')", "print('after')")
    later = _notebook(tmp_path / "later.ipynb", "print('never run')")
    kernel = ensure_kernel()
    with pytest.raises(PapermillExecutionError, match="broken cell"):
        with KernelPool(kernel, tmp_path, {"bad.ipynb": source, "later.ipynb": later}) as pool:
            pids = _pids(pool)
            execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, 60, kernel, 60, pool.take("bad.ipynb"))
    outputs = _outputs(tmp_path / "out.ipynb")
    assert "before" in outputs and "after" not in outputs  # saved once, at the end, with the error
    doc = json.loads((tmp_path / "out.ipynb").read_text())
    assert any(o.get("ename") == "ValueError" for c in doc["cells"] for o in c.get("outputs", []))
    assert all(_gone(pid) for pid in pids)


def test_without_a_pool_a_notebook_gets_a_kernel_of_its_own_that_stops(tmp_path, capfd):
    source = _notebook(tmp_path / "solo.ipynb", "import os\nprint(os.getpid())")
    execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, 60, ensure_kernel(), 60)
    pid = int(_outputs(tmp_path / "out.ipynb")[-1])
    assert _gone(pid)
    assert "KeyboardInterrupt" not in capfd.readouterr().err
