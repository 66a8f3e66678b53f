"""A strategy's own book: entries, each exit rule and their precedence, and the cash
that decides which entries are paid for (README "A strategy's book")."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from algotrading.backtest import book as book_module
from algotrading.backtest.book import fill_prices
from algotrading.config import BacktestParams
from algotrading.strategies.base import SignalFrames

from .helpers import sessions


def frames(n, entry=(), exit=(), stop=None, target=None, max_hold=None) -> SignalFrames:
    index = sessions(n)

    def flags(rows):
        values = np.zeros(n, dtype=bool)
        values[list(rows)] = True
        return pd.DataFrame({"X": values}, index=index)

    def level(value):
        return None if value is None else pd.DataFrame({"X": np.full(n, float(value))}, index=index)

    e = flags(entry)
    return SignalFrames(
        "test", e, flags(exit), e.astype(float).where(e), flags(exit), level(stop), level(target), max_hold
    )


def close(values) -> pd.DataFrame:
    return pd.DataFrame({"X": np.asarray(values, dtype="float64")}, index=sessions(len(values)))


def params(capital: float = 1000, minimum: float = 50, slippage: float = 0.0, fees: float = 0.0) -> BacktestParams:
    return BacktestParams(
        initial_capital=capital,
        fees_pct=fees,
        slippage_pct=slippage,
        min_entry_value=minimum,
        warmup_sessions=0,
        correlation_sessions=20,
    )


def simulate(f: SignalFrames, closes: pd.DataFrame, start=None, fraction=0.25, opens=None, costs=None, **kw):
    """The book with fills at ``opens`` (default: the closes)."""
    prices = fill_prices(opens if opens is not None else closes, closes)
    return book_module.simulate(f, closes, prices, costs or params(), fraction, start, **kw)


def book_rows(book, field="holding"):
    return list(np.flatnonzero(getattr(book, field)["X"].to_numpy()))


def test_entry_and_exit_signal():
    book = simulate(frames(8, entry=[2], exit=[5, 6]), close([100] * 8))
    assert book_rows(book, "entries") == [2]
    assert book_rows(book, "exits") == [5]
    assert book.exit_reason["X"].iloc[5] == "exit_signal"
    assert book_rows(book) == [2, 3, 4]
    # filled at the open after each signal: $250 of 100 bought on 3, all of it sold on 6
    assert book.orders["X"].iloc[3] == 2.5 and book.orders["X"].iloc[6] == -2.5
    assert book.orders["X"].isna().sum() == 6


def test_stop_at_the_close():
    prices = [100, 100, 98, 96, 94.9, 90]
    book = simulate(frames(6, entry=[1], stop=95), close(prices))
    assert book_rows(book, "exits") == [4]
    assert book.exit_reason["X"].iloc[4] == "stop"


def test_target_reached_exactly():
    prices = [100, 100, 104, 108, 110, 111]
    book = simulate(frames(6, entry=[1], target=110), close(prices))
    assert book_rows(book, "exits") == [4]
    assert book.exit_reason["X"].iloc[4] == "target"


def test_max_hold_counts_sessions_from_the_entry_signal():
    book = simulate(frames(8, entry=[1], max_hold=3), close([100] * 8))
    assert book_rows(book, "exits") == [4]
    assert book.exit_reason["X"].iloc[4] == "max_hold"


def test_stop_wins_over_an_exit_signal_the_same_day():
    book = simulate(frames(5, entry=[0], exit=[3], stop=95), close([100, 99, 98, 90, 90]))
    assert book.exit_reason["X"].iloc[3] == "stop"


def test_no_exit_on_the_entry_day_and_no_reentry_on_the_exit_day():
    book = simulate(frames(7, entry=[1, 3, 4], exit=[1, 3]), close([100] * 7))
    # opened on 1 (the exit flag on 1 cannot close a position opened that day);
    # closed on 3 by the exit flag; the entry flag on 3 waits; reopened on 4
    assert book_rows(book, "entries") == [1, 4]
    assert book_rows(book, "exits") == [3]


def test_no_pyramiding_and_nothing_before_start():
    book = simulate(frames(8, entry=[1, 3, 5]), close([100] * 8), start=dt.date(2016, 1, 6))  # row 2
    assert book_rows(book, "entries") == [3]
    assert book_rows(book) == list(range(3, 8))


def test_no_entry_without_a_price():
    book = simulate(frames(4, entry=[1, 2]), close([np.nan, np.nan, 100, 100]))
    assert book_rows(book, "entries") == [2]


@pytest.mark.parametrize("reason", ["stop", "target"])
def test_levels_are_the_entry_days(reason):
    index = sessions(6)
    entry = pd.DataFrame({"X": [False, True, False, False, False, False]}, index=index)
    moving = pd.DataFrame({"X": [90.0, 95.0, 99.0, 99.0, 99.0, 99.0]}, index=index)  # later rows do not apply
    kwargs = {"stop": moving} if reason == "stop" else {"target": moving + 10}
    f = SignalFrames("t", entry, entry & False, entry.astype(float), entry & False, **kwargs)
    prices = [100, 100, 96, 94.5, 94, 94] if reason == "stop" else [100, 100, 104, 105.5, 106, 106]
    book = simulate(f, close(prices))
    assert book_rows(book, "exits") == [3]


def wide(n: int, entries: dict[str, list[int]], confidence: dict[str, float] | None = None, exits=None):
    """Frames of several symbols: each symbol's entry rows, one confidence per symbol."""
    index = sessions(n)
    names = list(entries)

    def flags(rows_of):
        out = pd.DataFrame(False, index=index, columns=names)
        for name, rows in (rows_of or {}).items():
            out.iloc[rows, names.index(name)] = True
        return out

    e = flags(entries)
    conf = pd.DataFrame({k: (confidence or {}).get(k, 0.8) for k in names}, index=index).where(e)
    x = flags(exits)
    return SignalFrames("test", e, x, conf, x)


