"""Tables and figures of the strategies' signals and performance, for the strategies
notebook and the report. No decisions here: they come from
:mod:`algotrading.backtest.walkforward`, run by :func:`algotrading.daily.steps.strategies_step`."""

from __future__ import annotations

import html
import json

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML
from pandas.io.formats.style import Styler

from algotrading.backtest.engine import METRIC_NAMES
from algotrading.backtest.walkforward import StrategyRun
from algotrading.report.universe import LAYOUT, benchmark_trace, series_colour
from algotrading.strategies import REGISTRY


def _title(name: str) -> str:
    cls = REGISTRY.get(name)
    return cls.title if cls is not None else name


def run_summary(run: StrategyRun) -> HTML:
    """What ran and how many signals came out."""
    perf = run.performance
    buys = int((run.signals["action"] == "BUY").sum())
    fresh_sells = int(((run.signals["action"] == "SELL") & run.signals["fresh"]).sum())
    standing = int(((run.signals["action"] == "SELL") & ~run.signals["fresh"]).sum())
    eligible = [_title(n) for n in perf.momentum.index if perf.momentum[n] > perf.threshold]
    lines = [
        f"<b>{len(perf.momentum)}</b> strategies ran on {run.session}: <b>{buys}</b> BUY signal(s), "
        f"<b>{fresh_sells}</b> new SELL signal(s), {standing} standing exit condition(s).",
        f"Momentum over {perf.lookback_days} calendar days above {perf.threshold:+.1%}: "
        + (", ".join(eligible) if eligible else "<b>none</b> (no strategy is eligible to trade)"),
    ]
    lines += [f"Not run: {_title(n)}: {html.escape(why)}" for n, why in run.skipped.items()]
    return HTML("".join(f"<p>{line}</p>" for line in lines))


def signals_table(run: StrategyRun) -> HTML:
    """BUY signals and new SELL signals, strategy by strategy, with their reasons."""
    s = run.signals
    shown = s[(s["action"] == "BUY") | s["fresh"]]
    if shown.empty:
        return HTML(f"<p>No BUY signal and no new SELL signal on {run.session}.</p>")
    parts = []
    for name, rows in shown.groupby("strategy", sort=False):
        table = rows.assign(
            confidence=rows["confidence"].where(rows["action"] == "BUY"),
            stop=rows["stop_price"],
            target=rows["target_price"],
        )[["symbol", "action", "confidence", "price", "stop", "target", "reason"]]
        styled = (
            table.style.format(
                {"confidence": "{:.2f}", "price": "{:.2f}", "stop": "{:.2f}", "target": "{:.2f}"}, na_rep=""
            )
            .hide(axis="index")
            .set_caption(f"{_title(str(name))}: {len(rows)} signal(s)")
        )
        parts.append(styled.to_html())
    standing = s[(s["action"] == "SELL") & ~s["fresh"]]
    if not standing.empty:
        by = standing.groupby("strategy")["symbol"].apply(lambda x: ", ".join(sorted(x)))
        items = "".join(f"<li>{_title(str(k))}: {v}</li>" for k, v in by.items())
        parts.append(
            "<details><summary>Standing exit conditions (a holding of these would be sold)</summary>"
            f"<ul>{items}</ul></details>"
        )
    return HTML("".join(parts))


#: The performance table's columns in a trader's words.
COLUMN_NAMES = {
    "momentum": "Momentum",
    "eligible": "Ranked today",
    "weight": "Capital weight",
    "total_return": "Total return",
    "cagr": "CAGR",
    "max_drawdown": "Max drawdown",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "win_rate": "Win rate",
    "exposure": "Time invested",
    "trades": "Trades",
}


