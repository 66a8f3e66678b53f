"""Submitting plans end to end: consecutive demo sessions on the simulated account, a
paper account behind a local Alpaca server, and the live-mode refusal (the broker's
clock and the next report of each order's fate: test_submit_clock.py)."""

from __future__ import annotations

import datetime as dt
import json
from email import policy
from email.parser import BytesParser

import pytest

from algotrading.broker.simulated import FILE_NAME as LEDGER
from algotrading.broker.simulated import SimulatedBroker
from algotrading.calendar import NY
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.jobs.daily import run_daily
from algotrading.storage.store import open_store

from .alpaca_server import FakeAlpaca

pytestmark = pytest.mark.slow
DAYS = [dt.date(2022, 3, 1), dt.date(2022, 3, 2), dt.date(2022, 3, 3)]


def ledger(workdirs, day: dt.date) -> SimulatedBroker:
    bars = BundledBarsProvider().get_bars(load_settings().universe.all_symbols, dt.date(2022, 1, 3), day)
    return SimulatedBroker(workdirs["state"] / LEDGER, MarketData.from_bars(bars), day)


def test_consecutive_demo_sessions_build_a_ledger_and_never_duplicate(workdirs):
    schedule = workdirs["params"] / "schedule.yaml"  # retention: the newest 2 session folders stay whole
    schedule.write_text(schedule.read_text().replace("keep_full_sessions: 30", "keep_full_sessions: 2"))
    for day in DAYS:
        result = run_daily(load_settings(), day, submit=True)
        assert result.exit_code == 0, result.message
    oldest = workdirs["reports"] / "2022-03-01"  # compacted by the third run: the record stays, the bulk goes
    assert {p.name for p in oldest.iterdir()} == {
        "plan.json",
        "run.json",
        "submission.json",
        "alerts.json",
        "previous_orders.json",
        "report.html.gz",
    }
    assert (workdirs["reports"] / "2022-03-02" / "bars.parquet").is_file()
    first = json.loads((workdirs["reports"] / "2022-03-01" / "plan.json").read_text())
    sent = {o["client_order_id"] for o in first["orders"]}
    assert len(sent) == 4
    b = ledger(workdirs, DAYS[-1])
    orders = b.orders()
    assert orders["client_order_id"].is_unique
    fills = b.fills()
    assert sent <= set(fills["client_order_id"])  # day 1's buys filled at day 2's open
    # the portfolio each run planned with is the ledger's account at that close
    for day in DAYS[1:]:
        portfolio = json.loads((workdirs["reports"] / day.isoformat() / "portfolio.json").read_text())
        assert portfolio["source"] == "simulated" and portfolio["account"].startswith("SIM")
        at_close = ledger(workdirs, day).account()
        assert portfolio["equity"] == pytest.approx(at_close.equity, abs=0.01)
        assert portfolio["cash"] == pytest.approx(at_close.cash, abs=0.01)
    assert "bought" in " ".join(
        json.loads((workdirs["reports"] / "2022-03-02" / "portfolio.json").read_text())["reconciliation"]
    )

    before = len(orders)
    again = run_daily(load_settings(), DAYS[-1], submit=True)  # the same session once more
    assert again.exit_code == 0
    assert len(ledger(workdirs, DAYS[-1]).orders()) == before
    submission = json.loads((workdirs["reports"] / "2022-03-03" / "submission.json").read_text())
    assert all(o["result"] == "already_sent" for o in submission["outcomes"])
    with open_store(workdirs["state"]) as store:
        assert store.equity_history()["session_date"].dt.date.tolist() == DAYS


@pytest.fixture
def alpaca(workdirs, monkeypatch):
    fake = submit_account(monkeypatch)
    yield fake
    fake.stop()


def submit_account(monkeypatch: pytest.MonkeyPatch) -> FakeAlpaca:
    """A started local Alpaca paper account for the submission tests (this file and
    test_submit_clock.py): the universe's bundled bars of 2019-2022, every symbol tradable
    and fractionable but BAC (whole shares), the clock after the close of ``DAYS[0]``, and
    its keys and address in the environment."""
    symbols = load_settings().universe.all_symbols
    fake = FakeAlpaca(bars=BundledBarsProvider().get_bars(symbols, dt.date(2019, 1, 2), dt.date(2022, 12, 30))).start()
    fake.assets = {s.replace("-", "."): {"tradable": True, "fractionable": s != "BAC"} for s in symbols}
    fake.clock_at = dt.datetime(2022, 3, 1, 17, 0, tzinfo=NY)  # after the close of DAYS[0]
    for key, value in fake.environment().items():
        monkeypatch.setenv(key, value)
    return fake


