"""The simulated (demo) broker: next-open fills with slippage and fees, buying power,
expiry, duplicates, and 20 sessions of equity against a hand calculation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from algotrading.broker.base import OrderRequest
from algotrading.broker.simulated import SimulatedBroker
from algotrading.data.market import MarketData
from algotrading.storage.sqlite import StoreError
from algotrading.storage.store import open_store

from .helpers import sessions

N = 22
DAYS = sessions(N, dt.date(2025, 1, 2))
# A rises 1 a day from 10 (opens 0.5 above the previous close); B falls 0.5 a day from 50
A_CLOSE = 10.0 + np.arange(N)
A_OPEN = np.r_[10.0, A_CLOSE[:-1] + 0.5]
B_CLOSE = 50.0 - 0.5 * np.arange(N)
B_OPEN = np.r_[50.0, B_CLOSE[:-1]]


def market() -> MarketData:
    close = pd.DataFrame({"A": A_CLOSE, "B": B_CLOSE}, index=DAYS)
    opens = pd.DataFrame({"A": A_OPEN, "B": B_OPEN}, index=DAYS)
    return MarketData(
        open=opens, high=np.maximum(opens, close), low=np.minimum(opens, close), close=close, volume=close * 0 + 1e6
    )


def day(i: int) -> dt.date:
    return DAYS[i].date()


def sim(tmp_path, i: int, phase: str = "after_close", m: MarketData | None = None) -> SimulatedBroker:
    return SimulatedBroker(
        tmp_path / "ledger.sqlite3", m or market(), day(i), phase, 1000.0, fees_pct=0.5, slippage_pct=1.0
    )


def test_an_order_fills_at_the_next_open_with_slippage_and_fees(tmp_path):
    b = sim(tmp_path, 0)
    assert b.submit(OrderRequest("A", "buy", "c1", notional=400.0)).outcome == "submitted"
    assert b.account().buying_power == 600.0  # cash minus the open buy
    assert b.settle(day(0)) == []  # nothing fills on the submission day itself
    b.close()
    b = sim(tmp_path, 1)
    (fill,) = b.settle(day(1))
    price = 10.5 * 1.01  # day 1 open x (1 + 1% slippage)
    assert (fill.price, fill.qty) == (pytest.approx(price), pytest.approx(400 / price))
    assert fill.fee == pytest.approx(400 * 0.005)
    account = b.account()
    assert account.cash == pytest.approx(1000 - 400 - 2)
    assert account.equity == pytest.approx(598 + 400 / price * 11.0)  # marked at day 1's close
    assert b.get_order("c1").status == "filled"


def test_buying_power_duplicates_and_quantities(tmp_path):
    b = sim(tmp_path, 0)
    assert b.submit(OrderRequest("A", "buy", "big", notional=1200.0)).reason == (
        "insufficient buying power: $1,200.00 needed, $1,000.00 available"
    )
    assert b.submit(OrderRequest("A", "buy", "ok", notional=900.0)).outcome == "submitted"
    assert b.submit(OrderRequest("B", "buy", "more", notional=200.0)).outcome == "rejected"  # 100 left
    assert b.submit(OrderRequest("A", "buy", "ok", notional=900.0)).outcome == "duplicate"
    assert (
        b.submit(OrderRequest("B", "sell", "s", qty=1.0)).reason
        == "insufficient qty available for B: 1 requested, 0 held"
    )
    assert b.submit(OrderRequest("^VIX", "buy", "ix", notional=10.0)).reason == "asset ^VIX is not tradable"
    assert len(b.orders()) == 5  # every order is kept, rejected ones too


def test_a_symbol_without_a_bar_expires(tmp_path):
    m = market()
    m.open.loc[DAYS[1], "B"] = np.nan
    b = sim(tmp_path, 0, m=m)
    b.submit(OrderRequest("B", "buy", "b1", notional=100.0))
    b.close()
    b = sim(tmp_path, 1, m=m)
    assert b.settle(day(1)) == []
    assert b.get_order("b1").status == "expired" and "did not trade on 2025-01-03" in b.get_order("b1").reason
    assert b.account().cash == 1000.0


def test_sells_fill_before_buys_and_morning_orders_fill_at_that_open(tmp_path):
    b = sim(tmp_path, 0)
    b.submit(OrderRequest("A", "buy", "a", notional=950.0))
    b.close()
    b = sim(tmp_path, 1)
    b.settle(day(1))
    qty = b.positions()[0].qty
    b.submit(OrderRequest("A", "sell", "sell-a", qty=qty))
    b.close()
    morning = sim(tmp_path, 2, phase="open")
    morning.settle(day(2))  # the sell fills at day 2's open
    cash = morning.account().cash
    assert morning.submit(OrderRequest("B", "buy", "b", notional=cash - 100)).outcome == "submitted"
    (fill,) = morning.settle(day(2))
    assert fill.session == day(2) and fill.price == pytest.approx(B_OPEN[2] * 1.01)


def test_the_ledger_refuses_to_act_in_the_past(tmp_path):
    b = sim(tmp_path, 5)
    b.submit(OrderRequest("A", "buy", "x", notional=100.0))
    b.close()
    old = sim(tmp_path, 2)
    with pytest.raises(StoreError, match=f"already has activity up to {day(5)}"):
        old.submit(OrderRequest("A", "buy", "y", notional=100.0))
    assert old.account().cash == 1000.0  # but can show the account as of then


def test_a_damaged_ledger_fails_closed(tmp_path):
    (tmp_path / "ledger.sqlite3").write_bytes(b"not a ledger" * 40)
    with pytest.raises(StoreError, match="simulated account ledger .* is damaged"):
        sim(tmp_path, 0)


def test_twenty_sessions_of_equity_and_drawdown_equal_a_hand_calculation(tmp_path):
    """Script: day 0 buy A $400 and B $300; day 5 sell all A; day 10 buy A $200; day 15 sell all B."""
    script = {
        0: [("A", "buy", 400.0, None), ("B", "buy", 300.0, None)],
        5: [("A", "sell", None, "all")],
        10: [("A", "buy", 200.0, None)],
        15: [("B", "sell", None, "all")],
    }
    slip, fee = 0.01, 0.005
    # the hand calculation, day by day
    cash, held = 1000.0, {"A": 0.0, "B": 0.0}
    pending: list[tuple[str, str, float | None, str | None]] = []
    expected = []
    for i in range(N):
        for symbol, side, notional, _ in pending:  # yesterday's orders fill at today's open
            op = {"A": A_OPEN, "B": B_OPEN}[symbol][i]
            if side == "buy":
                px = op * (1 + slip)
                held[symbol] += notional / px
                cash -= notional * (1 + fee)
            else:
                px = op * (1 - slip)
                cash += held[symbol] * px * (1 - fee)
                held[symbol] = 0.0
        pending = script.get(i, [])
        expected.append(cash + held["A"] * A_CLOSE[i] + held["B"] * B_CLOSE[i])

    got = []
    with open_store(tmp_path / "state") as store:
        for i in range(N):
            b = sim(tmp_path, i)
            b.settle(day(i))
            account = b.account()
            got.append(account.equity)
            store.record_equity(day(i), account.equity, account.cash, "simulated")
            for symbol, side, notional, all_ in script.get(i, []):
                qty = next(p.qty for p in b.positions() if p.symbol == symbol) if all_ else None
                b.submit(OrderRequest(symbol, side, f"d{i}-{side}-{symbol}", notional=notional, qty=qty))
            b.close()
        history = store.equity_history()
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    peak = np.maximum.accumulate(expected)
    # the broker reports equity to 6 decimals, hence the absolute tolerance
    np.testing.assert_allclose(history["drawdown"], 1 - np.array(expected) / peak, atol=1e-8)
    assert history["drawdown"].max() > 0.01  # B's fall makes a real drawdown
    b = sim(tmp_path, N - 1)
    assert b.fills()["side"].tolist() == ["buy", "buy", "sell", "buy", "sell"]  # 5 fills, as scripted


def test_the_simulated_clock_follows_the_phase(tmp_path):
    from algotrading import calendar as cal

    after = sim(tmp_path, 0).clock()
    assert (after.timestamp, after.is_open) == (cal.session_close(day(0)), False)
    assert after.next_open == cal.session_open(cal.next_session(day(0)))
    morning = sim(tmp_path, 1, phase="open").clock()
    assert (morning.timestamp, morning.is_open, morning.next_close) == (
        cal.session_open(day(1)),
        True,
        cal.session_close(day(1)),
    )


def test_holdings_kept_between_reads_are_read_again_after_any_write_to_the_ledger(tmp_path):
    """The holdings are summed once and kept while the ledger is unchanged; a fill made
    through another connection (a second broker on the same file) or through this one
    shows in the next read of the same session."""
    writer = sim(tmp_path, 0)
    writer.submit(OrderRequest("A", "buy", "c1", notional=400.0))
    writer.close()
    reader = sim(tmp_path, 3, phase="open")
    assert reader.positions() == []  # submitted, not filled yet
    filler = sim(tmp_path, 1)  # its own connection to the same ledger
    (fill,) = filler.settle(day(1))
    filler.close()
    (held,) = reader.positions()
    assert (held.symbol, held.qty) == ("A", pytest.approx(fill.qty))
    reader.submit(OrderRequest("A", "sell", "c2", qty=held.qty))
    (sold,) = reader.settle(day(3))  # phase "open": fills at this session's open, through the reader's connection
    assert (sold.side, sold.session) == ("sell", day(3))
    assert reader.positions() == []
    reader.close()


def test_holdings_carried_from_session_to_session_equal_the_sum_of_every_fill(tmp_path):
    """Each session's broker adds that session's fills to the holdings folded up to the
    session before; they equal, to the last bit, the holdings summed again from the first
    fill, also after a fill lands on a session already folded (a morning "open" phase)."""
    from algotrading.broker import simulated

    path = tmp_path / "ledger.sqlite3"
    for i in range(12):
        b = sim(tmp_path, i)
        b.settle(day(i))
        held = b._holdings(day(i))
        assert simulated._FOLDS[path].upto == day(i).isoformat()
        if i == 6:  # the morning of session 6, after it was folded: a sell fills at its open
            morning = sim(tmp_path, 6, phase="open")
            morning.submit(OrderRequest("B", "sell", "m6", qty=held["B"][0] / 3))
            assert len(morning.settle(day(6))) == 1
            held = morning._holdings(day(6))
            morning.close()
        simulated._FOLDS.clear()  # summed again from the first fill
        again = sim(tmp_path, i)
        assert again._holdings(day(i)) == held  # exactly: same floats
        again.close()
        if i % 2 == 0:
            b.submit(OrderRequest("A", "buy", f"a{i}", notional=50.0))
            b.submit(OrderRequest("B", "buy", f"b{i}", notional=30.0))
        elif "A" in held:
            b.submit(OrderRequest("A", "sell", f"s{i}", qty=held["A"][0] / 3))
        b.close()
    assert held["A"][0] > 0 and held["B"][0] > 0