def flat(n: int, names, price: float = 100.0) -> pd.DataFrame:
    return pd.DataFrame(price, index=sessions(n), columns=list(names))


def test_an_entry_the_cash_cannot_pay_for_is_skipped_and_blocks_nothing_later():
    # five entries on session 1 at 25% each: four are paid for ($250 each), the fifth has $0
    entries = {s: [1] for s in "ABCD"} | {"E": [1, 2, 3, 6]}
    book = simulate(wide(9, entries, exits={"A": [4]}), flat(9, "ABCDE"))
    assert book.orders.iloc[2].dropna().to_dict() == {"A": 2.5, "B": 2.5, "C": 2.5, "D": 2.5}
    assert book.skipped["E"].tolist() == [False, True, True, True, False, False, False, False, False]
    # A's exit on 4 sells it on 5; E's entry on 6 is then paid for, on 7, with the $250
    assert book.orders.loc[book.orders.index[5], "A"] == -2.5
    assert book.orders["E"].dropna().to_dict() == {book.orders.index[7]: 2.5}
    assert list(np.flatnonzero(book.entries["E"])) == [6] and book.holding["E"].iloc[6]


def test_same_day_entries_compete_by_confidence_then_symbol():
    # $1000 at 40% each: two full buys of $400, then $200 for the third, none for the fourth
    entries = {s: [0] for s in "DCBA"}
    conf = {"D": 0.9, "C": 0.7, "B": 0.7, "A": 0.5}
    book = simulate(wide(3, entries, conf), flat(3, "DCBA"), fraction=0.4)
    assert book.orders.iloc[1].fillna(0).to_dict() == {"D": 4.0, "B": 4.0, "C": 2.0, "A": 0.0}
    assert book.skipped.iloc[0].to_dict() == {"D": False, "C": False, "B": False, "A": True}


def test_the_rest_of_the_cash_down_to_the_minimum():
    # after three quarters, $250 is left; the price of the open moves, so equity does too
    entries = {"A": [0], "B": [0], "C": [0], "D": [2], "E": [2]}
    closes = flat(5, "ABCDE")
    opens = closes.copy()
    opens.iloc[1] = 100.0
    opens.iloc[3, :3] = 120.0  # A, B, C up 20% at the open of 3: equity 250 + 3 x 300 = 1150
    book = simulate(wide(5, entries), closes, opens=opens)
    assert book.orders.iloc[3]["D"] == pytest.approx(250 / 100)  # 25% of 1150 is 287.50: the $250 left
    assert np.isnan(book.orders.iloc[3]["E"]) and book.skipped.iloc[2]["E"]
    # with $45 left, below the $50 minimum, nothing is bought
    tiny = simulate(wide(3, {"A": [0], "B": [0]}), flat(3, "AB"), fraction=0.955, costs=params(capital=1000))
    assert tiny.orders.iloc[1].fillna(0).to_dict() == {"A": 9.55, "B": 0.0}  # $45 left < $50
    assert tiny.skipped.iloc[0]["B"]


def test_slippage_and_fees_come_out_of_the_book_cash():
    # 100% of $1000 at 100 x 1.01 (slippage), 0.5% fees on top: cash limits the buy
    book = simulate(wide(3, {"A": [0]}), flat(3, "A"), fraction=1.0, costs=params(slippage=1.0, fees=0.5))
    assert book.orders.iloc[1]["A"] == pytest.approx(1000 / (101 * 1.005), rel=1e-12)


def test_books_of_a_sweep_keep_their_own_cash():
    # two books side by side: book 0 is full after its 4 entries, book 1's one entry is paid
    entries = {f"0:{s}": [0] for s in "ABCDE"} | {"1:A": [0]}
    names = [c.split(":")[1] for c in entries]
    groups = np.asarray([0, 0, 0, 0, 0, 1])
    book = simulate(wide(3, entries), flat(3, entries), groups=groups, names=names)
    assert book.orders.iloc[1].fillna(0).tolist() == [2.5, 2.5, 2.5, 2.5, 0.0, 2.5]


def test_confidences_equal_but_for_float_noise_tie_and_go_by_symbol():
    # 0.35 + 0.35 + 0.20 + 0.10 is 0.9999999999999999 in floats: a tie with a capped 1.0
    summed = 0.35 + 0.35 + 0.20 + 0.10
    assert summed < 1.0
    book = simulate(wide(3, {"B": [0], "A": [0]}, {"B": 1.0, "A": summed}), flat(3, "BA"), fraction=0.96)
    assert book.orders.iloc[1].fillna(0).to_dict() == {"B": 0.0, "A": 9.6}  # A first: $960; $40 left < $50
