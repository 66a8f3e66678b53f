"""Submitting against the broker's clock and following each order's fate: a run during
trading hours, the market-open refusal, a stale plan, and the next session's report of
what became of every order (a paper account behind a local Alpaca server)."""

from __future__ import annotations

import datetime as dt
import json
from email import policy
from email.parser import BytesParser

import pytest

from algotrading.calendar import NY
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.jobs.daily import run_daily
from algotrading.storage.store import open_store

from .test_submit_e2e import DAYS, submit_account

pytestmark = pytest.mark.slow


@pytest.fixture
def alpaca(workdirs, monkeypatch):
    fake = submit_account(monkeypatch)
    yield fake
    fake.stop()


def test_before_todays_bar_is_final_a_paper_run_catches_up_once_then_waits(alpaca, workdirs, caplog):
    """A run started during trading hours (a cron line in the wrong zone, a person) never
    works on a stale session silently: it catches up a session that has not run, once."""
    morning = dt.datetime(2023, 1, 3, 11, 30, tzinfo=NY)  # a session, trading; 2022-12-30 is the last completed
    first = run_daily(load_settings(), now=morning)
    assert first.exit_code == 0 and first.session_date == dt.date(2022, 12, 30), first.message
    assert (
        "today's session 2023-01-03 is not final until 16:15 New York time; catching up: 2022-12-30 has no "
        "successful run yet" in caplog.text
    )
    second = run_daily(load_settings(), now=morning)
    assert (second.exit_code, second.status) == (0, "not_yet")
    assert second.message == (
        "today's session 2023-01-03 is not final until 16:15 New York time; 2022-12-30 already ran: nothing to do"
    )
    assert sorted(p.name for p in workdirs["reports"].iterdir() if p.name[:2] == "20") == ["2022-12-30"]
    asked = run_daily(load_settings(), dt.date(2022, 12, 30), now=morning)  # --date: the user's explicit choice
    assert asked.status == "already_done"


def test_nothing_is_sent_while_the_market_is_open_unless_asked(alpaca, workdirs):
    """A DAY market order sent during trading fills at once at intraday prices: the
    broker's clock, not this machine's, decides."""
    alpaca.clock_at = dt.datetime(2022, 3, 2, 11, 30, tzinfo=NY)  # the next session, trading
    refused = run_daily(load_settings(), DAYS[0], submit=True)
    assert refused.exit_code == 1 and alpaca.hits("/v2/orders", "POST") == 0
    assert (
        "the market is open now (2022-03-02 11:30 New York time, the broker's clock): DAY market orders would fill "
        "at once at intraday prices. Nothing was sent; the plan of 2022-03-01 is written. Send it after the close "
        "(2022-03-02 16:00 New York time) with `algotrading daily --submit`, or add --allow-market-open to send it now"
    ) in refused.message
    assert (workdirs["reports"] / "2022-03-01" / "plan.json").is_file()
    asked = run_daily(load_settings(), DAYS[0], submit=True, allow_open=True)
    assert asked.exit_code == 0 and alpaca.hits("/v2/orders", "POST") == 4
    assert "sent while the market was open (--allow-market-open): these DAY market orders fill at once" in (
        asked.message
    )
    run = json.loads((workdirs["reports"] / "2022-03-01" / "run.json").read_text())
    assert "sent while the market was open" in run["submission"]  # what the email shows


def test_a_stale_plan_is_never_sent(alpaca, workdirs, capsys):
    """After 2022-03-03 closed, the plan of 03-01 is two sessions old: refused, and the
    message points at today's plan, not at a command that would send the old one."""
    alpaca.clock_at = dt.datetime(2022, 3, 3, 17, 0, tzinfo=NY)
    assert main(["daily", "--date", "2022-03-01", "--submit"]) == 1
    out = capsys.readouterr()
    assert (
        "the plan is for 2022-03-01, but the latest completed session is 2022-03-03 (now 2022-03-03 17:00 New York "
        "time): a stale plan is not sent, nothing was. Run `algotrading daily --submit` (no --date) for the plan of "
        "2022-03-03"
    ) in out.out + out.err
    assert alpaca.hits("/v2/orders", "POST") == 0


