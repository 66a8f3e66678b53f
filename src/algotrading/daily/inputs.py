"""Gather one session's plan inputs: from a daily run's folder (what the decision
notebooks do) or from the configured sources (a notebook opened by hand)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from algotrading.backtest.walkforward import StrategyRun
from algotrading.config import Settings
from algotrading.daily import artifacts
from algotrading.data.bars import to_wide
from algotrading.data.market import MarketData
from algotrading.data.snapshot import MarketSnapshot
from algotrading.decisions.plan import PlanInputs
from algotrading.execution.account import Account, load_account
from algotrading.execution.outcomes import order_fates
from algotrading.portfolio import AssetBook
from algotrading.storage.store import FILE_NAME, open_store
from algotrading.strategies import load_strategies


def max_holds(settings: Settings) -> dict[str, int | None]:
    """Each strategy's maximum holding time (disabled strategies too: they may own holdings)."""
    return {s.name: s.max_hold() for s in load_strategies(settings, include_disabled=True)}


def plan_inputs(
    settings: Settings,
    session: dt.date,
    close: pd.DataFrame,
    strategies: StrategyRun,
    account: Account,
    assets: AssetBook | None = None,
    max_hold: dict[str, int | None] | None = None,
    previous_orders: list[dict[str, Any]] | None = None,
    ramp_note: str | None = None,
    signal_rows: tuple[Any, ...] | None = None,
) -> PlanInputs:
    """The plan's inputs from the session's closes (wide, up to the session), the
    strategies' run and the account. ``max_hold``: :func:`max_holds`, when already known;
    ``signal_rows``: the rows of ``strategies.signals``, when already made (replay)."""
    perf = strategies.performance
    return PlanInputs(
        session=session,
        mode=settings.mode.value,
        signals=strategies.signals,
        momentum=perf.momentum,
        weights=perf.weights,
        correlation=perf.correlation,
        portfolio=account.portfolio,
        risk=account.risk,
        close=close,
        assets=assets or account.assets,
        settings=settings,
        max_hold=max_hold if max_hold is not None else max_holds(settings),
        open_orders=tuple(sorted({o.symbol for o in account.open_orders})),
        account_notes=account.notes,
        previous_orders=tuple(previous_orders or ()),
        ramp_note=ramp_note,
        at_broker=account.at_broker,
        made_signal_rows=signal_rows,
    )


def inputs_from_run(run_dir: Path, settings: Settings) -> PlanInputs:
    """The inputs as the daily run recorded them in ``run_dir``."""
    snapshot, _ = artifacts.read_snapshot(run_dir)
    strategies = artifacts.read_strategy_run(run_dir)
    scale, note = artifacts.read_limits(run_dir)
    return plan_inputs(
        scaled_limits(settings, scale),
        snapshot.session_date,
        to_wide(snapshot.bars, "close"),
        strategies,
        artifacts.read_account(run_dir),
        previous_orders=artifacts.read_previous_orders(run_dir),
        ramp_note=note,
    )


def scaled_limits(settings: Settings, scale: float) -> Settings:
    """``settings`` with MAX_POSITION_SIZE and max_position_pct times ``scale`` (the live
    ramp); the same settings when ``scale`` is 1."""
    if scale >= 1.0:
        return settings
    sf = settings.safety
    safety = sf.model_copy(
        update={"max_position_size": sf.max_position_size * scale, "max_position_pct": sf.max_position_pct * scale}
    )
    return settings.model_copy(update={"safety": safety})


def inputs_here(settings: Settings, snapshot: MarketSnapshot, strategies: StrategyRun, session: dt.date) -> PlanInputs:
    """The inputs computed now, reading (never writing) the state store."""
    account = load_account(settings, session, persist=False, market=MarketData.from_bars(snapshot.bars))
    fates: list[dict[str, Any]] = []
    if (settings.paths.state_dir / FILE_NAME).exists():
        with open_store(settings.paths.state_dir, create=False) as store:
            fates = [f.to_json() for f in order_fates(store, session)]
    close = to_wide(snapshot.bars, "close")
    return plan_inputs(settings, snapshot.session_date, close, strategies, account, previous_orders=fates)
