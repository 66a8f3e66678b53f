"""What the research notebook's cells call: backtest a strategy with changed parameters,
show its equity, drawdown and trades, and sweep two parameters into a heatmap."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

from algotrading.backtest.engine import BacktestResult, run_backtest
from algotrading.backtest.grid import run_sweep, scheduler_address
from algotrading.backtest.window import backtest_window, load_market
from algotrading.config import Settings, load_settings
from algotrading.data.market import MarketData
from algotrading.report.tearsheet import drawdown_figure, equity_figure, format_metric, metrics_frame
from algotrading.report.universe import LAYOUT
from algotrading.strategies import Strategy, load_strategies

__all__ = [
    "backtest",
    "drawdown_figure",
    "equity_figure",
    "metrics_table",
    "sweep_heatmap",
    "sweep_table",
    "trades_table",
]


def _setup(
    name: str, start: str | None, end: str | None, symbols: list[str] | None
) -> tuple[Settings, Strategy, MarketData, dt.date, dt.date]:
    settings = load_settings()
    (strategy,) = load_strategies(settings, [name])
    first, last = backtest_window(
        settings, dt.date.fromisoformat(start) if start else None, dt.date.fromisoformat(end) if end else None
    )
    market, _ = load_market(settings, strategy, first, last, symbols)
    return settings, strategy, market, first, last


def backtest(
    name: str, start: str | None = None, end: str | None = None, symbols: list[str] | None = None, **overrides: Any
) -> BacktestResult:
    """Backtest strategy ``name`` with some parameters overridden (validated as in YAML)."""
    settings, strategy, market, first, last = _setup(name, start, end, symbols)
    if overrides:
        strategy = strategy.with_params(**overrides)
    return run_backtest(strategy, market, settings.backtest, start=first, end=last)


def metrics_table(result: BacktestResult) -> pd.DataFrame:
    frame = metrics_frame(result)
    return frame.apply(lambda col: [format_metric(n, v) for n, v in col.items()])


def trades_table(result: BacktestResult, last: int = 50) -> Styler:
    trades = result.trades.tail(last)
    return (
        trades.style.format(
            {"size": "{:.4f}", "entry_price": "{:.2f}", "exit_price": "{:.2f}", "pnl": "{:+.2f}", "return": "{:+.2%}"},
            na_rep="open",
        )
        .hide(axis="index")
        .set_caption(f"Last {len(trades)} of {len(result.trades)} trades")
    )


def sweep_table(
    name: str,
    grid: dict[str, list[Any]],
    start: str | None = None,
    end: str | None = None,
    symbols: list[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> pd.DataFrame:
    """Every combination of ``grid`` backtested on the same data: in this process, or on
    Dask with ``workers`` local worker processes or on the cluster at ``scheduler`` (or
    ``ALGOTRADING_DASK_SCHEDULER``). The same table either way."""
    settings, strategy, market, first, last = _setup(name, start, end, symbols)
    where = scheduler_address(scheduler, workers, settings)
    return run_sweep(strategy, market, grid, settings.backtest, start=first, end=last, workers=workers, scheduler=where)


def sweep_heatmap(table: pd.DataFrame, x: str, y: str, metric: str = "sharpe") -> go.Figure:
    """``metric`` over the two swept parameters (blank where a combination is invalid)."""
    grid = table.pivot_table(index=y, columns=x, values=metric, aggfunc="first", dropna=False)
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[str(v) for v in grid.columns],
            y=[str(v) for v in grid.index],
            colorscale="RdYlGn",
            colorbar={"title": metric},
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>{metric} %{{z:.3f}}<extra></extra>",
        )
    )
    fig.update_layout(title=f"{metric} by {x} and {y}", xaxis_title=x, yaxis_title=y, height=460, **LAYOUT)
    return fig
