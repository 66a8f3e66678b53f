"""A one-file HTML tearsheet of a backtest: metrics, equity against the benchmark,
drawdown, and the trades. plotly.js is inlined once, so the page opens offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from algotrading.backtest.engine import BacktestResult, benchmark_metrics
from algotrading.report.plotly_json import stable_json
from algotrading.report.universe import BENCHMARK_LINE, LAYOUT, benchmark_trace, series_colour
from algotrading.storage.files import atomic_write_text

TEMPLATES = Path(__file__).resolve().parent / "templates" / "page"
PERCENT_METRICS = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure"}


def metrics_frame(result: BacktestResult) -> pd.DataFrame:
    """The strategy's metrics beside the benchmark's buy-and-hold ones."""
    bench = result.benchmark
    return pd.DataFrame({result.strategy: result.metrics, f"{bench.name} buy & hold": benchmark_metrics(bench)})


def summary_text(result: BacktestResult, initial_capital: float, excluded: dict[str, str]) -> str:
    """What ``algotrading backtest`` prints: the window and trades, then the metrics as a
    small aligned table (strategy beside buy-and-hold), then the symbols left out."""
    frame = metrics_frame(result)
    shown = frame.apply(lambda col: [format_metric(n, v) for n, v in col.items()])
    first, last = result.equity.index[0].date(), result.equity.index[-1].date()
    lines = [
        f"{result.strategy}: {first} .. {last}, {len(result.trades)} trades, "
        f"start ${initial_capital:,.0f}, end ${result.equity.iloc[-1]:,.2f}"
    ]
    with pd.option_context("display.width", 120):
        lines.append(shown.to_string())
    lines += [f"excluded {symbol}: {reason}" for symbol, reason in excluded.items()]
    return "\n".join(lines)


def format_metric(name: str, value: float) -> str:
    if pd.isna(value):
        return ""
    if name in PERCENT_METRICS:
        return f"{value:+.2%}" if name != "win_rate" and name != "exposure" else f"{value:.1%}"
    if name == "trades":
        return f"{value:.0f}"
    if name == "fees_paid":
        return f"${value:,.2f}"
    return f"{value:.2f}"


def equity_figure(result: BacktestResult) -> go.Figure:
    fig = go.Figure()
    colour = {"color": series_colour(result.strategy)}
    fig.add_trace(
        go.Scatter(x=result.equity.index, y=result.equity.round(2), name=result.strategy, mode="lines", line=colour)
    )
    fig.add_trace(benchmark_trace(result.benchmark))
    fig.update_layout(title="Equity", yaxis_title="$", hovermode="x unified", height=420, **LAYOUT)
    return fig


def drawdown_figure(result: BacktestResult) -> go.Figure:
    fig = go.Figure()
    lines = (
        (result.equity, result.strategy, {"color": series_colour(result.strategy)}),
        (result.benchmark, f"{result.benchmark.name} buy & hold", BENCHMARK_LINE),
    )
    for series, name, line in lines:
        dd = (series / series.cummax() - 1) * 100
        fill = "tozeroy" if name == result.strategy else None
        fig.add_trace(go.Scatter(x=dd.index, y=dd.round(2), name=name, mode="lines", fill=fill, line=line))
    fig.update_layout(title="Drawdown (%)", yaxis_title="%", hovermode="x unified", height=300, **LAYOUT)
    return fig


def write_tearsheet(result: BacktestResult, path: Path, params: dict[str, object], subtitle: str) -> None:
    """Write the tearsheet of ``result`` to ``path`` (atomically)."""
    stable_json()
    metrics = metrics_frame(result)
    shown = metrics.apply(lambda col: [format_metric(n, v) for n, v in col.items()])
    trades = result.trades.copy()
    for col in ("entry_date", "exit_date"):
        trades[col] = pd.to_datetime(trades[col]).dt.strftime("%Y-%m-%d").fillna("open")
    trades = trades.round({"size": 4, "entry_price": 2, "exit_price": 2, "pnl": 2, "return": 4})
    figures = "".join(
        pio.to_html(fig, include_plotlyjs=False, full_html=False, include_mathjax=False)
        for fig in (equity_figure(result), drawdown_figure(result))
    )
    html = render_page(
        title=f"Backtest: {result.strategy}",
        subtitle=subtitle,
        sections=[
            {"heading": "Metrics", "html": shown.to_html()},
            {"heading": None, "html": figures},
            {"heading": "Parameters", "html": pd.Series(params, name="value").to_frame().to_html()},
            {"heading": f"Trades ({len(trades)})", "html": trades.to_html(index=False, na_rep="")},
        ],
        note="Signals at a session's close fill at the next session's open; position sizes are a fraction of the "
        "strategy's capital in fractional shares; costs as in params/backtest.yaml.",
    )
    atomic_write_text(path, html)


@lru_cache(maxsize=1)
def _pages() -> jinja2.Environment:
    """One Jinja environment per process: it keeps its compiled templates (reloaded when a
    file changes), where a new one compiled the page on every render."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)


def render_page(title: str, subtitle: str, sections: list[dict[str, str | None]], note: str) -> str:
    """A self-contained page (plotly.js inlined once, no network needed to open it):
    a title, then each section's heading and HTML (tables, figures), then a note."""
    return (
        _pages()
        .get_template("page.html.j2")
        .render(title=title, subtitle=subtitle, sections=sections, note=note, plotly_js=get_plotlyjs())
    )
