"""What ``notebooks/dashboard.ipynb`` reads: the account as the broker has it now (demo:
the simulated ledger; paper/live: Alpaca), the recorded equity history, the benchmark's
closes over it, the latest plan and strategy momentum. It only reads: nothing is
recorded, nothing is sent. :mod:`algotrading.report.dashboard_views` shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from algotrading import calendar as cal
from algotrading.config import Settings, load_settings
from algotrading.daily import artifacts
from algotrading.data import latest_session, make_provider
from algotrading.data.bars import to_wide
from algotrading.data.market import MarketData
from algotrading.decisions.plan import Plan
from algotrading.execution.account import Account, load_account
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
    session = dt.date.fromisoformat(session_date) if session_date else latest_session(settings, now)
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
