"""What ``notebooks/dashboard.ipynb`` shows of a :class:`~algotrading.daily.dashboard.Dashboard`
(read by :func:`algotrading.daily.dashboard.load`): positions with P&L, the equity curve
against SPY bought with the same money, the latest plan, the risk state and strategy
momentum. Formatting only."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML
from pandas.io.formats.style import Styler

from algotrading.backtest.engine import buy_and_hold
from algotrading.daily.dashboard import Dashboard
from algotrading.report import decision_views as dv
from algotrading.report.strategy_views import momentum_lines_figure
from algotrading.report.universe import BENCHMARK_LINE, LAYOUT, date_axis, series_colour


def account_summary(d: Dashboard) -> HTML:
    risk = d.account.risk.state.value.replace("_", " ")
    if d.account.risk.since:
        risk += f" since {d.account.risk.since}: {d.account.risk.reason}"
    return dv.account_summary(d.account.portfolio, d.settings.safety.portfolio_size, risk, d.account.notes)


def equity_vs_benchmark(d: Dashboard) -> pd.DataFrame:
    """The account's recorded equity and the benchmark bought with the same money on the
    first recorded session (buy and hold), by session."""
    if d.equity.empty:
        return pd.DataFrame(columns=["equity", "benchmark"])
    eq = d.equity.set_index(pd.to_datetime(d.equity["session_date"]))["equity"]
    bought = buy_and_hold(d.benchmark.reindex(eq.index), float(eq.iloc[0]))
    return pd.DataFrame({"equity": eq, "benchmark": bought.round(2)})


def equity_figure(d: Dashboard) -> go.Figure:
    frame = equity_vs_benchmark(d)
    fig = go.Figure()
    account = {"color": series_colour("account")}
    fig.add_trace(go.Scatter(x=frame.index, y=frame["equity"], name="account", mode="lines+markers", line=account))
    fig.add_trace(
        go.Scatter(
            x=frame.index,
            y=frame["benchmark"],
            name=f"{d.settings.universe.benchmark} buy and hold",
            mode="lines",
            line=BENCHMARK_LINE,
        )
    )
    axis = {"type": "date", **date_axis(frame.index)} if len(frame) else {}
    fig.update_layout(
        title=f"Equity vs {d.settings.universe.benchmark} from the same start ($)",
        height=380,
        hovermode="x unified",
        xaxis=axis,
        **LAYOUT,
    )
    return fig


def plan_table(d: Dashboard) -> Styler | HTML:
    if d.plan is None:
        return HTML("<p>No plan yet: run <code>./run_daily.sh</code>.</p>")
    return dv.orders_table(d.plan)


def momentum_figure(d: Dashboard) -> go.Figure | HTML:
    if d.momentum is None or d.momentum.empty:
        return HTML("<p>No strategy momentum yet: it comes with the first daily run.</p>")
    rk = d.settings.ranking
    return momentum_lines_figure(d.momentum, rk.min_momentum_threshold, rk.momentum_lookback_days)


def risk_view(d: Dashboard) -> HTML:
    """The persisted risk state now, and the latest plan's restrictions and circuit breaker."""
    if d.plan is not None:
        return dv.risk_banner(d.plan)
    state = d.account.risk.state.value.replace("_", " ")
    return HTML(f"<p><b>Risk state: {state}</b> (no plan yet)</p>")
