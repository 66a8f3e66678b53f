"""The Alpaca broker: alpaca-py's TradingClient against a local server speaking Alpaca's
JSON. Orders are never sent twice, whatever the network does."""

from __future__ import annotations

import datetime as dt

import pytest

from algotrading.broker.alpaca import AlpacaBroker
from algotrading.broker.base import BrokerError, OrderRequest
from algotrading.config import BrokerParams
from algotrading.execution.reconcile import follow_orders, reconcile
from algotrading.execution.submit import Outcome, submit_close, submit_pending
from algotrading.storage.store import PositionRecord, open_store

from .alpaca_server import KEY, SECRET, FakeAlpaca, Fault
from .planning import base_settings

D = dt.date(2025, 12, 31)
PARAMS = BrokerParams(
    timeout_seconds=0.5, read_retry_attempts=3, retry_wait_seconds=0.01, retry_max_wait_seconds=0.02, submit_attempts=3
)


@pytest.fixture
def fake():
    server = FakeAlpaca().start()
    server.assets = {s: {"tradable": True, "fractionable": True} for s in ("AAA", "BBB", "CCC", "BRK.B")}
    yield server
    server.stop()


def broker(fake: FakeAlpaca, paper: bool = True) -> AlpacaBroker:
    return AlpacaBroker(KEY, SECRET, paper=paper, params=PARAMS, base_url=fake.url, sleep=lambda s: None)


def posts(fake: FakeAlpaca) -> int:
    return fake.hits("/v2/orders", "POST")


def buy(symbol: str, cid: str, notional: float = 100.0) -> OrderRequest:
    return OrderRequest(symbol, "buy", cid, notional=notional)


def test_reads_parse_alpacas_json(fake):
    fake.positions = {
        "AAA": {"qty": 2.5, "avg": 40.0, "price": 44.0},
        "BRK.B": {"qty": 1.0, "avg": 400.0, "price": 410.0},
    }
    fake.cash = 300.0
    b = broker(fake)
    account = b.account()
    assert (account.account_number, account.status, account.cash, account.equity) == (
        "****CCT1",
        "ACTIVE",
        300.0,
        820.0,
    )
    assert account.paper
    assert {(p.symbol, p.qty, p.avg_entry_price, p.current_price) for p in b.positions()} == {
        ("AAA", 2.5, 40.0, 44.0),
        ("BRK-B", 1.0, 400.0, 410.0),
    }
    assert b.asset("BRK-B").fractionable and not b.asset("ZZZ").tradable  # 404 -> not tradable


def test_assets_are_read_with_one_request_per_broker(fake):
    """A run's universe of 60 symbols cost 60 GET /v2/assets/{symbol}; now one GET /v2/assets."""
    fake.assets["HON"] = {"tradable": True, "fractionable": False}
    fake.assets["OLD"] = {"tradable": False, "fractionable": False}
    b = broker(fake)
    seen = {s: (b.asset(s).tradable, b.asset(s).fractionable) for s in ("AAA", "BRK-B", "HON", "OLD", "ZZZ")}
    assert seen == {
        "AAA": (True, True),
        "BRK-B": (True, True),  # Alpaca's BRK.B
        "HON": (True, False),
        "OLD": (False, False),
        "ZZZ": (False, False),  # not listed by Alpaca: not tradable
    }
    assert fake.hits("/v2/assets", "GET") == 1
    assert not [r.path for r in fake.requests if r.path.startswith("/v2/assets/")]


def test_a_submitted_order_is_not_sent_again_on_a_rerun(fake, tmp_path):
    b = broker(fake)
    with open_store(tmp_path) as store:
        store.add_intents([_intent("at-1", "AAA")])
        first = submit_close(store, b, D)
        second = submit_close(store, b, D)
    assert [o.result for o in first] == ["submitted"]
    assert [o.result for o in second] == ["already_sent"]
    assert posts(fake) == 1 and len(fake.orders) == 1


def test_a_reused_client_order_id_gets_422_and_is_reported_as_a_duplicate(fake):
    fake.add_order("AAA", "buy", "at-dup")
    result = broker(fake).submit(buy("AAA", "at-dup"))
    assert result.outcome == "duplicate" and result.reason == "client_order_id must be unique"
    assert result.order is not None and result.order.client_order_id == "at-dup"
    assert len(fake.orders) == 1


