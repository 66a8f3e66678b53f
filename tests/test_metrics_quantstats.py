"""The backtest metrics against an independent library, quantstats, on the same returns:
each strategy's 2018-2025 backtest on the bundled data and the benchmark.

Deliberate differences, also in ``compute_metrics``'s docstring:
- CAGR: ours counts calendar years ((last - first).days / 365.25); quantstats counts
  return periods / 252. Checked by giving quantstats our periods per year.
- Win rate: ours is the share of *closed trades* with pnl > 0, quantstats' the share of
  non-zero values > 0; checked on the closed trades' pnl, which has no zero here.
- Max drawdown: both from the equity's own first value (quantstats gets the equity).
"""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from algotrading.backtest.engine import benchmark_metrics, run_backtest
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.strategies import load_strategies

START, END = dt.date(2018, 1, 2), dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def qs():
    """quantstats.stats, imported here: it costs ~2.6 s (seaborn, matplotlib), which every
    xdist worker would pay at collection with a module-level import."""
    with warnings.catch_warnings():  # quantstats imports seaborn and matplotlib settings it may warn about
        warnings.simplefilter("ignore")
        import quantstats.stats

    return quantstats.stats


@pytest.fixture(scope="module")
def backtests():
    settings = load_settings()
    bars = BundledBarsProvider().get_bars(settings.universe.all_symbols, dt.date(2017, 1, 3), END)
    market = MarketData.from_bars(bars)
    return {s.name: run_backtest(s, market, settings.backtest, start=START, end=END) for s in load_strategies(settings)}


def _check(qs, metrics: dict[str, float], equity) -> None:
    returns = equity.pct_change().dropna()
    years = (equity.index[-1] - equity.index[0]).days / 365.25
    assert metrics["total_return"] == pytest.approx(qs.comp(returns), rel=1e-9, abs=1e-12)
    assert metrics["cagr"] == pytest.approx(qs.cagr(returns, periods=len(returns) / years), rel=1e-9)
    assert metrics["sharpe"] == pytest.approx(qs.sharpe(returns), rel=1e-9)
    assert metrics["sortino"] == pytest.approx(qs.sortino(returns), rel=1e-9)
    assert metrics["max_drawdown"] == pytest.approx(qs.max_drawdown(equity), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", ["golden_cross", "mean_reversion", "dual_momentum", "sector_rotation"])
def test_strategy_metrics_match_quantstats(qs, backtests, name):
    result = backtests[name]
    assert len(result.equity) > 1900 and result.metrics["trades"] > 0  # eight years, with trades
    _check(qs, result.metrics, result.equity)
    closed = result.trades[result.trades["status"] == "closed"]
    assert len(closed) > 0 and (closed["pnl"] != 0).all()
    assert result.metrics["win_rate"] == pytest.approx(qs.win_rate(closed["pnl"].reset_index(drop=True)), rel=1e-12)


def test_benchmark_metrics_match_quantstats(qs, backtests):
    bench = next(iter(backtests.values())).benchmark.dropna()
    _check(qs, benchmark_metrics(bench), bench)
