"""The run-folder catalog: the names and formats of the files a run leaves in its folder
(``reports/<D>/``), so the job and the steps that write them and the notebooks, report,
email and monitor that read them agree in one place. Every run-folder file name is
defined here (``tests/test_layout.py`` checks it)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from algotrading.backtest.performance import StrategyPerformance
from algotrading.backtest.walkforward import StrategyRun
from algotrading.broker.base import OrderStatus
from algotrading.config import Universe
from algotrading.data.snapshot import MarketSnapshot
from algotrading.decisions.at_broker import SentOrder
from algotrading.decisions.plan import Plan, Sizing, plan_from_json
from algotrading.decisions.ranking import Ranking
from algotrading.decisions.risk import RiskState, RiskStatus
from algotrading.execution.account import Account
from algotrading.portfolio import Asset, AssetBook, Portfolio
from algotrading.storage.files import atomic_write_json, atomic_write_parquet

BARS = "bars.parquet"
SIGNALS = "signals.parquet"
STRATEGY_PERFORMANCE = "strategy_performance.parquet"
STRATEGY_EQUITY = "strategy_equity.parquet"
STRATEGY_MOMENTUM = "strategy_momentum.parquet"
STRATEGY_CORRELATION = "strategy_correlation.parquet"
STRATEGIES = "strategies.json"
PORTFOLIO = "portfolio.json"
ASSETS = "assets.json"
SUBMISSION = "submission.json"
RISK = "risk.json"
RANKING = "ranking.parquet"
SIZING = "sizing.json"
PLAN = "plan.json"
BENCHMARK_COLUMN = "benchmark"
HEALTH = "data_health.parquet"
CONTEXT = "context.json"
RUN = "run.json"
LOG = "run.log"
REPORT_HTML = "report.html"
VALIDATION = "validation.json"  # the readiness checks at the start of the run
ALERTS = "alerts.json"  # the alerts open before the report notebook (this run's new ones marked)
EQUITY_HISTORY = "equity_history.parquet"  # the account's recorded equity up to the session (the email's chart)
EMAIL_EML = "email.eml"  # the plan email as sent (or put in the outbox)
EMAIL_HTML = "email.html"  # its HTML body, to open in a browser
LIMITS = "limits.json"  # the live ramp's scale of the position limits today (1: the full limits)
PREVIOUS_ORDERS = "previous_orders.json"  # the fate of the last plan's orders (filled, rejected, ...)
TWIN = "twin.json"  # a live account's comparison with its paper twin (daily/twin.py); only with a twin
#: Where a re-run (--force) of a submitted session keeps the plan, submission and run.json
#: it replaces ({run_id}: the replaced run's id): the record of what is at the broker.
REPLACED = "replaced"
REPLACED_DIR = REPLACED + "/{run_id}"
#: Notebooks of the daily run, in order (executed copies are kept in the run's folder);
#: each reads the artifacts of the ones before.
DAILY_NOTEBOOKS: tuple[str, ...] = (
    "10_strategies.ipynb",
    "20_ranking.ipynb",
    "30_safety.ipynb",
    "40_risk.ipynb",
    "90_daily_report.ipynb",
)
#: The notebook that runs the strategies (its kernel imports vectorbt ahead).
STRATEGIES_NOTEBOOK = "10_strategies.ipynb"
#: What the strategies notebook leaves in the run's folder (its executed copy included):
#: with several accounts it runs once and these are copied into each account's run.
STRATEGY_OUTPUTS: tuple[str, ...] = (
    SIGNALS,
    STRATEGY_PERFORMANCE,
    STRATEGY_EQUITY,
    STRATEGY_MOMENTUM,
    STRATEGY_CORRELATION,
    STRATEGIES,
    STRATEGIES_NOTEBOOK,
)
#: The notebook rendered to ``report.html``.
REPORT_NOTEBOOK = "90_daily_report.ipynb"
#: A failed run's notebook as far as it ran, rendered for the failure alert ({name}: the notebook's stem).
PARTIAL_HTML = "{name}.partial.html"


@dataclass(frozen=True)
class RunContext:
    """What a notebook needs to know about the run besides the data."""

    session_date: dt.date
    mode: str
    universe: Universe
    generated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "session_date": self.session_date.isoformat(),
            "mode": self.mode,
            "universe": self.universe.model_dump(),
            "generated_at": self.generated_at,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunContext:
        return cls(
            session_date=dt.date.fromisoformat(doc["session_date"]),
            mode=doc["mode"],
            universe=Universe.model_validate(doc["universe"]),
            generated_at=doc["generated_at"],
        )


def write_snapshot(run_dir: Path, snapshot: MarketSnapshot, context: RunContext) -> None:
    """Persist the validated data and the run context for the notebooks."""
    atomic_write_parquet(run_dir / BARS, snapshot.bars)
    atomic_write_parquet(run_dir / HEALTH, snapshot.health)
    doc = context.to_json() | {"provider": snapshot.provider, "data_fingerprint": snapshot.fingerprint}
    atomic_write_json(run_dir / CONTEXT, doc)


def read_snapshot(run_dir: Path) -> tuple[MarketSnapshot, RunContext]:
    """Read what :func:`write_snapshot` wrote; a missing file names the step that makes it."""
    missing = [n for n in (BARS, HEALTH, CONTEXT) if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run_dir} lacks {', '.join(missing)}: run `algotrading daily` to create them, "
            "or pass run_dir=None to load the data in the notebook"
        )
    doc = json.loads((run_dir / CONTEXT).read_text())
    context = RunContext.from_json(doc)
    health = pd.read_parquet(run_dir / HEALTH)
    if "source" not in health.columns:  # a run folder written before sources were recorded
        health["source"] = doc["provider"]
        health["source_note"] = ""
    snapshot = MarketSnapshot(
        session_date=context.session_date,
        provider=doc["provider"],
        bars=pd.read_parquet(run_dir / BARS),
        health=health,
        fingerprint=doc["data_fingerprint"],
    )
    return snapshot, context


def copy_strategy_outputs(source: Path, run_dir: Path) -> None:
    """Copy the strategies step's outputs (:data:`STRATEGY_OUTPUTS`) from the shared
    folder where it ran once into one account's run folder; a missing one names its step."""
    missing = [n for n in STRATEGY_OUTPUTS if not (source / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{source} lacks {', '.join(missing)}: the shared strategies step did not finish")
    for name in STRATEGY_OUTPUTS:
        shutil.copy2(source / name, run_dir / name)


def write_strategy_run(run_dir: Path, run: StrategyRun) -> None:
    """Persist signals and strategy performance for the notebooks after the strategies one."""
    perf = run.performance
    atomic_write_parquet(run_dir / SIGNALS, run.signals)
    atomic_write_parquet(run_dir / STRATEGY_PERFORMANCE, perf.table().reset_index())
    equity = perf.equity.assign(**{BENCHMARK_COLUMN: perf.benchmark})
    atomic_write_parquet(run_dir / STRATEGY_EQUITY, equity.reset_index(names="date"))
    atomic_write_parquet(run_dir / STRATEGY_MOMENTUM, perf.momentum_history.reset_index(names="date"))
    atomic_write_parquet(run_dir / STRATEGY_CORRELATION, perf.correlation.reset_index(names="strategy"))
    atomic_write_json(
        run_dir / STRATEGIES,
        {
            "session_date": run.session.isoformat(),
            "strategies": list(perf.momentum.index),
            "skipped": run.skipped,
            "momentum_lookback_days": perf.lookback_days,
            "min_momentum_threshold": perf.threshold,
            "benchmark": perf.benchmark.name,
            "signals": {
                "buy": int((run.signals["action"] == "BUY").sum()),
                "sell": int((run.signals["action"] == "SELL").sum()),
            },
        },
    )


def read_strategy_run(run_dir: Path) -> StrategyRun:
    """Read what :func:`write_strategy_run` wrote (without the per-strategy backtest objects)."""
    needed = (SIGNALS, STRATEGY_PERFORMANCE, STRATEGY_EQUITY, STRATEGY_MOMENTUM, STRATEGY_CORRELATION, STRATEGIES)
    missing = [n for n in needed if not (run_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run_dir} lacks {', '.join(missing)}: the strategies notebook (10_strategies) writes them"
        )
    doc = json.loads((run_dir / STRATEGIES).read_text())
    table = pd.read_parquet(run_dir / STRATEGY_PERFORMANCE).set_index("strategy")
    equity_all = pd.read_parquet(run_dir / STRATEGY_EQUITY).set_index("date")
    names = doc["strategies"]
    perf = StrategyPerformance(
        session=dt.date.fromisoformat(doc["session_date"]),
        lookback_days=doc["momentum_lookback_days"],
        threshold=doc["min_momentum_threshold"],
        equity=equity_all[names],
        momentum=table["momentum"],
        momentum_history=pd.read_parquet(run_dir / STRATEGY_MOMENTUM).set_index("date"),
        correlation=pd.read_parquet(run_dir / STRATEGY_CORRELATION).set_index("strategy"),
        weights=table["weight"],
        benchmark=equity_all[BENCHMARK_COLUMN].rename(doc["benchmark"]),
        stored_metrics=table.drop(columns=["momentum", "eligible", "weight"]),
    )
    return StrategyRun(perf.session, pd.read_parquet(run_dir / SIGNALS), perf, doc["skipped"])


def write_account(run_dir: Path, account: Account) -> None:
    """The portfolio the plan is made for (with the reconciliation's notes and the orders
    still open), what the broker says about the assets, and the risk state."""
    doc = account.portfolio.to_json() | {
        "reconciliation": list(account.notes),
        "open_orders": [asdict(o) for o in account.open_orders],
        "at_broker": [o.to_json() for o in account.at_broker],
    }
    atomic_write_json(run_dir / PORTFOLIO, doc)
    book = account.assets
    atomic_write_json(
        run_dir / ASSETS,
        {
            "default": asdict(book.default) if book.default else None,
            "assets": {s: asdict(a) for s, a in sorted(book.assets.items())},
        },
    )
    risk = account.risk
    atomic_write_json(
        run_dir / RISK,
        {
            "state": risk.state.value,
            "since": risk.since,
            "reason": risk.reason,
            "session_date": risk.session_date,
            "transition_today": (
                {"to_state": account.transition.to_state.value, "reason": account.transition.reason}
                if account.transition
                else None
            ),
        },
    )


def read_account(run_dir: Path) -> Account:
    """The account as the daily run wrote it (today's transition is not carried back)."""
    doc = json.loads((run_dir / PORTFOLIO).read_text())
    risk = json.loads((run_dir / RISK).read_text())
    status = RiskStatus(RiskState(risk["state"]), risk["since"], risk["reason"], risk["session_date"])
    books = json.loads((run_dir / ASSETS).read_text())
    assets = AssetBook(
        {s: Asset(**a) for s, a in books["assets"].items()},
        default=Asset(**books["default"]) if books["default"] else None,
    )
    open_orders = tuple(OrderStatus(**o) for o in doc.get("open_orders", []))
    sent = tuple(SentOrder.from_json(o) for o in doc.get("at_broker", []))
    notes = tuple(doc.get("reconciliation", []))
    return Account(Portfolio.from_json(doc), status, None, assets, notes, open_orders, sent)


def write_ranking(run_dir: Path, ranking: Ranking) -> None:
    atomic_write_parquet(run_dir / RANKING, ranking.table)


def read_ranking(run_dir: Path) -> Ranking:
    return Ranking(pd.read_parquet(run_dir / RANKING), clusters=())


def write_sizing(run_dir: Path, sizing: Sizing) -> None:
    atomic_write_json(run_dir / SIZING, sizing.to_json())


def read_sizing(run_dir: Path) -> Sizing:
    return Sizing.from_json(json.loads((run_dir / SIZING).read_text()))


def write_plan(run_dir: Path, plan: Plan) -> None:
    atomic_write_json(run_dir / PLAN, plan.to_json())


class DamagedArtifact(ValueError):
    """A run-folder file that cannot be read back (cut short, edited, overwritten)."""


def read_plan(run_dir: Path) -> Plan:
    """``plan.json`` of ``run_dir``; :class:`DamagedArtifact` naming the fix when it is not
    a plan (nothing may be sent from a plan that cannot be read whole)."""
    path = run_dir / PLAN
    try:
        return plan_from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        raise DamagedArtifact(
            f"{path} is damaged ({type(exc).__name__}: {exc}); nothing was sent from it. Re-plan the session with "
            f"`algotrading daily --date {run_dir.name} --force`: orders already at the broker are recorded in the "
            "state and are not sent again"
        ) from exc


def write_previous_orders(run_dir: Path, fates: list[dict[str, Any]]) -> None:
    atomic_write_json(run_dir / PREVIOUS_ORDERS, {"orders": fates})


def read_previous_orders(run_dir: Path) -> list[dict[str, Any]]:
    """What :func:`write_previous_orders` wrote (none in a folder from before it existed)."""
    path = run_dir / PREVIOUS_ORDERS
    return list(json.loads(path.read_text())["orders"]) if path.is_file() else []


def read_alerts(run_dir: Path) -> list[dict[str, Any]]:
    """The open alerts ``alerts.json`` lists (none in a folder from before it existed)."""
    path = run_dir / ALERTS
    return list(json.loads(path.read_text())["open"]) if path.is_file() else []


def write_equity_history(run_dir: Path, history: pd.DataFrame) -> None:
    atomic_write_parquet(run_dir / EQUITY_HISTORY, history)


def read_equity_history(run_dir: Path) -> pd.DataFrame:
    """The account's recorded equity (session_date, equity, cash, peak_equity); empty in a
    folder from before it existed."""
    path = run_dir / EQUITY_HISTORY
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=["session_date", "equity", "peak_equity"])


def write_limits(run_dir: Path, scale: float, note: str | None) -> None:
    atomic_write_json(run_dir / LIMITS, {"scale": scale, "note": note})


def read_limits(run_dir: Path) -> tuple[float, str | None]:
    """The scale of the position limits and its reason ((1.0, None) when not written)."""
    path = run_dir / LIMITS
    if not path.is_file():
        return 1.0, None
    doc = json.loads(path.read_text())
    return float(doc["scale"]), doc.get("note")


def write_twin(run_dir: Path, comparison: dict[str, Any]) -> None:
    """A live account's comparison with its paper twin (``TwinComparison.to_json()``)."""
    atomic_write_json(run_dir / TWIN, comparison)


def read_twin(run_dir: Path) -> dict[str, Any] | None:
    """What :func:`write_twin` wrote; None in the folder of an account without a twin."""
    path = run_dir / TWIN
    return dict(json.loads(path.read_text())) if path.is_file() else None
