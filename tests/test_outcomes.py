"""The fate of every planned order (execution/outcomes), on a real SQLite store."""

from __future__ import annotations

import datetime as dt

import pytest

from algotrading.execution.outcomes import expire_unsent, order_fates
from algotrading.monitor.alerts import order_alerts
from algotrading.storage.store import open_store

PLAN = dt.date(2026, 1, 5)
NEXT = dt.date(2026, 1, 6)


def intent(
    cid: str,
    symbol: str,
    side: str = "buy",
    notional: float | None = 225.0,
    qty: float | None = None,
    after_sells_fill: bool = False,
    est_price: float | None = None,
) -> dict[str, object]:
    return {
        "client_order_id": cid,
        "session_date": PLAN.isoformat(),
        "symbol": symbol,
        "side": side,
        "notional": notional,
        "qty": qty,
        "kind": "entry" if side == "buy" else "exit",
        "strategy": "golden_cross",
        "after_sells_fill": after_sells_fill,
        "est_price": est_price,
    }


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path) as s:
        s.add_intents(
            [
                intent("c-fill", "MCD", est_price=297.00),
                intent("c-part", "HON", notional=None, qty=3.0, est_price=95.00),
                intent("c-rej", "AAPL"),
                intent("c-rej-submit", "NVDA"),
                intent("c-cancel", "KO"),
                intent("c-exp", "PEP"),
                intent("c-skip", "JNJ"),
                intent("c-wait", "XOM", after_sells_fill=True),
                intent("c-open", "CVX"),
                intent("c-sell", "BAC", side="sell", notional=None, qty=5.0, est_price=40.00),
            ]
        )
        s.update_intent("c-fill", status="filled", filled_qty=0.756154, filled_avg_price=297.50)
        s.update_intent("c-part", status="canceled", filled_qty=2.0, filled_avg_price=95.10)
        s.update_intent("c-rej", status="rejected")
        s.update_intent("c-rej-submit", status="rejected", detail="HTTP 403: insufficient buying power")
        s.update_intent("c-cancel", status="canceled", detail="canceled at the broker")
        s.update_intent("c-exp", status="expired")
        s.update_intent("c-skip", status="skipped", detail="the submission stopped: HTTP 429 after 3 tries")
        s.update_intent("c-open", status="new")
        s.update_intent("c-sell", status="filled", filled_qty=5.0, filled_avg_price=39.80)
        yield s


def by_cid(fates):
    return {f.client_order_id: f for f in fates}


def test_each_order_says_what_became_of_it(store):
    fates = by_cid(order_fates(store, NEXT))
    assert {cid: f.fate for cid, f in fates.items()} == {
        "c-fill": "filled",
        "c-part": "partially_filled",
        "c-rej": "rejected",
        "c-rej-submit": "rejected",
        "c-cancel": "canceled",
        "c-exp": "expired",
        "c-skip": "never_sent",
        "c-wait": "waiting",
        "c-open": "open",
        "c-sell": "filled",
    }
    # (297.50 - 297.00) / 297.00 = +16.8 bp paid above the assumed price
    assert fates["c-fill"].detail == "bought 0.756154 MCD at 297.50 (slippage +16.8 bp against 297.00 assumed)"
    assert fates["c-fill"].slippage_bps == 16.8 and fates["c-fill"].planned == "$225.00"
    # a sale below the assumed price is a cost too: (39.80 - 40.00) / 40.00 = -50 bp -> +50.0 bp
    assert fates["c-sell"].slippage_bps == 50.0
    assert fates["c-part"].detail == (
        "bought 2 of 3 HON at 95.10; the rest canceled (slippage +10.5 bp against 95.00 assumed)"
    )
    assert fates["c-part"].planned == "3 shares"
    assert fates["c-rej-submit"].detail == "rejected by the broker: HTTP 403: insufficient buying power"
    assert fates["c-rej"].detail.startswith("rejected by the broker: no reason on the order")
    assert fates["c-skip"].detail == "never sent: the submission stopped: HTTP 429 after 3 tries"
    assert fates["c-exp"].detail == "expired unfilled at the end of the day"
    assert fates["c-open"].detail == "still open at the broker (new)"
    assert "--submit --pending" in fates["c-wait"].detail
    assert [f.side for f in order_fates(store, NEXT)][0] == "sell"  # sells first, as planned


