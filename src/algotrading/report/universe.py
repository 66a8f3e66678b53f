"""How the universe has performed: period returns per symbol and equal-weight group
indices against the benchmark, as tables and a plotly figure for the report."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from algotrading.config import Universe
from algotrading.indicators import period_return, rebase

#: Report horizons, in sessions.
HORIZONS = {"1M": 21, "3M": 63, "6M": 126, "1Y": 252}
#: Layout shared by the report's figures.
LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 40}}


#: One colour per series in every chart of the report, tearsheet, replay and dashboard.
#: The benchmark is a solid grey line: a dashed line over thousands of daily points
#: reads as broken.
SERIES_COLOURS = {
    "golden_cross": "#1565c0",
    "mean_reversion": "#2e7d32",
    "dual_momentum": "#6a1b9a",
    "sector_rotation": "#ef6c00",
    "account": "#1a237e",
}
BENCHMARK_LINE = {"color": "#757575", "width": 1.5}
OTHER_COLOURS = ("#00838f", "#ad1457", "#5d4037", "#455a64")


def series_colour(name: str) -> str:
    """The colour of ``name`` (a strategy, or "account"), the same in every chart; a name
    not in :data:`SERIES_COLOURS` gets a stable one of :data:`OTHER_COLOURS`."""
    key = name.lower().replace(" ", "_")
    if key in SERIES_COLOURS:
        return SERIES_COLOURS[key]
    return OTHER_COLOURS[sum(key.encode()) % len(OTHER_COLOURS)]


def benchmark_trace(series: pd.Series) -> go.Scatter:
    """The benchmark bought and held, drawn the same way in every equity chart."""
    return go.Scatter(
        x=series.index,
        y=series.round(2),
        name=f"{series.name} buy & hold",
        mode="lines",
        line=BENCHMARK_LINE,
    )


def date_axis(days: pd.Series | pd.Index) -> dict[str, object]:
    """x-axis settings at least a week wide, so one or two points do not zoom to milliseconds."""
    lo, hi = pd.Timestamp(min(days)), pd.Timestamp(max(days))
    if hi - lo >= pd.Timedelta(days=7):
        return {}
    mid = lo + (hi - lo) / 2
    return {"range": [mid - pd.Timedelta(days=4), mid + pd.Timedelta(days=4)], "tickformat": "%b %d"}


def period_returns(close: pd.DataFrame, universe: Universe) -> pd.DataFrame:
    """Per symbol: its group and its return over each horizon as of the last row.

    Index series (``^VIX``) are left out. A horizon longer than the symbol's history is
    NaN. Sorted by 3-month return.
    """
    indices = [s for s in close.columns if s.startswith("^")]  # an index level is not a return
    close = close.drop(columns=indices)
    never = pd.Series(float("nan"), index=close.columns)
    last = {name: period_return(close, n).iloc[-1] if n < len(close) else never for name, n in HORIZONS.items()}
    table = pd.DataFrame(last)
    table.insert(0, "group", [universe.group_of(s) for s in table.index])
    table.index.name = "symbol"
    return table.sort_values("3M", ascending=False)


def group_indices(close: pd.DataFrame, universe: Universe, sessions: int = 252) -> pd.DataFrame:
    """Equal-weight index of each group over the last ``sessions`` sessions (start = 100),
    plus the benchmark by itself."""
    window = close.iloc[-(sessions + 1) :]
    rebased = rebase(window)
    tradable = [s for s in rebased.columns if universe.group_of(s) != "market"]
    by_group = rebased[tradable].T.groupby(lambda s: universe.group_of(s)).mean().T
    ordered = [g for g in universe.groups if g in by_group.columns]
    out = by_group[ordered]
    if universe.benchmark in rebased.columns:
        out = out.assign(**{universe.benchmark: rebased[universe.benchmark]})
    return out


def group_indices_figure(indices: pd.DataFrame, benchmark: str) -> go.Figure:
    """Lines of the group indices, the benchmark dashed."""
    fig = go.Figure()
    for name in indices.columns:
        dashed = name == benchmark
        fig.add_trace(
            go.Scatter(
                x=indices.index,
                y=indices[name].round(2),
                name=f"{name} (benchmark)" if dashed else name.replace("_", " "),
                mode="lines",
                line=BENCHMARK_LINE if dashed else {"width": 1.6},
            )
        )
    days = len(indices) - 1
    fig.update_layout(
        title=f"Universe performance: equal-weight groups vs {benchmark}, last {days} sessions (start = 100)",
        yaxis_title="growth of 100",
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
        **LAYOUT,
    )
    return fig


def returns_bar_figure(returns: pd.DataFrame, horizon: str = "3M") -> go.Figure:
    """Every symbol's return over ``horizon``, coloured by group."""
    data = returns.dropna(subset=[horizon]).sort_values(horizon)
    fig = go.Figure()
    title = f"{horizon} return by symbol (%)"
    if data.empty:  # the data's first sessions: no symbol has that much history yet
        title = f"{horizon} return by symbol: not enough history yet"
    for group, rows in data.groupby("group", sort=False):
        fig.add_trace(go.Bar(x=rows.index, y=(rows[horizon] * 100).round(2), name=str(group).replace("_", " ")))
    fig.update_layout(
        title=title,
        xaxis={"categoryorder": "total ascending", "tickangle": -60},
        yaxis_title="%",
        barmode="relative",
        legend={"orientation": "h", "y": -0.3},
        **LAYOUT,
    )
    return fig
