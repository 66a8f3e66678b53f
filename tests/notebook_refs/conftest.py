"""nbval compares the notebook references in this folder with a fresh execution.

Before the first cell, the pinned cases are made again with the current code (cases.py:
``algotrading daily --date 2024-01-02`` in demo mode and the short replay) in a
temporary folder; each reference's parameters cell moves its kernel into that case's
folder, so every cell is re-executed there on today's results and every output compared
with the stored one (nbval's comparing mode, the sanitizers of ``nbval_sanitize.cfg``).
The daily references run in file order, 10 to 90, in one process, and each re-executed
notebook rewrites the files the next one reads, exactly as in the daily run.

Run by ``./run_tests.sh`` (a second pytest invocation after the suite; the suite's own
``--nbval-lax`` collection ignores this folder) or ``./run_tests.sh --notebook-refs``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REAL_KERNELS
from tests.notebook_refs import cases

_made: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    if config.option.nbval_lax or not config.option.nbval:
        raise pytest.UsageError(
            "tests/notebook_refs holds references with outputs that nbval compares (--nbval, not --nbval-lax): "
            "run them with `./run_tests.sh --notebook-refs`"
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Make the cases once, before nbval starts the first reference's kernel (which
    inherits the environment that names the case folders)."""
    if "cases" not in _made:
        work = Path(tempfile.mkdtemp(prefix=cases.WORK_PREFIX))
        _made["work"] = work
        try:
            # the references' case is made on the real path: every notebook in a kernel of its own
            made = cases.build_cases(work, dict(os.environ) | REAL_KERNELS, replay_html=False)
        except Exception as exc:
            _made["cases"] = exc
        else:
            _made["cases"] = made
            os.environ.update(made.environ())
    outcome = _made["cases"]
    if isinstance(outcome, Exception):
        pytest.fail(str(outcome), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    work = _made.get("work")
    if isinstance(work, Path):
        shutil.rmtree(work, ignore_errors=True)