def performance_table(run: StrategyRun) -> Styler:
    """Momentum, whether its signals are ranked today, capital weight and backtest metrics
    per strategy, with readable column names."""
    table = run.performance.table().rename(index=_title)
    table = table[["momentum", "eligible", "weight", *(m for m in METRIC_NAMES if m != "fees_paid")]].copy()
    table["eligible"] = table["eligible"].map({True: "yes", False: "no"})
    pct = ["momentum", "weight", "total_return", "cagr", "max_drawdown", "win_rate", "exposure"]
    formats = {COLUMN_NAMES.get(c, c): "{:+.1%}" for c in pct} | {
        "Sharpe": "{:.2f}",
        "Sortino": "{:.2f}",
        "Trades": "{:.0f}",
    }
    return (
        table.rename(columns=COLUMN_NAMES)
        .style.format(formats, na_rep="n/a")
        .set_caption(
            f"Strategy performance on {run.session}: momentum over {run.performance.lookback_days} days "
            f"(ranked above {run.performance.threshold:+.1%}); metrics of each walk-forward backtest"
        )
    )


def momentum_figure(run: StrategyRun) -> go.Figure:
    """Each strategy's momentum as a bar, the eligibility threshold as a line."""
    perf = run.performance
    values = (perf.momentum * 100).round(2)
    colours = ["#2e7d32" if v > perf.threshold * 100 else "#c62828" for v in values]
    fig = go.Figure(
        go.Bar(x=[_title(n) for n in values.index], y=values, marker_color=colours, text=values.map("{:+.1f}%".format))
    )
    fig.add_hline(y=perf.threshold * 100, line_dash="dash", annotation_text="threshold")
    fig.update_layout(
        title=f"Strategy momentum, last {perf.lookback_days} days (%)", yaxis_title="%", height=380, **LAYOUT
    )
    return fig


def equity_figure(run: StrategyRun) -> go.Figure:
    """Each strategy's walk-forward equity against buy-and-hold of the benchmark."""
    perf = run.performance
    fig = go.Figure()
    for name in perf.equity.columns:
        line = {"color": series_colour(name)}
        fig.add_trace(
            go.Scatter(x=perf.equity.index, y=perf.equity[name].round(2), name=_title(name), mode="lines", line=line)
        )
    fig.add_trace(benchmark_trace(perf.benchmark))
    fig.update_layout(
        title="Strategy equity (walk-forward backtests, same starting capital)",
        yaxis_title="$",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
        **LAYOUT,
    )
    return fig


def momentum_history_figure(run: StrategyRun) -> go.Figure:
    """The momentum measure on every session: how eligibility has changed."""
    perf = run.performance
    return momentum_lines_figure(perf.momentum_history, perf.threshold, perf.lookback_days)


def momentum_lines_figure(history: pd.DataFrame, threshold: float, lookback_days: int) -> go.Figure:
    """Strategy momentum (date-indexed fractions, or with a ``date`` column) as lines."""
    if "date" in history.columns:
        history = history.set_index("date")
    history = history.dropna(how="all") * 100
    fig = go.Figure()
    for name in history.columns:
        line = {"color": series_colour(name)}
        fig.add_trace(go.Scatter(x=history.index, y=history[name].round(2), name=_title(name), mode="lines", line=line))
    fig.add_hline(y=threshold * 100, line_dash="dash")
    fig.update_layout(
        title=f"Rolling {lookback_days}-day strategy momentum (%)",
        yaxis_title="%",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
        **LAYOUT,
    )
    return fig


def correlation_table(run: StrategyRun) -> Styler:
    corr = run.performance.correlation.rename(index=_title, columns=_title)
    return (
        corr.style.format("{:.2f}")
        .background_gradient(cmap="Reds", vmin=0, vmax=1)
        .set_caption("Correlation of the strategies' daily returns")
    )


def facts_of(run: StrategyRun, symbol: str, strategy: str) -> dict[str, object]:
    """The facts behind one signal (for research in JupyterLab)."""
    rows = run.signals[(run.signals["symbol"] == symbol) & (run.signals["strategy"] == strategy)]
    return json.loads(rows["facts"].iloc[0]) if len(rows) else {}