def test_429_on_post_leaves_exactly_one_order(fake):
    fake.faults.append(Fault(status=429, method="POST", path="/v2/orders"))
    result = broker(fake).submit(buy("AAA", "at-429"))
    assert result.outcome == "submitted"
    assert posts(fake) == 2  # refused once (not created), looked up (absent), sent again
    assert fake.hits("/v2/orders:by_client_order_id") == 1
    assert len(fake.orders) == 1
    assert result.reason == (
        "sent on try 2 of 3 (before: HTTP 429: injected HTTP 429; Alpaca confirmed it did not have it)"
    )  # submission.json's detail: the user sees the 429 and that it was handled


@pytest.mark.parametrize(
    "fault",
    [Fault(status=504, method="POST", after_work=True), Fault(delay=1.2, method="POST", after_work=True)],
    ids=["504-after-creating", "timeout-after-creating"],
)
def test_a_failed_post_that_did_create_the_order_is_looked_up_not_resent(fake, fault):
    fake.faults.append(fault)
    result = broker(fake).submit(buy("AAA", "at-created"))
    assert result.outcome == "submitted" and result.order is not None
    assert posts(fake) == 1 and len(fake.orders) == 1
    assert result.reason is not None and result.reason.endswith(", but Alpaca has the order: not re-sent")


def test_a_504_that_did_not_create_the_order_is_sent_once_more(fake):
    fake.faults.append(Fault(status=504, method="POST"))
    result = broker(fake).submit(buy("AAA", "at-retry"))
    assert result.outcome == "submitted"
    assert posts(fake) == 2 and len(fake.orders) == 1


def test_repeated_failures_end_in_a_clear_error_with_nothing_doubled(fake):
    fake.faults.extend(Fault(status=503, method="POST") for _ in range(3))
    with pytest.raises(BrokerError, match="was not placed after 3 tries .* confirms it does not exist"):
        broker(fake).submit(buy("AAA", "at-down"))
    assert posts(fake) == 3 and fake.orders == {}


def test_an_unconfirmable_submission_is_not_resent(fake):
    fake.faults.append(Fault(status=504, method="POST"))
    fake.faults.extend(Fault(status=503, method="GET", path="/v2/orders:by_client_order_id") for _ in range(3))
    with pytest.raises(BrokerError, match="its lookup failed too .* nothing was re-sent"):
        broker(fake).submit(buy("AAA", "at-unknown"))
    assert posts(fake) == 1


def _intent(
    cid: str,
    symbol: str,
    side: str = "buy",
    notional: float | None = 100.0,
    qty: float | None = None,
    after_sells: bool = False,
) -> dict:
    return {
        "client_order_id": cid,
        "session_date": D.isoformat(),
        "symbol": symbol,
        "side": side,
        "notional": notional,
        "qty": qty,
        "kind": "entry" if side == "buy" else "exit_signal",
        "strategy": "mean_reversion",
        "after_sells_fill": after_sells,
        "stop_price": 90.0,
        "target_price": 120.0,
        "confidence": 0.8,
    }


def test_insufficient_buying_power_on_one_buy_is_recorded_and_the_others_go_on(fake, tmp_path):
    fake.no_buying_power_for = {"BBB"}
    with open_store(tmp_path) as store:
        store.add_intents([_intent("at-a", "AAA"), _intent("at-b", "BBB"), _intent("at-c", "CCC")])
        outcomes = submit_close(store, broker(fake), D)
        statuses = {i["client_order_id"]: (i["status"], i["detail"]) for i in store.intents(D)}
    assert [o.result for o in outcomes] == ["submitted", "rejected", "submitted"]
    assert statuses["at-b"] == ("rejected", "HTTP 403: insufficient buying power")
    assert sorted(o["symbol"] for o in fake.orders.values()) == ["AAA", "CCC"]


def test_an_unreachable_broker_stops_the_batch_and_marks_the_order_unknown(fake, tmp_path):
    fake.faults.append(Fault(status=504, method="POST"))
    fake.faults.extend(Fault(status=503, method="GET", path="/v2/orders:by_client_order_id") for _ in range(4))
    with open_store(tmp_path) as store:
        store.add_intents([_intent("at-x", "AAA"), _intent("at-y", "BBB")])
        outcomes = submit_close(store, broker(fake), D)
        states = [i["status"] for i in store.intents(D)]
    assert [o.result for o in outcomes] == ["error", "skipped"]
    assert states == ["unknown", "planned"]


