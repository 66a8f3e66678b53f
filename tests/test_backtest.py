"""Backtest sanity on vectorbt: always-long equals buy-and-hold, costs behave, no look-ahead,
metrics by hand, and the ``algotrading backtest`` command."""

from __future__ import annotations

import datetime as dt
import math
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from algotrading.backtest.engine import compute_metrics, run_backtest
from algotrading.backtest.performance import track
from algotrading.cli import main
from algotrading.config import BacktestParams, load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.strategies import load_strategies
from algotrading.strategies.base import Action, SignalFrames, Strategy, StrategyParams

from .helpers import universe

START, END = dt.date(2020, 1, 2), dt.date(2021, 12, 31)


class AlwaysLong(Strategy):
    """Buys its one symbol on the first session and never sells."""

    name: ClassVar[str] = "always_long"
    title: ClassVar[str] = "Always long"
    summary: ClassVar[str] = "test strategy"
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def symbols(self) -> list[str]:
        return ["SPY"]

    def generate(self, market: MarketData) -> SignalFrames:
        close = market.close[["SPY"]]
        entry = close.notna()
        never = entry & False
        return SignalFrames(self.name, entry, never, entry.astype(float), never)

    def explain(self, action: Action, facts: Mapping[str, Any]) -> str:
        return "always"


@pytest.fixture(scope="module")
def spy() -> MarketData:
    return MarketData.from_bars(BundledBarsProvider().get_bars(["SPY"], START, END))


def costs(fees: float = 0.0, slippage: float = 0.0) -> BacktestParams:
    return BacktestParams(
        initial_capital=1000,
        fees_pct=fees,
        slippage_pct=slippage,
        min_entry_value=50,
        warmup_sessions=0,
        correlation_sessions=20,
    )


def always_long() -> AlwaysLong:
    params = StrategyParams(enabled=True, position_fraction=1.0, stop_loss_pct=None, take_profit_pct=None)
    return AlwaysLong(params, universe({"broad_etfs": ["SPY"]}))


def test_always_long_equals_buy_and_hold(spy):
    result = run_backtest(always_long(), spy, costs())
    open_, close = spy.open["SPY"], spy.close["SPY"]
    shares = 1000 / open_.iloc[1]  # signal on the first close, filled at the second session's open
    expected = shares * close
    expected.iloc[0] = 1000.0
    np.testing.assert_allclose(result.equity.to_numpy(), expected.to_numpy(), rtol=1e-10)
    assert result.metrics["trades"] == 1 and result.trades["status"].tolist() == ["open"]
    assert result.metrics["exposure"] == pytest.approx(1 - 1 / len(spy.dates))


@pytest.mark.parametrize(("fees", "slippage"), [(0.1, 0.0), (0.0, 0.1), (0.2, 0.05)])
def test_fees_and_slippage_cost_exactly_what_they_should(spy, fees, slippage):
    free = run_backtest(always_long(), spy, costs())
    costly = run_backtest(always_long(), spy, costs(fees, slippage))
    # all cash buys at open x (1 + slippage), paying fees on top: fewer shares by both factors
    factor = 1 / ((1 + fees / 100) * (1 + slippage / 100))
    np.testing.assert_allclose(costly.equity.iloc[1:].to_numpy(), free.equity.iloc[1:].to_numpy() * factor, rtol=1e-9)
    paid = costly.metrics["fees_paid"]
    assert paid == pytest.approx(1000 * factor * (1 + slippage / 100) * fees / 100 * 1, rel=1e-6) if fees else paid == 0


def test_equity_before_a_date_does_not_depend_on_later_bars(workdirs):
    settings = load_settings()
    bars = BundledBarsProvider().get_bars(settings.universe.all_symbols, dt.date(2019, 1, 2), dt.date(2022, 12, 30))
    market = MarketData.from_bars(bars)
    cut = dt.date(2021, 9, 30)
    for strategy in load_strategies(settings):
        full = run_backtest(strategy, market, settings.backtest, start=dt.date(2020, 3, 2))
        part = run_backtest(strategy, market, settings.backtest, start=dt.date(2020, 3, 2), end=cut)
        pd.testing.assert_series_equal(full.equity.loc[:cut], part.equity, obj=strategy.name)