def test_a_paper_account_gets_each_order_once(alpaca, workdirs):
    settings = load_settings()
    assert settings.mode.value == "paper"
    result = run_daily(settings, DAYS[0], submit=True)
    assert result.exit_code == 0, result.message
    plan = json.loads((workdirs["reports"] / "2022-03-01" / "plan.json").read_text())
    assert plan["broker"] == {"name": "alpaca", "account": "****CCT1"}
    buys = [o for o in plan["orders"] if o["side"] == "buy"]
    assert len(buys) == 4 and alpaca.hits("/v2/orders", "POST") == 4
    whole = next(o for o in buys if o["symbol"] == "BAC")  # not fractionable at this broker: whole shares
    assert whole["notional"] is None and whole["qty"] == int(whole["qty"]) >= 1
    posted = {r.body["client_order_id"]: r.body for r in alpaca.requests if r.method == "POST"}
    assert (
        posted[whole["client_order_id"]]["qty"] == whole["qty"] and "notional" not in posted[whole["client_order_id"]]
    )
    data = json.loads((workdirs["reports"] / "2022-03-01" / "run.json").read_text())["data"]
    assert data["provider"] == "alpaca-sip (60), yahoo (1)"  # ^VIX: Alpaca has no index data
    assert set(data["sources"].values()) == {"alpaca-sip", "yahoo"} and data["sources"]["^VIX"] == "yahoo"
    assert data["source_notes"] == {"^VIX": "alpaca-sip: an index: Alpaca's stock data does not offer it"}
    report = (workdirs["reports"] / "2022-03-01" / "report.html").read_text()
    assert "<b>Sources</b>: alpaca-sip: 60 symbols, yahoo: 1 symbol" in report
    assert "<li><b>^VIX</b> from yahoo: alpaca-sip: an index: Alpaca's stock data does not offer it</li>" in report
    again = run_daily(load_settings(), DAYS[0], submit=True)
    assert again.exit_code == 0 and "4 already_sent" in again.message and "already ran successfully" in again.message
    first_run = json.loads((workdirs["reports"] / "2022-03-01" / "run.json").read_text())["run_id"]
    sent_plan = (workdirs["reports"] / "2022-03-01" / "plan.json").read_bytes()
    replanned = run_daily(load_settings(), DAYS[0], submit=True, force=True)  # re-planned with those orders open
    assert replanned.exit_code == 1 and "were already sent from an earlier plan" in replanned.message
    # the record of what is at the broker survives the re-plan, beside the new plan
    kept = workdirs["reports"] / "2022-03-01" / "replaced" / first_run
    assert (kept / "plan.json").read_bytes() == sent_plan
    kept_submission = json.loads((kept / "submission.json").read_text())
    assert sorted(o["result"] for o in kept_submission["outcomes"]) == ["already_sent"] * 4
    run = json.loads((workdirs["reports"] / "2022-03-01" / "run.json").read_text())
    assert run["submission"].startswith("NOT submitted:")  # and the email says so
    assert alpaca.hits("/v2/orders", "POST") == 4  # nothing sent twice
    # the re-plan counts the four buys at the broker: $900.00 of the $1,000.00 and all 4 slots
    new = json.loads((workdirs["reports"] / "2022-03-01" / "plan.json").read_text())
    at_broker = {o["symbol"]: o for o in new["at_broker"]}
    assert set(at_broker) == {o["symbol"] for o in buys} and {o["status"] for o in at_broker.values()} == {"accepted"}
    assert sum(o["value"] for o in at_broker.values()) == pytest.approx(900.00, abs=0.005)
    assert at_broker["BAC"]["qty"] == whole["qty"] and at_broker["BAC"]["value"] == whole["est_value"]
    assert new["orders"] == [] and new["portfolio"]["cash"] == 1000.0  # the account itself is shown as it is
    assert new["cash_analysis"]["cash"] == pytest.approx(100.0) and new["cash_analysis"]["committed"] == 0.0
    decisions = {s["symbol"]: s for s in new["signals"] if s["action"] == "BUY"}
    assert decisions["BAC"]["reasons"][0].startswith("already held or ordered")
    fifth = next(s for s in decisions.values() if "top 4 by score" in s["reasons"])
    assert "slots: 4 positions after today's plan (MAX_POSITIONS 4)" in fifth["reasons"]
    assert new["notes"][0].startswith("Re-plan: 4 order(s) of this session are already at the broker (BUY BAC ")
    msg = BytesParser(policy=policy.default).parsebytes(
        (workdirs["reports"] / "outbox" / "daily-2022-03-01.eml").read_bytes()
    )
    assert msg["Subject"] == "AlgoTrading Daily Signals - 2022-03-01 (re-plan)"
    text = msg.get_body(("plain",)).get_content()
    assert "RE-PLAN of 2022-03-01: 4 order(s) of the first plan are already at the broker" in text
    assert f"- BUY BAC {whole['qty']:g} shares (accepted)" not in text  # a buy is shown by its dollars
    assert f"- BUY BAC ${whole['est_value']:,.2f} (accepted)" in text and "It is not submitted" in text
    html = msg.get_body(("html",)).get_content()
    assert "Re-plan of 2022-03-01: 4 order(s) of the first plan are already at the broker</b>" in html
    assert "Re-plan of 2022-03-01" in (workdirs["reports"] / "2022-03-01" / "report.html").read_text()


def test_live_submission_needs_confirmation_and_sends_nothing_without_it(alpaca, monkeypatch, capsys):
    monkeypatch.setenv("PAPER_TRADING_MODE", "false")
    monkeypatch.setenv("PRODUCTION_MODE", "true")
    assert main(["daily", "--date", "2022-03-01", "--submit"]) == 2
    assert "Add --confirm-live" in capsys.readouterr().err
    assert alpaca.requests == []  # refused before any request
