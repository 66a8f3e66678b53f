"""A run killed anywhere loses nothing and sends nothing twice.

The real command runs in a subprocess and dies by SIGKILL at a named point
(``ALGOTRADING_FAULT_AT``, ``src/algotrading/faults.py``): no cleanup code runs, exactly
as under ``kill -9``. The next run (the same command, as cron would start it) must find
``reports/<D>/`` complete, the killed run marked interrupted, ``.staging`` clean, the
email delivered exactly once and every order at the broker once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess

import pytest

from algotrading.broker.simulated import FILE_NAME as LEDGER
from algotrading.broker.simulated import SimulatedBroker
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.faults import POINTS, VARIABLE
from algotrading.storage.store import open_store

from .conftest import ROOT
from .smtp_server import SmtpServer
from .test_email import configure

pytestmark = pytest.mark.slow
A, B, D, C = dt.date(2023, 12, 27), dt.date(2023, 12, 28), dt.date(2023, 12, 29), dt.date(2024, 1, 2)  # C: 4 buys


def daily(day: dt.date, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    """``algotrading daily --date DAY ARGS`` as its own process, killed at ``fault``."""
    env = os.environ | {"NUMBA_CACHE_DIR": str(ROOT / "state" / "numba-cache")}
    if fault is not None:
        assert fault in POINTS or fault.startswith("notebook:")
        env[VARIABLE] = fault
    command = [str(ROOT / ".venv" / "bin" / "algotrading"), "daily", "--date", day.isoformat(), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def killed(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == -signal.SIGKILL


def ledger_statuses(workdirs) -> list[tuple[str, str]]:
    with open_store(workdirs["state"]) as store:
        runs = store.runs()
    return list(zip(runs["session_date"], runs["status"], strict=True))


def staging_left(workdirs) -> list[str]:
    folder = workdirs["reports"] / ".staging"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path).start()
    yield server
    server.stop()


def test_a_run_killed_at_each_named_point_loses_nothing_and_sends_nothing_twice(workdirs, monkeypatch, smtp):
    configure(workdirs, monkeypatch, smtp)
    subjects = lambda: [m.message["Subject"] for m in smtp.messages]  # noqa: E731

    # 1. killed during the notebooks: nothing promoted; the next run marks it and runs again
    first = daily(A, fault="notebook:30_safety")
    assert killed(first), first.stderr[-2000:]
    assert ledger_statuses(workdirs) == [(A.isoformat(), "running")] and len(staging_left(workdirs)) == 1
    assert not (workdirs["reports"] / A.isoformat()).exists()
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

    # 3. killed right after the ledger marked the run done, before the email: the email was
    # already in the outbox, and the "already ran" run delivers it, once
    done = daily(B, fault="run:marked_done")
    assert killed(done)
    assert ledger_statuses(workdirs)[-1] == (B.isoformat(), "ok") and len(smtp.messages) == 1
    assert (workdirs["reports"] / "outbox" / f"daily-{B}.eml").is_file()
    later = daily(B)
    assert later.returncode == 0 and "already ran successfully" in later.stderr, later.stderr[-2000:]
    assert subjects() == [f"AlgoTrading Daily Signals - {A}", f"AlgoTrading Daily Signals - {B}"]
    assert not (workdirs["reports"] / "outbox" / f"daily-{B}.eml").exists()
    assert daily(B).returncode == 0 and len(smtp.messages) == 2  # and never again

    # 4. killed after the SMTP server accepted the email, before the outbox knew: sent again
    # it would arrive twice, so it is held in the outbox (delivered once) and the user is told
    mid = daily(D, fault="email:accepted")
    assert killed(mid) and subjects()[-1] == f"AlgoTrading Daily Signals - {D}" and len(smtp.messages) == 3
    held = daily(D)
    assert held.returncode == 0 and "held: a run was killed while sending it" in held.stderr, held.stderr[-2000:]
    assert len(smtp.messages) == 3 and (workdirs["reports"] / "outbox" / f"daily-{D}.eml").is_file()
    listing = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "algotrading"), "outbox"], capture_output=True, text=True, timeout=120
    )
    assert (
        f"daily-{D}" in listing.stdout and f"`algotrading outbox send daily-{D}` if it is not there" in listing.stdout
    )

    # 5. killed in the middle of a submission, after the broker took the first order and
    # before the state recorded it: sending again finds it at the broker, sends the rest once
    cut = daily(C, "--submit", fault="submit:after_first_order")
    assert killed(cut)
    plan = json.loads((workdirs["reports"] / C.isoformat() / "plan.json").read_text())
    planned = {o["client_order_id"] for o in plan["orders"]}
    assert len(planned) == 4
    bars = BundledBarsProvider().get_bars(load_settings().universe.all_symbols, dt.date(2023, 6, 1), C)
    broker = SimulatedBroker(workdirs["state"] / LEDGER, MarketData.from_bars(bars), C)
    assert len(broker.orders()) == 1  # the one the kill left unrecorded
    resent = daily(C, "--submit")
    assert resent.returncode == 0, resent.stderr[-2000:]
    orders = SimulatedBroker(workdirs["state"] / LEDGER, MarketData.from_bars(bars), C).orders()
    assert orders["client_order_id"].is_unique and set(orders["client_order_id"]) == planned
    submission = json.loads((workdirs["reports"] / C.isoformat() / "submission.json").read_text())
    results = sorted(o["result"] for o in submission["outcomes"])
    assert results == ["already_sent", "submitted", "submitted", "submitted"]
    assert subjects()[-1] == f"AlgoTrading Daily Signals - {C}"  # queued before the kill, delivered once
    assert len(smtp.messages) == 4 and subjects().count(f"AlgoTrading Daily Signals - {D}") == 1
    assert [s for _, s in ledger_statuses(workdirs)].count("running") == 0
