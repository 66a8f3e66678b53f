"""The daily run's monitoring (Requirement 4.2): evaluate the alert conditions at their
point in the run, keep the store's open alerts in step, send the new urgent ones on
their own, and leave ``alerts.json`` for the email banner and the dashboard.

* start: the readiness checks (``validation.json``) and missed runs;
* after the account: an automatic HALT or EMERGENCY STOP;
* after the strategies: momentum, drawdown and correlation of the strategies, and
  symbols excluded several sessions in a row.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from algotrading.config import Settings
from algotrading.daily import artifacts
from algotrading.monitor import alerts as conditions
from algotrading.notify.daily import send_alert
from algotrading.ops.validate import Level, validate
from algotrading.storage.files import atomic_write_json
from algotrading.storage.store import Alert, Store

log = logging.getLogger(__name__)


def _raise(
    settings: Settings, store: Store, session: dt.date, kinds: tuple[str, ...], current: list[Alert]
) -> list[Alert]:
    new = store.sync_alerts(kinds, current, session)
    for a in new:
        log.warning("alert [%s] %s", a.severity, a.message)
    urgent = [a for a in new if a.severity == "urgent"]
    if urgent:
        try:
            delivery = send_alert(settings, store, session, urgent)
            store.mark_notified(a.key for a in urgent)
            log.info("urgent alert(s) %s", delivery.detail)
        except Exception:  # an alert that cannot go out must not stop the run; it stays open
            log.exception("the urgent alert could not be sent")
    return new


def at_start(settings: Settings, store: Store, session: dt.date, run_dir: Path) -> list[Alert]:
    """Readiness (local checks; the run's own steps reach the network) and missed runs."""
    readiness = validate(settings, network=False)
    atomic_write_json(run_dir / artifacts.VALIDATION, readiness.to_json())
    for c in readiness.checks:
        if c.level in (Level.WARN, Level.FAIL):
            log.warning("readiness %s %s: %s%s", c.level.value, c.name, c.detail, f" (fix: {c.fix})" if c.fix else "")
    failing = [
        Alert(f"readiness:{c.name}", "readiness", "urgent", f"readiness check {c.name} FAILS: {c.detail}. Fix: {c.fix}")
        for c in readiness.failures
    ]
    new = _raise(settings, store, session, conditions.READINESS_KINDS, failing)
    missed = conditions.sessions_since_success(
        store.runs(), session, max(settings.monitor.uptime_sessions), inclusive=False, untried_only=True
    )
    return new + _raise(settings, store, session, conditions.RUN_KINDS, conditions.missed_run_alerts(missed))


def after_account(
    settings: Settings, store: Store, session: dt.date, previous_orders: list[dict[str, object]] | None = None
) -> list[Alert]:
    """The risk state, and the last plan's orders that were rejected, never sent or expired."""
    risk = _raise(settings, store, session, conditions.RISK_KINDS, conditions.risk_alerts(store.risk_status()))
    orders = conditions.order_alerts(previous_orders or [])
    return risk + _raise(settings, store, session, conditions.ORDER_KINDS, orders)


def after_submission(settings: Settings, store: Store, session: dt.date, problems: list[str]) -> list[Alert]:
    """An urgent alert naming each order of today's plan that was not sent as planned."""
    return _raise(
        settings, store, session, conditions.SUBMISSION_KINDS, conditions.submission_alerts(session, problems)
    )


def after_strategies(
    settings: Settings, store: Store, session: dt.date, run_dir: Path, excluded: dict[str, str]
) -> list[Alert]:
    mon = settings.monitor
    equity = pd.read_parquet(run_dir / artifacts.STRATEGY_EQUITY)
    momentum = pd.read_parquet(run_dir / artifacts.STRATEGY_MOMENTUM)
    found = (
        conditions.momentum_alerts(momentum, session)
        + conditions.drawdown_alerts(equity, session, mon.strategy_drawdown_pct)
        + conditions.correlation_alerts(equity, session, mon.correlation_alert, mon.correlation_sessions)
    )
    new = _raise(settings, store, session, conditions.STRATEGY_KINDS, found)
    store.record_exclusions(session, excluded)
    first = conditions.session_start(session, mon.excluded_sessions_alert)
    data = conditions.exclusion_alerts(
        store.exclusions(first, session), session, mon.excluded_sessions_alert, settings.universe.symbols
    )
    return new + _raise(settings, store, session, conditions.DATA_KINDS, data)


def write_alerts(store: Store, run_dir: Path, new: list[Alert]) -> None:
    """``alerts.json``: every open alert, the ones this run raised marked ``new``."""
    fresh = {a.key for a in new}
    doc = {
        "new": [asdict(a) for a in new],
        "open": [
            {k: a[k] for k in ("key", "kind", "severity", "session_date", "message", "raised_at")}
            | {"new": a["key"] in fresh}
            for a in store.open_alerts()
        ],
    }
    atomic_write_json(run_dir / artifacts.ALERTS, doc)
