"""Session D's strategy section (signals, the strategy table with its metrics, equity,
momentum history, correlation, benchmark) uses bars up to D only: the daily run on data
that runs on past D, and replay's one set of books read at D, give what a run on data
ending at D gives."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from algotrading.backtest.walkforward import StrategyRun, compute_books, run_strategies, session_run
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.data.snapshot import history_start

SESSION = dt.date(2024, 1, 2)  # a session with trades in the demo
FUTURE_END = dt.date(2024, 6, 28)


def _same(got: StrategyRun, want: StrategyRun) -> None:
    pd.testing.assert_frame_equal(got.signals.reset_index(drop=True), want.signals.reset_index(drop=True))
    g, w = got.performance, want.performance
    pd.testing.assert_frame_equal(g.table().astype("float64"), w.table().astype("float64"), rtol=1e-12)
    pd.testing.assert_frame_equal(g.equity, w.equity)
    pd.testing.assert_frame_equal(g.momentum_history, w.momentum_history)
    pd.testing.assert_frame_equal(g.correlation, w.correlation)
    pd.testing.assert_series_equal(g.benchmark, w.benchmark)


def test_bars_after_the_session_change_nothing_in_its_strategy_section(workdirs):
    settings = load_settings()
    symbols = settings.universe.all_symbols
    bars = BundledBarsProvider().get_bars(symbols, history_start(SESSION, settings.data.history_sessions), FUTURE_END)
    assert bars["date"].max() == pd.Timestamp(FUTURE_END)  # six months of future are there to leak
    ending = run_strategies(settings, MarketData.from_bars(bars[bars["date"] <= pd.Timestamp(SESSION)]), SESSION)
    future = MarketData.from_bars(bars)
    assert len(ending.signals) > 0 and ending.performance.equity.index[-1] == pd.Timestamp(SESSION)
    _same(run_strategies(settings, future, SESSION), ending)  # the daily run's step
    _same(session_run(settings, compute_books(settings, future), SESSION), ending)  # replay: one backtest, read at D