def test_sells_first_then_cash_buys_and_pending_buys_wait_for_the_sells(fake, tmp_path):
    fake.positions = {"OLD": {"qty": 3.0, "avg": 50.0, "price": 60.0}}
    fake.cash = 120.0
    b = broker(fake)
    with open_store(tmp_path) as store:
        store.add_intents(
            [
                _intent("at-sell", "OLD", "sell", notional=None, qty=3.0),
                _intent("at-now", "AAA", notional=60.0),
                _intent("at-later", "BBB", notional=150.0, after_sells=True),
            ]
        )
        outcomes = submit_close(store, b, D)
        assert [(o.symbol, o.result) for o in outcomes] == [("OLD", "submitted"), ("AAA", "submitted")]
        waiting = submit_pending(store, b, D, base_settings().safety, {"BBB": 50.0})
        assert [o.result for o in waiting] == ["waiting"] and "OLD (accepted)" in waiting[0].detail
        fake.fill(
            "at-sell", 61.0
        )  # the sell fills at the open: cash 120 + 183 - 60 (AAA pending) = 243 of buying power
        sent = submit_pending(store, b, D, base_settings().safety, {"BBB": 50.0})
    assert [(o.symbol, o.result, o.notional) for o in sent] == [("BBB", "submitted", 143.0)]  # 243 - $100 buffer
    assert posts(fake) == 3


def test_reconciliation_names_every_difference(fake, tmp_path):
    fake.positions = {
        "NEWX": {"qty": 2.0, "avg": 10.0, "price": 11.0},  # bought outside AlgoTrading
        "PART": {"qty": 1.5, "avg": 20.0, "price": 21.0},  # the record expects 3 shares
    }
    fake.add_order("AAA", "buy", "at-20251230-buy-AAA-x", status="accepted")  # open since yesterday
    records = {
        "PART": PositionRecord("PART", 3.0, "golden_cross", "2025-12-29", 20.0, None, None, 0.8),
        "GONE": PositionRecord("GONE", 4.0, "mean_reversion", "2025-12-15", 30.0, 27.0, 35.0, 0.7),
    }
    b = broker(fake)
    rec = reconcile(D, b.account(), b.name, b.positions(), b.open_orders(), records)
    notes = " | ".join(rec.notes)
    assert "NEWX: 2 shares at the broker that AlgoTrading did not open" in notes
    assert "PART: the broker holds 1.5 shares, AlgoTrading's record 3" in notes
    assert "GONE: in AlgoTrading's record (4 shares) but not at the broker" in notes
    assert "order still open from before: buy AAA (accepted" in notes
    part = rec.portfolio.position("PART")
    assert part is not None and (part.qty, part.strategy) == (1.5, "golden_cross")  # the broker's qty, the record's why
    assert rec.portfolio.position("NEWX").strategy is None and rec.portfolio.position("GONE") is None


def test_following_a_partial_then_full_fill_counts_the_shares_once(fake, tmp_path):
    b = broker(fake)
    with open_store(tmp_path) as store:
        store.add_intents([_intent("at-p", "AAA", notional=None, qty=10.0)])
        submit_close(store, b, D)
        fake.fill("at-p", 10.0, qty=4.0)
        notes = follow_orders(store, b)
        assert store.position_records()["AAA"].qty == 4.0 and "partially_filled" in notes[0]
        fake.fill("at-p", 10.0)
        follow_orders(store, b)
        record = store.position_records()["AAA"]
    assert (record.qty, record.strategy, record.stop_price, record.entry_session) == (
        10.0,
        "mean_reversion",
        90.0,
        "2025-12-31",
    )


def test_outcome_records_are_plain_json():
    assert Outcome("c", "AAA", "buy", "submitted").to_json()["result"] == "submitted"


def test_the_paper_account_number_is_recognised(fake):
    assert broker(fake, paper=False).account().paper  # PA... is a paper account, whatever the endpoint
    fake.account_number = "3TESTLIVE99"
    assert not broker(fake, paper=False).account().paper
