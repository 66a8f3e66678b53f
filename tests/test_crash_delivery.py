"""A run killed while it delivers loses nothing and sends nothing twice: killed after the
ledger marked it done, after the SMTP server accepted its email, or in the middle of a
submission (the killing itself: tests/killing.py; the notebooks and the promotion:
test_crash.py)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from algotrading.broker.simulated import FILE_NAME as LEDGER
from algotrading.broker.simulated import SimulatedBroker
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData

from .conftest import ROOT
from .forked import run_command
from .killing import B, C, D, daily, killed, ledger_statuses
from .test_email import configure

pytestmark = pytest.mark.slow


def test_a_run_killed_while_it_emails_or_submits_delivers_once(workdirs, monkeypatch, smtp):
    configure(workdirs, monkeypatch, smtp)
    subjects = lambda: [m.message["Subject"] for m in smtp.messages]  # noqa: E731

    # 3. killed right after the ledger marked the run done, before the email: the email was
    # already in the outbox, and the "already ran" run delivers it, once
    done = daily(B, fault="run:marked_done")
    assert killed(done)
    assert ledger_statuses(workdirs)[-1] == (B.isoformat(), "ok") and smtp.messages == []
    assert (workdirs["reports"] / "outbox" / f"daily-{B}.eml").is_file()
    later = daily(B)
    assert later.returncode == 0 and "already ran successfully" in later.stderr, later.stderr[-2000:]
    assert subjects() == [f"AlgoTrading Daily Signals - {B}"]
    assert not (workdirs["reports"] / "outbox" / f"daily-{B}.eml").exists()
    assert daily(B).returncode == 0 and len(smtp.messages) == 1  # and never again

    # 4. killed after the SMTP server accepted the email, before the outbox knew: sent again
    # it would arrive twice, so it is held in the outbox (delivered once) and the user is told
    mid = daily(D, fault="email:accepted")
    assert killed(mid) and subjects()[-1] == f"AlgoTrading Daily Signals - {D}" and len(smtp.messages) == 2
    held = daily(D)
    assert held.returncode == 0 and "held: a run was killed while sending it" in held.stderr, held.stderr[-2000:]
    assert len(smtp.messages) == 2 and (workdirs["reports"] / "outbox" / f"daily-{D}.eml").is_file()
    listing = run_command(["outbox"], os.environ, ROOT, timeout=120)
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
    assert len(smtp.messages) == 3 and subjects().count(f"AlgoTrading Daily Signals - {D}") == 1
    assert [s for _, s in ledger_statuses(workdirs)].count("running") == 0
