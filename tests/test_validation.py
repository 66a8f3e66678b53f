"""Data health: each check on a crafted bad frame, real splits in the raw-price fixture,
and the bundled data passing clean."""

from __future__ import annotations

import datetime as dt
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algotrading import calendar as cal
from algotrading.config import load_settings
from algotrading.data import bars
from algotrading.data.bars import normalize_bars
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.validation import EXCLUDED, OK, WARNING, split_like_jumps, usable_bars, validate_bars

from .conftest import FIXTURES
from .helpers import examples

D = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def params():
    return load_settings().data.validation


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    """Two real symbols, last 120 sessions of 2025."""
    start = cal.session_window(D, 120)[0]
    return BundledBarsProvider().get_bars(["AAPL", "XOM"], start, D)


def row_of(health: pd.DataFrame, symbol: str) -> pd.Series:
    return health.set_index("symbol").loc[symbol]


def aapl(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["symbol"] == "AAPL"].copy()


def check(frame: pd.DataFrame, params, symbols=("AAPL",), session=D) -> pd.Series:
    health = validate_bars(normalize_bars(frame), list(symbols), session, params)
    return row_of(health, symbols[0])


def test_clean_data_passes(clean, params):
    health = validate_bars(clean, ["AAPL", "XOM"], D, params)
    assert health["status"].tolist() == [OK, OK]
    assert health["reason"].tolist() == ["", ""]
    assert health["bars"].tolist() == [120, 120]
    assert usable_bars(clean, health).equals(clean)


def test_no_data_and_order_of_rows(clean, params):
    health = validate_bars(clean, ["XOM", "NOPE", "AAPL"], D, params)
    assert health["symbol"].tolist() == ["XOM", "NOPE", "AAPL"]
    nope = row_of(health, "NOPE")
    assert nope["status"] == EXCLUDED
    assert nope["reason"] == "no bars returned for the requested dates"
    assert usable_bars(clean, health)["symbol"].unique().tolist() == ["AAPL", "XOM"]


def test_stale_symbol(clean, params):
    frame = aapl(clean).iloc[:-2]  # last bar 2025-12-29
    row = check(frame, params)
    assert row["status"] == EXCLUDED and row["stale"]
    assert row["reason"] == "stale: last bar 2025-12-29, expected 2025-12-31"


def test_rows_after_the_session_are_not_judged(clean, params):
    row = check(aapl(clean), params, session=dt.date(2025, 12, 30))
    assert row["status"] == OK and row["bars"] == 119 and row["last_date"] == dt.date(2025, 12, 30)


def test_duplicates(clean, params):
    frame = aapl(clean)
    frame = pd.concat([frame, frame.iloc[[10, 20]]])
    row = check(frame, params)
    assert (row["status"], row["duplicates"]) == (EXCLUDED, 2)
    assert "2 duplicate session(s)" in row["reason"]


@pytest.mark.parametrize(
    ("column", "value", "field", "message"),
    [
        ("close", np.nan, "non_finite", "1 bar(s) with NaN/inf values"),
        ("volume", np.inf, "non_finite", "1 bar(s) with NaN/inf values"),
        ("low", 0.0, "non_positive", "1 bar(s) with a price <= 0"),
        ("open", -1.0, "non_positive", "1 bar(s) with a price <= 0"),
    ],
)
def test_impossible_values(clean, params, column, value, field, message):
    frame = aapl(clean)
    frame.iloc[50, frame.columns.get_loc(column)] = value
    row = check(frame, params)
    assert row["status"] == EXCLUDED
    assert row[field] == 1
    assert message in row["reason"]


@pytest.mark.parametrize(
    "change",
    [
        {"high": 0.5},  # high far below open/close
        {"low": 10.0},  # low far above open/close
    ],
)
def test_high_low_inconsistent(clean, params, change):
    frame = aapl(clean)
    for column, factor in change.items():
        frame.iloc[30, frame.columns.get_loc(column)] *= factor
    row = check(frame, params)
    assert (row["status"], row["ohlc_inconsistent"]) == (EXCLUDED, 1)