def test_a_sessions_metrics_from_a_longer_backtest_are_those_of_a_backtest_ending_there(workdirs):
    """A replay backtests once for many sessions: session D's metrics (total return,
    trades, win rate, fees ...) must be what a backtest ending on D says, not the whole run's."""
    settings = load_settings()
    bars = BundledBarsProvider().get_bars(settings.universe.all_symbols, dt.date(2019, 1, 2), dt.date(2022, 12, 30))
    market = MarketData.from_bars(bars)
    costly = settings.backtest.model_copy(update={"fees_pct": 0.1})
    cut = dt.date(2021, 9, 30)
    for strategy in load_strategies(settings):
        full = run_backtest(strategy, market, costly, start=dt.date(2020, 3, 2))
        part = run_backtest(strategy, market, costly, start=dt.date(2020, 3, 2), end=cut)
        got, want = full.metrics_asof(cut), part.metrics
        assert set(got) == set(want)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, nan_ok=True), (strategy.name, key)
        assert want["fees_paid"] > 0 and want["trades"] > 0
        assert full.metrics["total_return"] != pytest.approx(want["total_return"])  # the future differs
        tracked = track([full], cut, 90, 0.0, 252).table().loc[strategy.name]
        assert tracked["total_return"] == pytest.approx(want["total_return"], rel=1e-9)  # what ranking shows


def test_metrics_by_hand():
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2025-01-02"])
    equity = pd.Series([100.0, 110.0, 99.0, 121.0], index=index)
    trades = pd.DataFrame({"status": ["closed", "closed", "closed", "open"], "pnl": [5.0, -2.0, 1.0, 3.0]})
    positions = pd.Series([0, 1, 1, 2], index=index)
    m = compute_metrics(equity, trades, positions, fees_paid=1.5)
    returns = np.array([0.1, -0.1, 121 / 99 - 1])
    assert m["total_return"] == pytest.approx(0.21)
    assert m["cagr"] == pytest.approx(1.21 ** (365.25 / 366) - 1)
    assert m["max_drawdown"] == pytest.approx(99 / 110 - 1)
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(252))
    assert m["sortino"] == pytest.approx(returns.mean() / math.sqrt((0.01 + 0 + 0) / 3) * math.sqrt(252))
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert (m["trades"], m["exposure"], m["fees_paid"]) == (4, 0.75, 1.5)