def test_nothing_sent_stays_planned_after_the_next_session(store):
    assert expire_unsent(store, PLAN) == []  # the plan's own session: still in time
    notes = expire_unsent(store, NEXT)
    assert sorted(notes) == [
        "buy JNJ of the 2026-01-05 plan expired unsent: the submission stopped: HTTP 429 after 3 tries",
        "buy XOM of the 2026-01-05 plan expired unsent: it waited for the sells to fill and "
        "`algotrading daily --submit --pending` did not send it",
    ]
    fates = by_cid(order_fates(store, NEXT))
    assert fates["c-wait"].fate == fates["c-skip"].fate == "expired"
    assert fates["c-wait"].detail.startswith("never sent, expired after the session following its 2026-01-05 plan")
    assert expire_unsent(store, NEXT) == []  # once


def test_only_fates_that_need_a_person_raise_alerts(store):
    alerts = order_alerts([f.to_json() for f in order_fates(store, NEXT)])
    assert sorted(a.key for a in alerts) == [
        "order_fate:c-exp",
        "order_fate:c-rej",
        "order_fate:c-rej-submit",
        "order_fate:c-skip",
    ]
    message = next(a.message for a in alerts if a.key == "order_fate:c-rej-submit")
    assert message == "BUY NVDA of the 2026-01-05 plan: rejected by the broker: HTTP 403: insufficient buying power"
    assert {a.severity for a in alerts} == {"warning"}


def test_no_earlier_plan_no_fates(tmp_path):
    with open_store(tmp_path) as s:
        assert order_fates(s, NEXT) == []


def test_a_plans_fates_are_reported_by_the_first_successful_run_after_it_only(store):
    """Plan of Jan 5 (orders), Jan 6 (no orders): Jan 6's run reports Jan 5's orders; Jan
    7's run does not repeat them. Had Jan 6's run failed, Jan 7's reports them instead."""
    assert len(order_fates(store, NEXT)) == 10
    store.start_run("r-jan6", NEXT, "paper")
    day_after = dt.date(2026, 1, 7)
    assert len(order_fates(store, day_after)) == 10  # Jan 6's run has not succeeded (yet)
    store.finish_run("r-jan6", "failed", failed_step="report")
    assert len(order_fates(store, day_after)) == 10
    store.start_run("r-jan6b", NEXT, "paper")
    store.finish_run("r-jan6b", "ok")
    assert order_fates(store, day_after) == []  # already in Jan 6's report and email
    assert len(order_fates(store, NEXT)) == 10  # a rerun of Jan 6 reports them again


def test_a_replan_counts_what_is_left_of_each_order_still_at_the_broker(tmp_path):
    """orders_at_broker: sent and not final (an unknown send may be there too), with the
    part a partial fill left; filled, final and never-sent orders are not at the broker."""
    from algotrading.execution.reconcile import orders_at_broker

    with open_store(tmp_path) as s:
        s.add_intents(
            [
                intent("o-part", "MCD", notional=225.0, est_price=300.00),
                intent("o-sell", "BAC", side="sell", notional=None, qty=5.0, est_price=40.00),
                intent("o-unknown", "KO", notional=150.0, est_price=60.00),
                intent("o-new", "CVX", notional=None, qty=2.0, est_price=110.00),
                intent("o-fill", "PEP"),
                intent("o-rej", "AAPL"),
                intent("o-plan", "XOM", after_sells_fill=True),
            ]
        )
        s.add_intents([intent("o-other", "JNJ") | {"session_date": NEXT.isoformat(), "client_order_id": "o-other"}])
        s.update_intent("o-part", status="partially_filled", filled_qty=0.25, filled_avg_price=301.00)
        s.update_intent("o-sell", status="accepted")
        s.update_intent("o-unknown", status="unknown", detail="connection reset")
        s.update_intent("o-new", status="new", filled_qty=0.0)
        s.update_intent("o-fill", status="filled", filled_qty=0.75, filled_avg_price=300.0)
        s.update_intent("o-rej", status="rejected")
        s.update_intent("o-other", status="accepted")
        sent = {o.client_order_id: o for o in orders_at_broker(s, PLAN)}
    assert set(sent) == {"o-part", "o-sell", "o-unknown", "o-new"}
    assert sent["o-part"].value == 149.75 and sent["o-part"].qty is None  # $225 - 0.25 x $301.00
    assert (sent["o-sell"].side, sent["o-sell"].qty, sent["o-sell"].value) == ("sell", 5.0, 200.0)
    assert sent["o-unknown"].value == 150.0 and sent["o-unknown"].status == "unknown"
    assert (sent["o-new"].qty, sent["o-new"].value) == (2.0, 220.0)
    assert sent["o-sell"].words() == "SELL BAC 5 shares (accepted)"
    assert sent["o-part"].words() == "BUY MCD $149.75 (partially_filled)"
