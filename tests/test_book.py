"""A strategy's own book: entries, each exit rule, and their precedence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from algotrading.backtest.book import simulate
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


def book_rows(book, field="holding"):
    return list(np.flatnonzero(getattr(book, field)["X"].to_numpy()))


def test_entry_and_exit_signal():
    book = simulate(frames(8, entry=[2], exit=[5, 6]), close([100] * 8))
    assert book_rows(book, "entries") == [2]
    assert book_rows(book, "exits") == [5]
    assert book.exit_reason["X"].iloc[5] == "exit_signal"
    assert book_rows(book) == [2, 3, 4]
    assert book.entry_close["X"].iloc[4] == 100 and np.isnan(book.entry_close["X"].iloc[5])


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