@pytest.mark.slow
def test_cli_backtest_prints_metrics_and_writes_a_tearsheet(workdirs, tmp_path, capsys):
    out = tmp_path / "dm.html"
    assert (
        main(
            [
                "backtest",
                "--strategy",
                "dual_momentum",
                "--start",
                "2019-01-02",
                "--end",
                "2020-12-31",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("dual_momentum: 2019-01-02 .. 2020-12-31, ")
    for metric in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades", "exposure"):
        assert re.search(rf"^{metric}\s", text, re.M), metric
    html = out.read_text()
    assert "<title>Backtest: dual_momentum</title>" in html
    assert html.count("Plotly.newPlot(") == 2 and not re.search(r"<script[^>]*\bsrc=", html)


def test_cli_backtest_refuses_bad_requests(workdirs, capsys):
    assert main(["backtest", "--strategy", "golden_cross", "--end", "2026-06-30"]) == 2
    assert "after the latest session with the bundled data (2025-12-31)" in capsys.readouterr().err
    assert main(["backtest", "--strategy", "sector_rotation", "--symbols", "AAPL"]) == 2
    assert "--symbols AAPL: not traded by sector_rotation" in capsys.readouterr().err
    assert main(["backtest", "--strategy", "nope"]) == 2
    assert "unknown strategy nope" in capsys.readouterr().err


def test_a_sweep_equals_the_single_backtests(workdirs):
    from algotrading.backtest.engine import sweep

    settings = load_settings()
    symbols = ["SPY", "QQQ", "XLK", "AAPL", "XOM", "JPM"]
    bars = BundledBarsProvider().get_bars(symbols, dt.date(2018, 1, 2), dt.date(2022, 12, 30))
    market = MarketData.from_bars(bars)
    (gc,) = load_strategies(settings, ["golden_cross"])
    gc = gc.with_params(groups=["broad_etfs", "stocks"])
    grid = {"fast_window": [20, 50], "slow_window": [50, 150]}
    table = sweep(gc, market, grid, settings.backtest, start=dt.date(2019, 1, 2), max_columns=10).set_index(
        ["fast_window", "slow_window"]
    )
    assert table.loc[(50, 50), "error"].endswith("fast_window (50) must be shorter than slow_window (50)")
    for fast, slow in [(20, 50), (20, 150), (50, 150)]:
        single = run_backtest(
            gc.with_params(fast_window=fast, slow_window=slow), market, settings.backtest, start=dt.date(2019, 1, 2)
        )
        for metric in ("total_return", "sharpe", "max_drawdown"):
            assert table.loc[(fast, slow), metric] == pytest.approx(single.metrics[metric], rel=1e-9), (
                fast,
                slow,
                metric,
            )


def test_a_series_keeps_its_colour_across_the_tearsheets_charts(spy):
    """The strategy in its own colour in both charts, the benchmark a solid grey line in
    both (a dashed line over years of daily points reads as broken)."""
    from algotrading.report.tearsheet import drawdown_figure, equity_figure
    from algotrading.report.universe import BENCHMARK_LINE, SERIES_COLOURS, series_colour

    result = run_backtest(always_long(), spy, costs())
    for fig in (equity_figure(result), drawdown_figure(result)):
        strategy, benchmark = fig.data
        assert strategy.line.color == series_colour(result.strategy)
        assert benchmark.line.color == BENCHMARK_LINE["color"] and benchmark.line.dash is None
    assert series_colour("Golden Cross") == SERIES_COLOURS["golden_cross"] == series_colour("golden_cross")
    assert series_colour("always_long") == series_colour("always_long")  # unknown names: stable too


def test_vectorbt_is_imported_without_its_unused_extras_which_still_import_afterwards():
    """quantstats and ipywidgets are hidden only while vectorbt is imported (a fresh
    interpreter, so nothing imported them before): vectorbt works, they were not loaded
    by it, and importing them afterwards gives the real modules."""
    code = (
        "import sys\n"
        "from algotrading.backtest.engine import HIDDEN_DURING_IMPORT, vectorbt\n"
        "vbt = vectorbt()\n"
        "print(sorted(n for n in HIDDEN_DURING_IMPORT if n in sys.modules))\n"
        "import quantstats, ipywidgets\n"
        "print(quantstats.__name__, ipywidgets.__name__, vbt.settings['plotting']['use_widgets'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "quantstats ipywidgets False"]


def test_in_a_jupyter_kernel_vectorbt_keeps_ipywidgets_so_tqdm_does_not_warn():
    """In a notebook, tqdm.auto (which vectorbt imports) draws its bars with ipywidgets and
    warns "IProgress not found" without it: there ipywidgets is not hidden, and the cell
    that imports vectorbt prints nothing (nbval compares the strategies notebook's cells)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    code = "import sys\nfrom algotrading.backtest.engine import vectorbt\nvbt = vectorbt()\n'ipywidgets' in sys.modules"
    nb.cells = [nbformat.v4.new_code_cell(code)]
    NotebookClient(nb, kernel_name="python3", timeout=300).execute()
    (result,) = nb.cells[0].outputs  # no stream output beside the value
    assert result["output_type"] == "execute_result"
    assert result["data"]["text/plain"] == "True"
