"""Strategy momentum, its history, correlation and capital weights; one session's
strategy run on the bundled data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from algotrading.backtest.performance import capital_weights, momentum_asof, rolling_momentum
from algotrading.backtest.walkforward import SIGNAL_COLUMNS, run_strategies
from algotrading.config import load_settings
from algotrading.daily import artifacts
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.data.snapshot import history_start

from .helpers import sessions


@pytest.fixture
def equity() -> pd.Series:
    index = sessions(200, dt.date(2025, 1, 2))
    return pd.Series(np.linspace(1000, 1199, 200), index=index)


def test_momentum_uses_the_last_session_on_or_before_the_lookback_day(equity):
    day = dt.date(2025, 6, 2)  # a Monday; 90 days earlier is Monday 2025-03-04
    base_day = equity.loc[:"2025-03-04"].index[-1]
    assert base_day == pd.Timestamp("2025-03-04")
    assert momentum_asof(equity, day, 90) == pytest.approx(equity[pd.Timestamp(day)] / equity[base_day] - 1)
    # on Sunday 2025-06-08 the last session is Friday 06-06; 90 days before it is Saturday 03-08 -> Friday 03-07
    assert momentum_asof(equity, dt.date(2025, 6, 8), 90) == pytest.approx(
        equity["2025-06-06"] / equity["2025-03-07"] - 1
    )


def test_momentum_is_nan_without_enough_history(equity):
    assert np.isnan(momentum_asof(equity, dt.date(2025, 2, 3), 90))


def test_rolling_momentum_agrees_with_momentum_asof(equity):
    history = rolling_momentum(equity.to_frame("s"), 90)["s"]
    for day in equity.index[::17]:
        want = momentum_asof(equity, day, 90)
        got = history[day]
        assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want)


@pytest.mark.parametrize(
    ("momentum", "threshold", "weights"),
    [
        ({"a": 0.10, "b": 0.05, "c": -0.02}, 0.0, {"a": 2 / 3, "b": 1 / 3, "c": 0.0}),
        ({"a": 0.10, "b": 0.05, "c": -0.02}, 0.06, {"a": 1.0, "b": 0.0, "c": 0.0}),
        ({"a": -0.01, "b": 0.0, "c": np.nan}, 0.0, {"a": 0.0, "b": 0.0, "c": 0.0}),
    ],
)
def test_capital_weights(momentum, threshold, weights):
    got = capital_weights(pd.Series(momentum), threshold)
    assert got.to_dict() == pytest.approx(weights)


@pytest.fixture(scope="module")
def run_2025():
    settings = load_settings()
    day = dt.date(2025, 12, 31)
    bars = BundledBarsProvider().get_bars(
        settings.universe.all_symbols, history_start(day, settings.data.history_sessions), day
    )
    return settings, run_strategies(settings, MarketData.from_bars(bars), day)


def test_a_session_run_has_signals_and_performance_for_every_strategy(run_2025):
    settings, run = run_2025
    perf = run.performance
    assert list(perf.momentum.index) == ["golden_cross", "mean_reversion", "dual_momentum", "sector_rotation"]
    assert list(run.signals.columns) == SIGNAL_COLUMNS
    assert set(run.signals["action"]) <= {"BUY", "SELL"}
    for name in perf.momentum.index:
        assert perf.momentum[name] == pytest.approx(momentum_asof(perf.equity[name], run.session, 90))
    table = perf.table()
    assert (table["eligible"] == (table["momentum"] > 0)).all()
    assert table["weight"].sum() == pytest.approx(1.0)
    corr = perf.correlation
    assert corr.shape == (4, 4) and np.allclose(np.diag(corr), 1.0)
    assert perf.equity.index[0] == perf.benchmark.index[0]
    assert perf.equity.iloc[0].tolist() == [settings.backtest.initial_capital] * 4


def test_strategy_artifacts_round_trip(run_2025, tmp_path):
    _, run = run_2025
    artifacts.write_strategy_run(tmp_path, run)
    back = artifacts.read_strategy_run(tmp_path)
    pd.testing.assert_frame_equal(
        back.performance.table(), run.performance.table(), check_dtype=False, check_names=False
    )
    pd.testing.assert_frame_equal(back.signals, run.signals, check_dtype=False)
    pd.testing.assert_frame_equal(back.performance.equity, run.performance.equity, check_freq=False, check_names=False)
    assert back.performance.benchmark.name == "SPY"
