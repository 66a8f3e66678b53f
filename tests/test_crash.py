"""A run killed anywhere loses nothing and sends nothing twice.

The real command runs in a subprocess and dies by SIGKILL at a named point
(``ALGOTRADING_FAULT_AT``, ``src/algotrading/faults.py``): no cleanup code runs, exactly
as under ``kill -9``. The next run (the same command, as cron would start it) must find
``reports/<D>/`` complete, the killed run marked interrupted, ``.staging`` clean, the
email delivered exactly once and every order at the broker once. This file: killed in a
notebook and between the promotion's renames; test_crash_delivery.py: while delivering.
"""

from __future__ import annotations

import json

import pytest

from .conftest import IN_PROCESS, REAL_KERNELS
from .killing import A, daily, killed, ledger_statuses, staging_left
from .test_email import configure

pytestmark = pytest.mark.slow


def test_a_run_killed_in_its_notebooks_or_its_promotion_loses_nothing(workdirs, monkeypatch, smtp):
    configure(workdirs, monkeypatch, smtp)
    for name, value in REAL_KERNELS.items():  # killed while a notebook's kernel works (the runner waits)
        monkeypatch.setenv(name, value)
    subjects = lambda: [m.message["Subject"] for m in smtp.messages]  # noqa: E731

    # 1. killed during the notebooks: nothing promoted; the next run marks it and runs again
    first = daily(A, fault="notebook:30_safety")
    assert killed(first), first.stderr[-2000:]
    assert ledger_statuses(workdirs) == [(A.isoformat(), "running")] and len(staging_left(workdirs)) == 1
    assert not (workdirs["reports"] / A.isoformat()).exists()
    for name, value in IN_PROCESS.items():  # the rest: the notebooks in the runner (conftest)
        monkeypatch.setenv(name, value)
    again = daily(A)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "recovery: marked interrupted" in again.stderr and "recovery: removed" in again.stderr
    assert ledger_statuses(workdirs) == [(A.isoformat(), "interrupted"), (A.isoformat(), "ok")]
    assert staging_left(workdirs) == [] and (workdirs["reports"] / A.isoformat() / "plan.json").is_file()
    assert subjects() == [f"AlgoTrading Daily Signals - {A}"]

    # 2. killed between the two renames of the promotion: reports/<D> is gone until the next
    # start puts the new, complete folder in place
    forced = daily(A, "--force", fault="promote:between_renames")
    assert killed(forced)
    assert not (workdirs["reports"] / A.isoformat()).exists()  # the window the kill hit
    killed_run = ledger_statuses(workdirs)[-1]
    assert killed_run == (A.isoformat(), "running")
    after = daily(A)
    assert after.returncode == 0 and "already ran successfully" in after.stderr, after.stderr[-2000:]
    assert f"recovery: restored {A} (the new run's outputs, complete)" in after.stderr
    run = json.loads((workdirs["reports"] / A.isoformat() / "run.json").read_text())
    assert run["status"] == "ok" and (workdirs["reports"] / A.isoformat() / "report.html").is_file()
    assert staging_left(workdirs) == [] and [s for _, s in ledger_statuses(workdirs)].count("running") == 0