def test_the_next_report_and_email_say_what_became_of_each_order(alpaca, workdirs):
    """A fill with slippage, a partial fill whose rest is canceled, a rejection at the open
    and an order still open: the next session's plan.json, email and alerts name each."""
    assert run_daily(load_settings(), DAYS[0], submit=True).exit_code == 0
    plan = json.loads((workdirs["reports"] / "2022-03-01" / "plan.json").read_text())
    buys = {o["symbol"]: o for o in plan["orders"] if o["side"] == "buy"}
    whole = buys.pop("BAC")  # whole shares at this broker
    filled, rejected, still_open = sorted(buys)
    alpaca.fill(buys[filled]["client_order_id"], price=round(buys[filled]["est_price"] * 1.002, 2))
    alpaca.fill(whole["client_order_id"], price=whole["est_price"], qty=1.0)
    alpaca.by_cid(whole["client_order_id"])["status"] = "canceled"  # the rest canceled at the end of the day
    alpaca.by_cid(buys[rejected]["client_order_id"])["status"] = "rejected"
    alpaca.clock_at = dt.datetime(2022, 3, 2, 17, 0, tzinfo=NY)
    assert run_daily(load_settings(), DAYS[1]).exit_code == 0
    out = workdirs["reports"] / "2022-03-02"
    fates = {o["symbol"]: o for o in json.loads((out / "plan.json").read_text())["previous_orders"]}
    assert {s: o["fate"] for s, o in fates.items()} == {
        filled: "filled",
        "BAC": "partially_filled",
        rejected: "rejected",
        still_open: "open",
    }
    assert 15 <= fates[filled]["slippage_bps"] <= 25  # 0.2% above the close the plan assumed, cents rounded
    assert fates["BAC"]["detail"].startswith(f"bought 1 of {whole['qty']:g} BAC at ")
    assert "the rest canceled" in fates["BAC"]["detail"]
    assert fates[still_open]["detail"] == "still open at the broker (accepted)"
    raw = (workdirs["reports"] / "outbox" / "daily-2022-03-02.eml").read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    text = msg.get_body(("plain",)).get_content()
    assert "YESTERDAY'S ORDERS (2022-03-01 plan)" in text
    assert f"BUY {rejected}" in text and "rejected: rejected by the broker" in text
    page = msg.get_body(("html",)).get_content()
    assert "Yesterday's Orders</h2>" in page
    assert page.count(f"(slippage {fates[filled]['slippage_bps']:+.1f} bp against ") == 1  # said once, by the detail
    assert "basis points)" not in page
    alerts = json.loads((out / "alerts.json").read_text())["open"]
    assert [a["message"] for a in alerts if a["kind"] == "order_fate"] == [
        f"BUY {rejected} of the 2022-03-01 plan: rejected by the broker: no reason on the order (Alpaca gives none "
        "after acceptance)"
    ]
    # an order still open at one run is followed again by the next, until the broker says it is final
    with open_store(workdirs["state"]) as store:
        assert {str(i["status"]) for i in store.intents(DAYS[0]) if i["symbol"] == still_open} == {"accepted"}
    alpaca.fill(buys[still_open]["client_order_id"], price=buys[still_open]["est_price"])
    alpaca.clock_at = dt.datetime(2022, 3, 3, 17, 0, tzinfo=NY)
    assert run_daily(load_settings(), DAYS[2]).exit_code == 0
    notes = json.loads((workdirs["reports"] / "2022-03-03" / "portfolio.json").read_text())["reconciliation"]
    assert any(n.startswith("bought ") and f" {still_open} at " in n for n in notes), notes
    with open_store(workdirs["state"]) as store:
        records = store.position_records()
    assert records[still_open].entry_session == "2022-03-01"
