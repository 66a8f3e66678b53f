"""The daily run's notebook steps: what the cells of 10_strategies, 20_ranking, 30_safety,
40_risk and 90_daily_report call to get their data.

Each step works in one of two places, chosen by ``run_dir`` (a papermill parameter):

- inside a daily run (``run_dir`` is the run's folder): read the inputs the steps before
  wrote, compute this step and write its artifact for the next notebook;
- opened by hand in JupyterLab (``run_dir`` None): compute everything here from the
  configured data, reading (never writing) the state store.

:class:`RunFolder` is that switch, written once; every step goes through it. The
decisions themselves are in :mod:`algotrading.decisions`; the tables and figures that
show a step's result are in :mod:`algotrading.report`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from algotrading.backtest.walkforward import StrategyRun, run_strategies
from algotrading.config import load_settings
from algotrading.daily import artifacts
from algotrading.daily.artifacts import RunContext
from algotrading.daily.inputs import inputs_from_run, inputs_here
from algotrading.daily.session import choose_session
from algotrading.daily.twin import TwinComparison
from algotrading.data import make_provider
from algotrading.data.bars import to_wide
from algotrading.data.market import MarketData
from algotrading.data.snapshot import MarketSnapshot, load_snapshot
from algotrading.decisions import plan as planner
from algotrading.decisions.plan import Plan, PlanInputs, Sizing
from algotrading.decisions.ranking import Ranking
from algotrading.storage.store import FILE_NAME, open_store

T = TypeVar("T")


class RunFolder:
    """Where a step reads its inputs and leaves its output: a daily run's folder, or
    nowhere (``None``: a notebook opened by hand computes its inputs itself)."""

    def __init__(self, run_dir: str | Path | None) -> None:
        self.path = Path(run_dir) if run_dir is not None else None

    def read_or(self, read: Callable[[Path], T], compute: Callable[[], T]) -> T:
        """The run's artifact (``read``) inside a run; otherwise ``compute()`` here."""
        return compute() if self.path is None else read(self.path)

    def keep(self, write: Callable[[Path, T], None], value: T) -> T:
        """Inside a run, write ``value`` as this step's artifact (for the next notebook)."""

        def written(path: Path) -> T:
            write(path, value)
            return value

        return self.read_or(written, lambda: value)


@dataclass(frozen=True)
class DailyView:
    """The data one report shows."""

    snapshot: MarketSnapshot
    context: RunContext
    strategies: StrategyRun | None = None
    plan: Plan | None = None
    alerts: tuple[dict[str, Any], ...] = ()  # the open monitoring alerts (this run's new ones marked)
    equity: pd.DataFrame | None = None  # the account's recorded equity up to the session
    twin: TwinComparison | None = None  # a live account's comparison with its paper twin (None: no twin)

    @property
    def close(self) -> pd.DataFrame:
        return to_wide(self.snapshot.bars, "close")


def daily_view(session_date: str | None = None, run_dir: str | None = None, with_strategies: bool = True) -> DailyView:
    """The run's artifacts when ``run_dir`` is given (the daily run passes it); otherwise
    load and validate the configured data here, exactly as the daily run does, and (with
    ``with_strategies``) run the strategies on it."""

    def recorded(folder: Path) -> DailyView:
        snapshot, context = artifacts.read_snapshot(folder)
        if not with_strategies:
            return DailyView(snapshot, context)
        return DailyView(
            snapshot,
            context,
            artifacts.read_strategy_run(folder),
            artifacts.read_plan(folder),
            tuple(artifacts.read_alerts(folder)),
            artifacts.read_equity_history(folder),
            _twin(folder),
        )

    return RunFolder(run_dir).read_or(recorded, lambda: _view_here(session_date, with_strategies))


def _twin(folder: Path) -> TwinComparison | None:
    doc = artifacts.read_twin(folder)
    return None if doc is None else TwinComparison.from_json(doc)


def _view_here(session_date: str | None, with_strategies: bool) -> DailyView:
    settings = load_settings()
    now = dt.datetime.now(dt.UTC)
    requested = dt.date.fromisoformat(session_date) if session_date else None
    choice = choose_session(settings, requested, now)
    if choice.session_date is None:
        raise ValueError(choice.closed_reason)
    snapshot = load_snapshot(make_provider(settings), settings.universe, choice.session_date, settings.data)
    context = RunContext(choice.session_date, settings.mode.value, settings.universe, now.isoformat(timespec="seconds"))
    if not with_strategies:
        return DailyView(snapshot, context)
    strategies = run_strategies(settings, MarketData.from_bars(snapshot.bars), choice.session_date)
    plan = planner.make_plan(inputs_here(settings, snapshot, strategies, choice.session_date), context.generated_at)
    alerts: list[dict[str, Any]] = []
    equity = None
    if (settings.paths.state_dir / FILE_NAME).exists():  # read only: what the daily runs recorded
        with open_store(settings.paths.state_dir, create=False) as store:
            alerts = [a | {"new": False} for a in store.open_alerts()]
            history = store.equity_history()
            equity = history[history["session_date"] <= pd.Timestamp(choice.session_date)]
    return DailyView(snapshot, context, strategies, plan, tuple(alerts), equity)


def strategies_step(session_date: str | None, run_dir: str | None, names: list[str] | None = None) -> StrategyRun:
    """The strategies notebook's work: run them on the session's validated data; inside
    a daily run also write the artifacts for the later notebooks."""
    view = daily_view(session_date, run_dir, with_strategies=False)
    run = run_strategies(load_settings(), MarketData.from_bars(view.snapshot.bars), view.context.session_date, names)
    return RunFolder(run_dir).keep(artifacts.write_strategy_run, run)


def plan_inputs(session_date: str | None, run_dir: str | None) -> PlanInputs:
    """A daily run's recorded inputs, or (run_dir None) the configured ones computed here."""
    settings = load_settings()

    def here() -> PlanInputs:
        view = daily_view(session_date, None)
        assert view.strategies is not None
        return inputs_here(settings, view.snapshot, view.strategies, view.context.session_date)

    return RunFolder(run_dir).read_or(lambda folder: inputs_from_run(folder, settings), here)


def ranking_step(session_date: str | None, run_dir: str | None) -> tuple[PlanInputs, Ranking]:
    """20_ranking: rank the session's signals (writes ``ranking.parquet`` in a run)."""
    data = plan_inputs(session_date, run_dir)
    return data, RunFolder(run_dir).keep(artifacts.write_ranking, planner.rank(data))


def sizing_step(session_date: str | None, run_dir: str | None) -> tuple[PlanInputs, Ranking, Sizing]:
    """30_safety: size the ranked buys and plan the sells (writes ``sizing.json`` in a run)."""
    folder = RunFolder(run_dir)
    data, ranking = folder.read_or(
        lambda path: (plan_inputs(session_date, run_dir), artifacts.read_ranking(path)),
        lambda: ranking_step(session_date, None),
    )
    return data, ranking, folder.keep(artifacts.write_sizing, planner.size(data, ranking))


def plan_step(session_date: str | None, run_dir: str | None) -> Plan:
    """40_risk: apply the risk rules and finish the plan (writes ``plan.json`` in a run)."""
    folder = RunFolder(run_dir)
    data, ranking, sizing = folder.read_or(
        lambda path: (plan_inputs(session_date, run_dir), artifacts.read_ranking(path), artifacts.read_sizing(path)),
        lambda: sizing_step(session_date, None),
    )
    plan = planner.finalize(data, ranking, sizing, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    return folder.keep(artifacts.write_plan, plan)