def test_rounding_within_tolerance_is_not_inconsistent(clean, params):
    frame = aapl(clean)
    i = 30
    frame.iloc[i, frame.columns.get_loc("high")] = max(frame.iloc[i]["open"], frame.iloc[i]["close"]) * (1 - 5e-5)
    assert check(frame, params)["ohlc_inconsistent"] == 0


def test_bar_on_a_closed_day(clean, params):
    frame = aapl(clean)
    extra = frame.iloc[[-1]].assign(date=pd.Timestamp("2025-12-25"))  # Christmas
    row = check(pd.concat([frame, extra]), params)
    assert (row["status"], row["off_calendar"]) == (EXCLUDED, 1)
    assert "1 bar(s) on days the NYSE was closed" in row["reason"]


def test_missing_sessions_warn_then_exclude(clean, params):
    frame = aapl(clean)
    few = frame.drop(frame.index[[40, 41]])
    row = check(few, params)
    assert (row["status"], row["missing_sessions"]) == (WARNING, 2)
    assert row["reason"] == "2 NYSE session(s) without a bar"
    many = frame.drop(frame.index[40:45])
    row = check(many, params)
    assert (row["status"], row["missing_sessions"]) == (EXCLUDED, 5)
    assert "5 NYSE sessions without a bar (limit 3)" in row["reason"]


def test_zero_volume_warns_then_excludes(clean, params):
    frame = aapl(clean)
    frame.iloc[[5, 6], frame.columns.get_loc("volume")] = 0
    assert check(frame, params)["status"] == WARNING
    frame.iloc[10:16, frame.columns.get_loc("volume")] = 0
    row = check(frame, params)
    assert (row["status"], row["zero_volume"]) == (EXCLUDED, 8)


def test_index_has_no_volume_checks(params):
    vix = BundledBarsProvider().get_bars(["^VIX"], dt.date(2025, 1, 2), D)
    assert (vix["volume"] == 0).all()
    row = check(vix, params, symbols=("^VIX",))
    assert row["status"] == OK and row["zero_volume"] == 0


def test_unadjusted_split_is_excluded(clean, params):
    """Bars before 2025-11-03 left on the pre-split scale of a 4:1 split."""
    frame = aapl(clean)
    before = frame["date"] < pd.Timestamp("2025-11-03")
    frame.loc[before, ["open", "high", "low", "close"]] *= 4
    frame.loc[before, "volume"] /= 4
    row = check(frame, params)
    assert (row["status"], row["split_like_jumps"]) == (EXCLUDED, 1)
    assert "1 split-like jump(s), latest 2025-11-03 (-75%): prices look unadjusted" in row["reason"]


def test_real_splits_in_the_raw_price_fixture_are_flagged(params):
    raw = pd.read_csv(FIXTURES / "raw_split_windows.csv.gz", parse_dates=["date"])
    assert raw["window"].nunique() == 70
    detectable = missed = 0
    for window, rows in raw.groupby("window"):
        split_day = pd.Timestamp(window.split("@")[1])
        factor = rows.loc[rows["date"] == split_day, "split_factor"].iloc[0]
        flagged = set(split_like_jumps(rows, params)["date"])
        # no ordinary day of any window is flagged
        assert flagged <= set(rows.loc[rows["split_factor"] != 1, "date"]), window
        if factor > 1.4 or factor < 1 / 1.4:  # 3:2 (stored as 1.499999 or 1.5) and beyond
            detectable += 1
            assert split_day in flagged, f"{window} (ratio {factor:g}) not flagged"
        else:
            missed += split_day not in flagged
    assert detectable == 67
    assert missed == 3  # C's 4:3 split (-22%) and HON's two 1-3% spin-off adjustments


def test_the_whole_bundled_universe_is_clean(params):
    """Real 2016-2025 moves (AMD +52%, ORCL +36%, META -26%) are not mistaken for splits."""
    provider = BundledBarsProvider()
    bars = provider.get_bars(provider.symbols(), provider.first_session(), provider.last_session())
    health = validate_bars(bars, provider.symbols(), provider.last_session(), params)
    assert len(health) == 61
    assert (health["status"] == OK).all(), health[health["status"] != OK]
    assert health["split_like_jumps"].sum() == 0


