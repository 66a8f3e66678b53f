"""What ``notebooks/dashboard.ipynb`` shows: the account as the broker has it now (demo:
the simulated ledger; paper/live: Alpaca), positions with P&L, the equity curve against
SPY bought with the same money, the latest plan, the risk state and strategy momentum.
It only reads: nothing is recorded, nothing is sent."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML
from pandas.io.formats.style import Styler

from algotrading import calendar as cal
from algotrading.backtest.engine import buy_and_hold
from algotrading.config import Settings, load_settings
from algotrading.daily import artifacts
from algotrading.daily.session import default_session
from algotrading.data import make_provider
from algotrading.data.bars import to_wide
from algotrading.data.market import MarketData
from algotrading.decisions.plan import Plan
from algotrading.execution.account import Account, load_account
from algotrading.report import decision_views as dv
from algotrading.report.strategy_views import momentum_lines_figure
from algotrading.report.universe import LAYOUT, date_axis
from algotrading.storage.store import StoreError, open_store

MARK_SESSIONS = 30  # sessions of prices loaded to mark the positions


@dataclass(frozen=True)
class Dashboard:
    settings: Settings
    session: dt.date
    account: Account
    equity: pd.DataFrame  # session_date, equity, peak_equity, drawdown (the store's history)
    benchmark: pd.Series  # closes of the benchmark over the equity history
    plan: Plan | None
    plan_dir: Path | None
    momentum: pd.DataFrame | None


def latest_run_dir(reports: Path, upto: dt.date) -> Path | None:
    """The newest ``reports/<D>/`` with a plan, D on or before ``upto``."""
    days = sorted(
        p
        for p in reports.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]")
        if p.name <= upto.isoformat() and (p / artifacts.PLAN).is_file()
    )
    return days[-1] if days else None


def load(session_date: str | None = None) -> Dashboard:
    """Read everything the dashboard shows, for ``session_date`` (default: the latest
    session of the configured data)."""
    settings = load_settings()
    now = dt.datetime.now(dt.UTC)
    session = dt.date.fromisoformat(session_date) if session_date else default_session(settings, now)
    equity = _equity_history(settings)
    first = min([cal.session_window(session, MARK_SESSIONS)[0], *(equity["session_date"].dt.date.tolist()[:1])])
    bars = make_provider(settings).get_bars(settings.universe.all_symbols, first, session)
    market = MarketData.from_bars(bars)
    account = load_account(settings, session, persist=False, market=market)
    close = to_wide(bars, "close")
    benchmark = close[settings.universe.benchmark] if settings.universe.benchmark in close else pd.Series(dtype=float)
    run_dir = latest_run_dir(settings.paths.reports_dir, session)
    plan = artifacts.read_plan(run_dir) if run_dir else None
    momentum = None
    if run_dir is not None and (run_dir / artifacts.STRATEGY_MOMENTUM).is_file():
        momentum = pd.read_parquet(run_dir / artifacts.STRATEGY_MOMENTUM)
    return Dashboard(settings, session, account, equity, benchmark, plan, run_dir, momentum)


def _equity_history(settings: Settings) -> pd.DataFrame:
    try:
        with open_store(settings.paths.state_dir, create=False) as store:
            return store.equity_history()
    except StoreError:
        return pd.DataFrame(
            {
                "session_date": pd.Series(dtype="datetime64[ns]"),
                "equity": pd.Series(dtype=float),
                "peak_equity": pd.Series(dtype=float),
                "drawdown": pd.Series(dtype=float),
            }
        )


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
    fig.add_trace(go.Scatter(x=frame.index, y=frame["equity"], name="account", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(
            x=frame.index,
            y=frame["benchmark"],
            name=f"{d.settings.universe.benchmark} buy and hold",
            mode="lines",
            line={"dash": "dot"},
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
