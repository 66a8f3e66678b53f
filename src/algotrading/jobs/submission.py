"""Sending a plan to the broker: ``algotrading daily --submit`` right after the run (the
sells, then the buys today's cash pays for) and ``--submit --pending`` after the open
(the buys that waited for the sells to fill). A live submission first re-runs the
production checks and sends nothing unless they pass."""

from __future__ import annotations

import datetime as dt
import logging

from algotrading.broker import BrokerError, make_broker
from algotrading.config import Mode, Settings, UsageError
from algotrading.daily import artifacts
from algotrading.data.bars import empty_bars
from algotrading.data.market import MarketData
from algotrading.execution.guard import ALLOW_OPEN_FLAG, pending_refusal, plan_refusal
from algotrading.execution.submit import PlanRefused, submit_pending, submit_plan, summary
from algotrading.jobs.control import RunError, RunResult, run_lock
from algotrading.ops.validate import live_blockers
from algotrading.storage.files import atomic_write_json
from algotrading.storage.store import Store, StoreError, open_store

log = logging.getLogger(__name__)


def _refuse(settings: Settings, refusal: str | None) -> None:
    """Stop before anything is sent: the market-clock guard's refusal, or in live mode any
    failing production check (``validate --live``)."""
    if refusal:
        raise RunError(refusal)
    if settings.mode is Mode.LIVE:
        blockers = live_blockers(settings)
        if blockers:
            raise RunError("live submission refused, nothing sent: " + "; ".join(blockers))


def submit_session(
    settings: Settings, result: RunResult, store: Store, allow_open: bool = False
) -> tuple[RunResult, str, list[str]]:
    """Send the plan just made: its sells, then the buys today's cash pays for. Paper and
    live ask the broker's clock first: nothing is sent while the market is open (unless
    ``allow_open``) or when the plan is not of the latest completed session. Returns the
    result, the submission in words (for the email) and each order not sent as planned."""
    assert result.report_dir is not None and result.session_date is not None
    try:
        plan = artifacts.read_plan(result.report_dir)
    except artifacts.DamagedArtifact as exc:
        raise RunError(str(exc)) from exc
    snapshot, _ = artifacts.read_snapshot(result.report_dir)
    with make_broker(settings, MarketData.from_bars(snapshot.bars), result.session_date) as broker:
        try:
            clock = None if settings.mode is Mode.DEMO else broker.clock()
            settle = settings.schedule.bar_settle_minutes
            _refuse(settings, plan_refusal(clock, result.session_date, settle, allow_open) if clock else None)
            added, outcomes = submit_plan(store, broker, plan)
        except PlanRefused as exc:
            raise RunError(str(exc)) from exc
        except BrokerError as exc:
            raise RunError(f"the plan for {result.session_date} was written but not submitted: {exc}") from exc
    pending = [o for o in plan.buys if o.after_sells_fill]
    doc = {
        "session_date": result.session_date.isoformat(),
        "broker": broker.name,
        "recorded_intents": added,
        "outcomes": [o.to_json() for o in outcomes],
        "waiting_for_sells": [o.client_order_id for o in pending],
    }
    atomic_write_json(result.report_dir / artifacts.SUBMISSION, doc)
    text = summary(outcomes)
    for o in outcomes:
        log.info("order %s %s %s: %s %s", o.side, o.symbol, o.client_order_id, o.result, o.detail)
    if pending:
        later = (
            "the next run sends them at the next open (demo)"
            if settings.mode is Mode.DEMO
            else "send them after the open with `algotrading daily --submit --pending`"
        )
        text += f"; {len(pending)} buy(s) wait for the sells to fill: {later}"
    if clock is not None and clock.is_open:
        text += (
            f"; sent while the market was open ({ALLOW_OPEN_FLAG}): these DAY market orders fill at once, "
            "at intraday prices"
        )
    failed = any(o.result == "error" for o in outcomes)
    message = f"{result.message}; orders: {text}"
    problems = [
        f"{o.side.upper()} {o.symbol} ({o.client_order_id}): {o.result}: {o.detail or 'no reason given'}"
        for o in outcomes
        if o.result in ("error", "skipped", "rejected")
    ]
    if problems:
        text += "; not sent as planned: " + "; ".join(problems)
    return (
        RunResult(1 if failed else 0, "failed" if failed else "ok", message, result.session_date, result.report_dir),
        text,
        problems,
    )


def submit_pending_buys(settings: Settings, session: dt.date | None = None) -> RunResult:
    """``algotrading daily --submit --pending``: the morning run after the open, sending the
    plan's buys that waited for its sells to fill."""

    if settings.mode is Mode.DEMO:
        raise UsageError("demo mode sends these buys itself: the next daily run fills them at the next session's open")
    with run_lock(settings.paths.state_dir):
        try:
            store = open_store(settings.paths.state_dir, create=False)
        except StoreError as exc:
            raise RunError(str(exc)) from exc
        with store:
            waiting = [i for i in store.intents(statuses=("planned", "skipped")) if i["after_sells_fill"]]
            sessions = sorted({str(i["session_date"]) for i in waiting})
            target = session.isoformat() if session else (sessions[-1] if sessions else None)
            if target is None or target not in sessions:
                return RunResult(
                    0, "ok", f"no buys waiting for sells{' for ' + target if target else ''}: nothing to send"
                )
            day = dt.date.fromisoformat(target)
            try:
                plan = artifacts.read_plan(settings.paths.reports_dir / target)
            except artifacts.DamagedArtifact as exc:
                raise RunError(str(exc)) from exc
            prices = {o.symbol: o.est_price for o in plan.orders}
            with make_broker(settings, MarketData.from_bars(empty_bars()), day) as broker:
                try:
                    _refuse(settings, pending_refusal(broker.clock(), day, settings.schedule.bar_settle_minutes))
                    outcomes = submit_pending(store, broker, day, settings.safety, prices)
                except BrokerError as exc:
                    raise RunError(f"pending buys of {target} not submitted: {exc}") from exc
    for o in outcomes:
        log.info("order %s %s %s: %s %s", o.side, o.symbol, o.client_order_id, o.result, o.detail)
    failed = any(o.result == "error" for o in outcomes)
    return RunResult(
        1 if failed else 0, "failed" if failed else "ok", f"pending buys of {target}: {summary(outcomes)}", day
    )