@st.composite
def bar_frames(draw) -> pd.DataFrame:
    """Bars frames as providers and the cache hand them over: normalized ones (the bar
    cache's files, read back) and ones one step from normal: rows out of order, a date
    with a time of day, an integer column, a stale index, a missing symbol."""
    n = draw(st.integers(0, 12))
    day = st.integers(0, 40).map(lambda d: pd.Timestamp("2024-01-02") + pd.Timedelta(days=d))
    value = st.floats(0.01, 500, allow_nan=False)
    symbol = st.sampled_from(["AAPL", "BRK-B", "^VIX", "XOM"])
    rows = draw(st.lists(st.tuples(symbol, day, value, value, value, value, value), min_size=n, max_size=n))
    frame = pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume"])
    if draw(st.booleans()):
        with patch.object(bars, "_is_normal", lambda f: False):
            frame = normalize_bars(frame)
    if n and draw(st.booleans()):
        order = draw(st.permutations(range(n)))
        frame = frame.iloc[order].reset_index(drop=True)
    if n and draw(st.booleans()):
        frame.loc[draw(st.integers(0, n - 1)), "date"] += pd.Timedelta(hours=16)
    if draw(st.booleans()):
        frame["volume"] = frame["volume"].round().astype("int64")
    if draw(st.booleans()):
        frame.index = frame.index + draw(st.integers(1, 5))
    if n and draw(st.booleans()):
        frame.loc[frame.index[draw(st.integers(0, n - 1))], "symbol"] = None
    return frame


@settings(max_examples=examples(1000), deadline=None)
@given(bar_frames())
def test_normalize_bars_gives_what_normalizing_from_scratch_gives(frame):
    """The shortcut for frames already normal (checked, not assumed) changes no result."""
    with patch.object(bars, "_is_normal", lambda f: False):
        expected = normalize_bars(frame)
    got = normalize_bars(frame)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # normalized (and read back from the cache), a frame takes the shortcut next time
    assert got is not frame and (got.empty or got["symbol"].isna().any() or bars._is_normal(got))


def _pivoted(frame: pd.DataFrame, field: str) -> pd.DataFrame:
    """pandas' own pivot of one field (the reshape :func:`bars.wide_fields` must equal)."""
    wide = frame.pivot_table(index="date", columns="symbol", values=field, aggfunc="last", sort=True)
    return wide.rename_axis(columns=None)


@st.composite
def long_bars(draw) -> pd.DataFrame:
    """Normalized bars with what a reshape must survive: a (date, symbol) twice, NaN
    values (a whole symbol's or date's close among them), a row without a symbol or a
    date, no rows at all."""
    n = draw(st.integers(0, 30))
    day = st.integers(0, 8).map(lambda d: pd.Timestamp("2024-01-02") + pd.Timedelta(days=d))
    value = st.one_of(st.floats(0.01, 500, allow_nan=False), st.just(float("nan")))
    symbol = st.sampled_from(["AAPL", "BRK-B", "^VIX", "XOM", "ZZZ"])
    rows = draw(st.lists(st.tuples(symbol, day, value, value, value, value, value), min_size=n, max_size=n))
    frame = normalize_bars(pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume"]))
    if n and draw(st.booleans()):
        frame.loc[draw(st.integers(0, n - 1)), draw(st.sampled_from(["symbol", "date"]))] = None
    return frame


@settings(max_examples=examples(500), deadline=None)
@given(long_bars())
def test_the_wide_frames_are_pandas_pivots_on_the_close_frame(frame):
    """MarketData.from_bars reshapes every field in one grouping: each frame equals
    pandas' pivot_table of that field (aggfunc "last") on the close's dates and symbols,
    and to_wide equals the pivot of its field."""
    from algotrading.data.market import FIELDS, MarketData

    pivots = {field: _pivoted(frame, field) for field in FIELDS}
    close = pivots["close"]
    market = MarketData.from_bars(frame)
    for field, pivot in pivots.items():
        expected = pivot.reindex(index=close.index, columns=close.columns)
        pd.testing.assert_frame_equal(getattr(market, field), expected, check_exact=True)
        pd.testing.assert_frame_equal(bars.to_wide(frame, field), pivot, check_exact=True)


def test_a_date_given_twice_keeps_its_last_value_that_is_not_nan():
    frame = normalize_bars(
        pd.DataFrame(
            {
                "symbol": ["XOM", "XOM", "XOM", "AAPL"],
                "date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-03"]),
                "open": [1.0, 2.0, np.nan, 5.0],
                "high": [1.0, 2.0, 3.0, 5.0],
                "low": [1.0, 2.0, 3.0, 5.0],
                "close": [1.0, np.nan, np.nan, 5.0],
                "volume": [10.0, 20.0, 30.0, 50.0],
            }
        )
    )
    wide = bars.wide_fields(frame, ("open", "close", "volume"))
    assert list(wide["close"].columns) == ["AAPL", "XOM"] and wide["close"].index.name == "date"
    assert wide["open"].loc["2024-01-02", "XOM"] == 2.0  # the NaN after it is skipped
    assert wide["close"].loc["2024-01-02", "XOM"] == 1.0
    assert wide["volume"].loc["2024-01-02", "XOM"] == 30.0
    assert np.isnan(wide["volume"].loc["2024-01-02", "AAPL"])
    # laid out row-major, as pandas' pivots are: a row's sum adds its values in the same order
    assert _pivoted(frame, "close").to_numpy().flags["C_CONTIGUOUS"]
    assert all(w.to_numpy().flags["C_CONTIGUOUS"] for w in wide.values())


