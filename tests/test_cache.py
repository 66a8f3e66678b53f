"""The Parquet bar cache fetches only what it lacks, never caches a partial session,
and refetches a symbol whose adjusted history changed upstream."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrading import calendar as cal
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.cache import READJUSTED_TOLERANCE, CachedBarsProvider, _readjusted

from .helpers import examples

NY = ZoneInfo("America/New_York")
SYMBOLS = ["AAPL", "SPY", "XOM"]
D = dt.date


class RecordingProvider:
    """The bundled data, recording each request; ``scale`` re-adjusts prices like a split would."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], dt.date, dt.date]] = []
        self.scale = 1.0

    def unavailable(self, symbols):
        return {}

    def get_bars(self, symbols, start, end):
        self.calls.append((tuple(symbols), start, end))
        bars = BundledBarsProvider().get_bars(symbols, start, end)
        bars[["open", "high", "low", "close"]] *= self.scale
        return bars


def truth(start, end, scale=1.0) -> pd.DataFrame:
    bars = BundledBarsProvider().get_bars(SYMBOLS, start, end)
    bars[["open", "high", "low", "close"]] *= scale
    return bars


@pytest.fixture
def inner():
    return RecordingProvider()


def cache(inner, tmp_path, now=dt.datetime(2026, 1, 5, 12, 0, tzinfo=NY)) -> CachedBarsProvider:
    return CachedBarsProvider(inner, tmp_path / "bars", now=lambda: now)


def test_second_identical_request_fetches_nothing(inner, tmp_path):
    c = cache(inner, tmp_path)
    first = c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    again = c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    assert inner.calls == [(tuple(SYMBOLS), D(2025, 11, 3), D(2025, 11, 28))]
    pd.testing.assert_frame_equal(first, truth(D(2025, 11, 3), D(2025, 11, 28)))
    pd.testing.assert_frame_equal(again, first)


def test_a_later_end_fetches_only_the_new_sessions_plus_the_overlap(inner, tmp_path):
    c = cache(inner, tmp_path)
    c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    got = c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 12, 5))
    assert inner.calls[1] == (tuple(SYMBOLS), D(2025, 11, 28), D(2025, 12, 5))
    pd.testing.assert_frame_equal(got, truth(D(2025, 11, 3), D(2025, 12, 5)))


def test_an_earlier_start_fetches_only_the_older_sessions(inner, tmp_path):
    c = cache(inner, tmp_path)
    c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    got = c.get_bars(SYMBOLS, D(2025, 10, 1), D(2025, 11, 28))
    assert inner.calls[1] == (tuple(SYMBOLS), D(2025, 10, 1), D(2025, 10, 31))
    pd.testing.assert_frame_equal(got, truth(D(2025, 10, 1), D(2025, 11, 28)))


def test_only_the_symbol_that_is_new_is_fetched(inner, tmp_path):
    c = cache(inner, tmp_path)
    c.get_bars(["AAPL", "SPY"], D(2025, 11, 3), D(2025, 11, 28))
    c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    assert inner.calls[1] == (("XOM",), D(2025, 11, 3), D(2025, 11, 28))


def test_a_session_that_is_not_final_is_not_cached(inner, tmp_path):
    during = dt.datetime(2025, 12, 5, 14, 0, tzinfo=NY)
    c = cache(inner, tmp_path, now=during)
    got = c.get_bars(SYMBOLS, D(2025, 12, 1), D(2025, 12, 5))
    assert got["date"].max() == pd.Timestamp("2025-12-04")
    assert inner.calls == [(tuple(SYMBOLS), D(2025, 12, 1), D(2025, 12, 4))]
    later = cache(inner, tmp_path, now=dt.datetime(2025, 12, 5, 16, 20, tzinfo=NY))
    pd.testing.assert_frame_equal(
        later.get_bars(SYMBOLS, D(2025, 12, 1), D(2025, 12, 5)), truth(D(2025, 12, 1), D(2025, 12, 5))
    )
    assert inner.calls[1] == (tuple(SYMBOLS), D(2025, 12, 4), D(2025, 12, 5))


def test_changed_adjustment_refetches_the_whole_range(inner, tmp_path):
    c = cache(inner, tmp_path)
    c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    inner.scale = 0.25  # a 4:1 split happened: the source re-adjusted all history
    got = c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 12, 5))
    pd.testing.assert_frame_equal(got, truth(D(2025, 11, 3), D(2025, 12, 5), scale=0.25))
    refetches = [call for call in inner.calls[2:]]
    assert refetches == [((s,), D(2025, 11, 3), D(2025, 12, 5)) for s in SYMBOLS]


def test_unreadable_index_means_refetch_not_crash(inner, tmp_path, caplog):
    c = cache(inner, tmp_path)
    c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    (tmp_path / "bars" / "coverage.json").write_text("{not json")
    got = c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))
    pd.testing.assert_frame_equal(got, truth(D(2025, 11, 3), D(2025, 11, 28)))
    assert len(inner.calls) == 2
    assert "unreadable" in caplog.text


def test_gap_between_weekend_start_and_cache_is_not_requested(inner, tmp_path):
    c = cache(inner, tmp_path)
    c.get_bars(SYMBOLS, D(2025, 11, 3), D(2025, 11, 28))  # 11-03 is a Monday
    c.get_bars(SYMBOLS, D(2025, 11, 1), D(2025, 11, 28))  # a Saturday: nothing new to fetch
    assert len(inner.calls) == 1
    assert cal.previous_session(D(2025, 11, 3)) < D(2025, 11, 1)


@st.composite
def overlapping(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A symbol's cached bars (sorted, one per day) and a fetched frame sharing some days."""
    close = st.one_of(st.floats(0, 500), st.sampled_from([0.0, float("nan"), 10.0, 10.0000001, 10.00002]))
    old_days = sorted(draw(st.sets(st.integers(0, 30), max_size=10)))
    new_days = draw(st.lists(st.integers(0, 40), max_size=6))

    def frame(days: list[int]) -> pd.DataFrame:
        values = [draw(close) for _ in days]
        dates = [pd.Timestamp("2024-01-02") + pd.Timedelta(days=d) for d in days]
        return pd.DataFrame({"date": pd.Series(dates, dtype="datetime64[ns]"), "close": values})

    return frame(old_days), frame(new_days)


@settings(max_examples=examples(1000), deadline=None)
@given(overlapping())
def test_a_readjusted_close_is_found_as_a_join_on_the_date_finds_it(frames):
    old, new = frames
    both = old.merge(new, on="date", suffixes=("_old", "_new"))  # the join, computed independently
    rel = (both["close_new"] - both["close_old"]).abs() / both["close_old"].abs()
    assert _readjusted(old, new) == bool((rel > READJUSTED_TOLERANCE).any())
