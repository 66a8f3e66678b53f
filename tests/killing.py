"""Running the real daily command as its own process and killing it at a named point
(``ALGOTRADING_FAULT_AT``, ``src/algotrading/faults.py``), for the crash tests
(test_crash.py, test_crash_delivery.py), and reading what the kill left behind."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess

from algotrading.faults import POINTS, VARIABLE
from algotrading.storage.store import open_store

from .conftest import ROOT
from .forked import run_command

A, B, D, C = dt.date(2023, 12, 27), dt.date(2023, 12, 28), dt.date(2023, 12, 29), dt.date(2024, 1, 2)  # C: 4 buys


def daily(day: dt.date, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    """``algotrading daily --date DAY ARGS`` as its own process (forked from a warm server:
    tests/forked.py), killed at ``fault``."""
    env = os.environ | {"NUMBA_CACHE_DIR": str(ROOT / "state" / "numba-cache")}
    if fault is not None:
        assert fault in POINTS or fault.startswith("notebook:")
        env[VARIABLE] = fault
    return run_command(["daily", "--date", day.isoformat(), *args], env, ROOT, timeout=900)


def killed(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == -signal.SIGKILL


def ledger_statuses(workdirs) -> list[tuple[str, str]]:
    with open_store(workdirs["state"]) as store:
        runs = store.runs()
    return list(zip(runs["session_date"], runs["status"], strict=True))


def staging_left(workdirs) -> list[str]:
    folder = workdirs["reports"] / ".staging"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