def _split_like_jumps_by_rolling_median(symbol_bars: pd.DataFrame, params) -> pd.DataFrame:  # noqa: ANN001
    """The split check as first written: pandas' rolling median of the dollar volume over
    every day (the reference the package's candidate-days-only version must equal)."""
    g = symbol_bars.sort_values("date")
    close = g["close"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ret = np.log(close[1:] / close[:-1])
        dollar = pd.Series(close * g["volume"].to_numpy(dtype="float64"))
    baseline = dollar.shift(1).rolling(20, min_periods=5).median()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (dollar / baseline.where(baseline > 0)).to_numpy()[1:]
    split_threshold = -np.log(1 - params.split_jump_pct / 100)
    extreme_threshold = np.log(1 + params.extreme_jump_pct / 100)
    size = np.abs(log_ret)
    quiet = np.isnan(ratio) | (ratio <= params.split_max_dollar_volume_ratio)
    flagged = (size >= extreme_threshold) | ((size >= split_threshold) & quiet)
    flagged &= np.isfinite(log_ret)
    return pd.DataFrame(
        {
            "date": g["date"].to_numpy()[1:][flagged],
            "change": np.expm1(log_ret[flagged]),
            "dollar_volume_ratio": ratio[flagged],
        }
    )


@st.composite
def one_symbols_bars(draw) -> pd.DataFrame:
    """Up to 80 sessions of one symbol, out of order, with jumps of split size and beyond
    (x0.25 .. x5), missing, zero and infinite closes and volumes, and volume bursts."""
    n = draw(st.integers(0, 80))
    level = st.sampled_from([1.0, 1.0, 1.0, 0.25, 0.5, 0.7, 1.35, 1.9, 2.0, 4.0, 5.0])
    close = st.one_of(st.floats(0.5, 2.0), st.sampled_from([float("nan"), 0.0, float("inf")]))
    volume = st.one_of(st.floats(0, 1e6), st.sampled_from([float("nan"), float("inf"), 5e7]))
    rows = draw(st.lists(st.tuples(level, close, volume), min_size=n, max_size=n))
    price = 100 * np.cumprod([r[0] for r in rows]) * np.asarray([r[1] for r in rows])
    dates = pd.bdate_range("2024-01-02", periods=n)
    frame = pd.DataFrame({"date": dates, "close": price, "volume": [r[2] for r in rows]})
    return frame.sample(frac=1, random_state=draw(st.integers(0, 9)))


@settings(max_examples=examples(500), deadline=None)
@given(one_symbols_bars())
def test_the_split_check_equals_the_rolling_median_over_every_day(frame):
    """The ratio is computed on the days that moved enough only; the flagged days, their
    changes and their ratios are exactly what the rolling median over every day gives."""
    params = load_settings().data.validation
    pd.testing.assert_frame_equal(
        split_like_jumps(frame, params), _split_like_jumps_by_rolling_median(frame, params), check_exact=True
    )
