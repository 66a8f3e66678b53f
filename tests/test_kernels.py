"""Kernels started ahead (report/kernels.py): real ipykernel processes, real papermill.

A pooled kernel must behave as a fresh one for its notebook (counts from 1, runs in the
run folder), have its notebook's modules imported already, stop without the SIGINT that
ipykernel logs as "KeyboardInterrupt caught in kernel", and never outlive the pool, also
when a notebook fails or was never run."""

from __future__ import annotations

import ast
import atexit
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import psutil
import pytest
from papermill.exceptions import PapermillExecutionError

from algotrading.daily.artifacts import DAILY_NOTEBOOKS
from algotrading.report import kernel_forks
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
        km = pool.take("nb.ipynb")  # both start when the first is taken (forked from the warm server)
        pids = _pids(pool)
        assert len(pids) == 2
        execute_notebook(source, tmp_path / "out.ipynb", {"x": 1}, tmp_path, 60, kernel, 60, km)
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
            km = pool.take("bad.ipynb")
            pids = _pids(pool)
            execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, 60, kernel, 60, km)
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


def test_a_pooled_kernel_is_a_fork_of_the_warm_server_and_a_fresh_kernel_for_its_notebook(tmp_path):
    """The kernel is forked from the server that imported the stack once
    (report/kernel_forks.py): vectorbt is there before any cell, its parent is the
    server (not this process), it leads a session of its own and takes its parent from
    the option, not from the server's environment. What the server imported is frozen
    (collector.importing: the kernel's collections never walk it) and its collector is on;
    vectorbt's numba function is already loaded (engine.warm_up)."""
    source = _notebook(
        tmp_path / "nb.ipynb",
        "import gc, os, sys\nprint(os.getppid(), os.getsid(0) == os.getpid(), 'vectorbt' in sys.modules, "
        "gc.isenabled(), gc.get_freeze_count() > 300_000)\n"
        "from vectorbt.base.column_grouper import get_group_lens_nb\nprint(len(get_group_lens_nb.signatures))",
        "from ipykernel.kernelapp import IPKernelApp\nprint(IPKernelApp.instance().parent_handle)",
    )
    kernel = ensure_kernel()
    with KernelPool(kernel, tmp_path, {"nb.ipynb": source}) as pool:
        km = pool.take("nb.ipynb")
        assert isinstance(km.provisioner.process, kernel_forks.ForkedProcess)
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, 60, kernel, 60, km)
    first, numba_ready = _outputs(tmp_path / "out.ipynb")[-2].splitlines()
    parent, leader, warm, collecting, frozen = first.split()
    assert numba_ready == "1"  # engine.warm_up ran in the server: no kernel pays numba's first call
    assert int(parent) != os.getpid() and psutil.Process(int(parent)).ppid() == os.getpid()
    assert (leader, warm, collecting, frozen) == ("True", "True", "True", "True")
    assert _outputs(tmp_path / "out.ipynb")[-1] == parent


def test_only_this_interpreters_ipykernel_is_forked():
    python = sys.executable
    own = [python, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "c.json"]  # ipykernel's kernelspec
    assert kernel_forks.kernel_arguments(own) == ["-f", "c.json"]
    assert kernel_forks.kernel_arguments(["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "c.json"]) is None
    assert kernel_forks.kernel_arguments([python, "-m", "other_kernel", "-f", "c.json"]) is None
    assert kernel_forks.kernel_arguments([python, "-O", "-m", "ipykernel_launcher", "-f", "c.json"]) is None
    assert kernel_forks.kernel_arguments([python, "-c", "pass"]) is None


def test_a_kernelspec_of_another_command_starts_from_scratch(tmp_path, monkeypatch):
    """A kernel that can't be forked (here: every command refused) starts as jupyter_client
    starts it, a child of this process, and runs its notebook the same."""
    monkeypatch.setattr(kernel_forks, "kernel_arguments", lambda cmd: None)
    source = _notebook(tmp_path / "nb.ipynb", "import os\nprint(os.getppid())")
    kernel = ensure_kernel()
    with KernelPool(kernel, tmp_path, {"nb.ipynb": source}) as pool:
        km = pool.take("nb.ipynb")
        assert not isinstance(km.provisioner.process, kernel_forks.ForkedProcess)
        execute_notebook(source, tmp_path / "out.ipynb", {}, tmp_path, 60, kernel, 60, km)
    assert int(_outputs(tmp_path / "out.ipynb")[-1]) == os.getpid()


_RUNNER = """
import sys
from pathlib import Path
from jupyter_core.utils import run_sync
from tests.test_kernels import _notebook
from algotrading.report.kernels import KernelPool
from algotrading.report.render import ensure_kernel

if __name__ == "__main__":
    folder = Path(sys.argv[1])
    names = {f"nb{i}.ipynb": _notebook(folder / f"nb{i}.ipynb", "print(1)") for i in range(2)}
    with KernelPool(ensure_kernel(), folder, names) as pool:
        pool.take("nb0.ipynb")
        pids = [k.manager.provisioner.pid for k in pool._kernels.values()]
        for km in (k.manager for k in pool._kernels.values()):  # both kernels answer
            client = km.client()
            client.start_channels()
            run_sync(client.wait_for_ready)(timeout=60)
            client.stop_channels()
        print(" ".join(map(str, pids)), flush=True)
        sys.stdin.read()  # until killed (its standard input stays open)
"""


def test_kernels_die_with_a_run_killed_by_kill_9(tmp_path):
    """kill -9 of the process that forked its kernels: the server sees it gone and exits,
    the kernels see their parent gone and exit; none is left running."""
    script = tmp_path / "runner.py"
    script.write_text(_RUNNER)
    runner = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        kernels = [psutil.Process(int(pid)) for pid in runner.stdout.readline().split()]  # type: ignore[union-attr]
        assert len(kernels) == 2 and all(k.is_running() for k in kernels)
        server = psutil.Process(kernels[0].ppid())
        runner.kill()
        runner.wait()
        gone, alive = psutil.wait_procs([server, *kernels], timeout=60)
        assert not alive, f"outlived the run: {alive}"
    finally:
        runner.kill()


def _imported(source: str) -> set[str]:
    """Each module (or name from a module) an import statement of ``source`` names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_server_imports_every_daily_notebooks_imports():
    """The warm server's imports (report/kernel_warmup.py) cover each daily notebook's
    own import lines, so no daily kernel imports its modules itself."""
    warm = _imported((ROOT / "src" / "algotrading" / "report" / "kernel_warmup.py").read_text())
    for name in DAILY_NOTEBOOKS:
        wanted = _imported("\n".join(notebook_imports(ROOT / "notebooks" / name)))
        assert wanted and wanted <= warm, (name, wanted - warm)


def test_the_kernels_server_ends_without_collecting_what_it_imported(monkeypatch):
    """The server exits after every run (its client gone) with the whole stack imported:
    what it imports (report/kernel_warmup.py, in PRELOAD) registers collector.own_process's
    freeze among its exit handlers. Checked on the module the server imports, not in a
    fork of the server: from Python 3.13 a fork no longer inherits the exit handlers."""
    import importlib

    from algotrading.report import kernel_warmup

    assert "algotrading.report.kernel_warmup" in kernel_forks.PRELOAD
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    importlib.reload(kernel_warmup)  # what the server runs when it imports it
    assert registered == [gc.freeze]
