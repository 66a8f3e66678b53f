"""The daily run (DESIGN §3): resolve the session, take the lock, load and validate the
data, execute the notebooks with papermill, render the report, record the run.

Outputs are built in a staging folder and only replace ``reports/<D>/`` once every
step succeeded, so a failed re-run never damages the outputs of an earlier good run;
a failed run's partial outputs are kept in ``reports/failed/<D>-<run id>/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from algotrading import calendar as cal
from algotrading import faults
from algotrading.config import ConfigError, Mode, Settings, UsageError
from algotrading.daily import artifacts
from algotrading.daily.accounts import has_live_account
from algotrading.daily.artifacts import RunContext
from algotrading.daily.retention import prune
from algotrading.daily.runinfo import git_revision, versions
from algotrading.daily.session import DEMO_SESSION_WITH_TRADES, choose_session
from algotrading.daily.twin import Twin, compare, failed
from algotrading.data import make_provider
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.data.snapshot import MarketSnapshot, load_snapshot
from algotrading.execution.account import load_account
from algotrading.execution.outcomes import follow_up
from algotrading.jobs.control import RunError, RunResult, StepTimer, deadline, run_lock, short_error
from algotrading.jobs.recovery import recover
from algotrading.jobs.submission import submit_session
from algotrading.logs import add_redaction, run_log
from algotrading.monitor import run_alerts
from algotrading.monitor.dashboard import write_status_page
from algotrading.notify.daily import queue_daily, send_daily, send_failure
from algotrading.notify.delivery import HELD, Delivery, resend_pending
from algotrading.ops.transition import Ramp, live_ramp
from algotrading.report import inprocess
from algotrading.report.kernels import KernelPool
from algotrading.report.render import ensure_kernel, execute_notebook, render_html
from algotrading.report.twin_views import headline
from algotrading.storage.files import StorageError, atomic_write_json, check_writable, private_dir
from algotrading.storage.store import Store, StoreError, open_store
from algotrading.strategies import load_strategies

log = logging.getLogger(__name__)

#: With several accounts (jobs/accounts.py): the folder where the session's data and the
#: strategies step ran once for every account (computed on the first call, see
#: :func:`run_shared`). None: the run loads its data and runs its strategies itself.
Shared = Callable[[dt.date], Path]


def preflight(settings: Settings) -> None:
    """Configuration checks that need more than the settings themselves (exit code 2)."""
    load_strategies(settings)  # every params/strategies/*.yaml valid
    if settings.mode is Mode.DEMO:
        available = set(BundledBarsProvider().symbols())
        missing = [s for s in settings.universe.all_symbols if s not in available]
        if missing:
            raise ConfigError(
                [
                    f"params/universe.yaml: {', '.join(missing)} not in the bundled demo data "
                    f"({len(available)} symbols, see src/algotrading/data/bundled/SOURCE.md). Remove them, "
                    "or set ALPACA_API_KEY/ALPACA_SECRET_KEY to run in paper mode on Alpaca data."
                ]
            )


def run_daily(
    settings: Settings,
    date: dt.date | None = None,
    now: dt.datetime | None = None,
    submit: bool = False,
    confirm_live: bool = False,
    force: bool = False,
    allow_open: bool = False,
    shared: Shared | None = None,
    twin: Twin | None = None,
) -> RunResult:
    """``algotrading daily``. Raises ``ConfigError``/``UsageError`` for bad input (exit 2);
    any failure inside the run is recorded and returned with exit code 1. With
    ``submit``, a successful run then sends the plan's orders (sells first).

    A session that already ran successfully is not run again (``force`` does); with
    ``submit`` its existing plan is sent, never a new one. ``shared``: one account of
    several, whose data and strategies come from the run's shared folder; ``twin``: a
    live account's paper twin, compared with in its report (daily/twin.py)."""
    now = now or dt.datetime.now(dt.UTC)
    if submit and settings.mode is Mode.LIVE and not confirm_live:
        raise UsageError(
            "live mode: --submit sends real-money orders. Add --confirm-live to confirm, after "
            "`algotrading validate --live` passes."
        )
    choice = choose_session(settings, date, now)
    if choice.session_date is None:
        log.info("%s", choice.closed_reason)
        return RunResult(0, "market_closed", choice.closed_reason or "market closed")
    preflight(settings)
    try:
        check_writable(settings.paths.reports_dir, settings.schedule.min_free_disk_mb)
        private_dir(settings.paths.reports_dir)
        private_dir(settings.paths.state_dir)
    except StorageError as exc:
        raise RunError(str(exc)) from exc
    except OSError as exc:
        raise RunError(f"cannot create or secure {exc.filename}: {exc.strerror}; fix its permissions") from exc
    with run_lock(settings.paths.state_dir):
        try:
            store = open_store(settings.paths.state_dir)
        except StoreError as exc:
            raise RunError(str(exc)) from exc
        with store:
            recover(settings.paths.reports_dir, store)  # what a killed run left behind
            resent = resend_pending(settings, store)  # what earlier runs could not send goes first
            for d in resent:
                log.info("outbox: %s %s (%s)", d.email_id, d.status, d.detail)
            unsent = [d for d in resent if d.failed and not d.detail.startswith(HELD)]
            done = store.successful_run(choice.session_date)
            final = settings.paths.reports_dir / choice.session_date.isoformat()
            waiting = _today_not_final(settings, date, now)
            if waiting is not None and done:
                result = RunResult(0, "not_yet", waiting + f"; {choice.session_date} already ran: nothing to do")
                log.info("%s", result.message)
                return _with_unsent(result, unsent)
            if waiting is not None:
                log.warning("%s; catching up: %s has no successful run yet", waiting, choice.session_date)
            if done and not force and (final / artifacts.PLAN).is_file():
                result = RunResult(
                    0,
                    "already_done",
                    (
                        f"{choice.session_date} already ran successfully ({done['finished_at']}); report: "
                        f"{final / artifacts.REPORT_HTML}. Nothing re-run (use --force to run it again)"
                    ),
                    choice.session_date,
                    final,
                )
                log.info("%s", result.message)
            else:
                result = _run_session(settings, choice.session_date, now, store, shared, twin)
            submission = None
            if submit and result.exit_code == 0 and result.report_dir is not None:
                try:
                    result, submission, problems = submit_session(settings, result, store, allow_open)
                except RunError as exc:
                    submission, problems = f"NOT submitted: {exc}", [f"nothing was sent: {exc}"]
                    result = RunResult(1, "failed", f"{result.message}; {exc}", result.session_date, result.report_dir)
                assert result.session_date is not None
                run_alerts.after_submission(settings, store, result.session_date, problems)
            if result.status in ("ok", "failed") and result.report_dir is not None and result.report_dir == final:
                result = _email(settings, store, result, submission)
            elif result.exit_code == 0:  # nothing of its own to email: an earlier email it could not send fails it
                result = _with_unsent(result, unsent)
            _refresh_dashboard(settings, store)
            return result


def _today_not_final(settings: Settings, date: dt.date | None, now: dt.datetime) -> str | None:
    """Paper/live without ``--date`` on a session day before its bar is final: what to say
    (the run then works on the latest completed session only if that one has not run yet).
    None when today's bar is final, today is no session, or the session was asked for."""
    if date is not None or settings.mode is Mode.DEMO:
        return None
    today = now.astimezone(cal.NY).date()
    settle = settings.schedule.bar_settle_minutes
    if not cal.is_session(today) or cal.is_bar_final(today, now, settle):
        return None
    return f"today's session {today} is not final until {cal.bar_final_at(today, settle):%H:%M} New York time"


def _refresh_dashboard(settings: Settings, store: Store) -> None:
    """Rewrite reports/status.html; a dashboard problem never fails the run."""
    try:
        write_status_page(settings, store)
    except Exception:
        log.exception("reports/status.html could not be updated")


def _run_session(
    settings: Settings,
    session: dt.date,
    now: dt.datetime,
    store: Store,
    shared: Shared | None = None,
    twin: Twin | None = None,
) -> RunResult:
    reports = settings.paths.reports_dir
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{os.getpid()}"
    store.start_run(run_id, session, settings.mode.value)
    staging = reports / ".staging" / f"{session}-{run_id}"
    staging.mkdir(parents=True)
    timer = StepTimer()
    record: dict[str, Any] = {
        "status": "running",
        "session_date": session.isoformat(),
        "mode": settings.mode.value,
        "run_id": run_id,
        "started_at": now.isoformat(timespec="seconds"),
    }
    redaction = add_redaction(settings.secret_values())
    started = time.perf_counter()
    error: Exception | None = None
    with run_log(staging / artifacts.LOG, redaction):
        log.info("daily run for %s in %s mode (run %s)", session, settings.mode.value, run_id)
        try:
            with deadline(settings.schedule.run_timeout_seconds, "the whole run"):
                snapshot = _steps(settings, session, now, staging, timer, store, shared, twin)
            record["data"] = _data_record(snapshot)
            record["plan"] = _plan_record(staging)
        except Exception as exc:  # every failure is recorded, reported and returned as exit 1
            error = exc
            log.error("step %s failed: %s", timer.current, short_error(exc, folder=reports))
            log.debug("traceback of the failure", exc_info=True)  # run.log only

    record.update(
        steps=timer.seconds,
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_seconds=round(time.perf_counter() - started, 3),
        versions=versions(),
        git=git_revision(settings.paths.root),
    )
    final = reports / session.isoformat()
    if error is None:
        try:  # the run's outputs are complete; writing their record can still meet a full disk
            record["status"] = "ok"
            _keep_what_was_sent(final, staging)
            record["outputs"] = sorted(p.name for p in staging.iterdir()) + [artifacts.RUN]
            atomic_write_json(staging / artifacts.RUN, record)
        except OSError as exc:
            error = exc
            timer.current = "finish"
            log.error("step finish failed: %s", short_error(exc))
    if error is not None:
        why = short_error(error, folder=reports)
        record.update(status="failed", failed_step=timer.current, error=redaction.redact(why))
        failed_dir = _keep_failed(staging, reports / "failed" / f"{session}-{run_id}", record)
        message = (
            f"run for {session} failed at step '{timer.current}': {record['error']}. "
            f"Partial outputs and the log are in {failed_dir}; "
            f"earlier outputs in {reports / str(session)} are untouched."
        )
        log.error("%s", message)
        store.finish_run(
            run_id, "failed", timer.current, record["error"], str(failed_dir), timer.seconds, record["duration_seconds"]
        )
        try:
            delivery = send_failure(settings, store, session, run_id, timer.current, record["error"], failed_dir)
            message += f"; alert: {delivery.detail}"
        except Exception as exc:  # the alert is best effort; the failure itself is already recorded
            log.exception("the failure alert could not be sent")
            message += f"; the failure alert could not be sent ({exc})"
        return RunResult(1, "failed", message, session, failed_dir)

    _promote(staging, final)
    try:  # the email is in the outbox before the run is marked done: a kill after that loses nothing
        queue_daily(settings, store, session, final)
    except Exception:  # composing is tried again (and reported) by the email step
        log.warning("the plan email could not be queued before the run was marked done", exc_info=True)
    store.finish_run(
        run_id, "ok", report_dir=str(final), steps=timer.seconds, duration_seconds=record["duration_seconds"]
    )
    faults.reach("run:marked_done")
    _compact_old_sessions(settings, session)
    message = f"{_plan_words(settings, final, session)}; report for {session}: {final / artifacts.REPORT_HTML}"
    log.info("run for %s done in %.1f s", session, record["duration_seconds"])
    return RunResult(0, "ok", message, session, final)


#: Statements a daily notebook's kernel runs ahead besides the notebook's own imports:
#: the strategies notebook's cells import vectorbt lazily (2.4 s of that notebook).
AHEAD = {artifacts.STRATEGIES_NOTEBOOK: ("from algotrading.backtest.engine import vectorbt; vectorbt()",)}
#: Kernels alive at once: the running notebook's and the next ones warming up.
KERNELS_LIVE = 3


def _steps(
    settings: Settings,
    session: dt.date,
    now: dt.datetime,
    staging: Path,
    timer: StepTimer,
    store: Store,
    shared: Shared | None = None,
    twin: Twin | None = None,
) -> MarketSnapshot:
    """The run's steps. The notebooks' kernels start first, and import their modules while
    the data and the account load and while the earlier notebooks run (with ``shared``,
    the strategies notebook has run already: no kernel for it)."""
    skip = _in_process(settings) | (frozenset({artifacts.STRATEGIES_NOTEBOOK}) if shared else frozenset())
    sources = {name: _source(settings, name) for name in artifacts.DAILY_NOTEBOOKS if name not in skip}
    with KernelPool(ensure_kernel(), staging, sources, AHEAD, KERNELS_LIVE) as kernels:
        return _steps_with(settings, session, now, staging, timer, store, kernels, shared, twin)


def run_shared(settings: Settings, session: dt.date, now: dt.datetime, folder: Path) -> Path:
    """Load and validate the session's data and execute the strategies notebook once, in
    ``folder`` (built beside it and renamed into place), for several accounts: the step
    reads the data and the strategy parameters only, never an account. Returns ``folder``."""
    staging = folder.parent / f".{folder.name}-{now:%Y%m%dT%H%M%SZ}-{os.getpid()}"
    staging.mkdir(parents=True)
    snapshot = load_snapshot(make_provider(settings), settings.universe, session, settings.data)
    context = RunContext(session, settings.mode.value, settings.universe, now.isoformat(timespec="seconds"))
    artifacts.write_snapshot(staging, snapshot, context)
    name = artifacts.STRATEGIES_NOTEBOOK
    sources = {} if name in _in_process(settings, shared=True) else {name: _source(settings, name)}
    with KernelPool(ensure_kernel(), staging, sources, AHEAD, 1) as kernels:
        _notebook(settings, name, staging, session, kernels, nullcontext())
    _promote(staging, folder)
    log.info("data and strategies for %s ran once for every account: %s", session, folder)
    return folder


def _steps_with(
    settings: Settings,
    session: dt.date,
    now: dt.datetime,
    staging: Path,
    timer: StepTimer,
    store: Store,
    kernels: KernelPool,
    shared: Shared | None = None,
    twin: Twin | None = None,
) -> MarketSnapshot:
    total = 5 + len(artifacts.DAILY_NOTEBOOKS) + (twin is not None)
    with timer.step("validate", 1, total):
        raised = run_alerts.at_start(settings, store, session, staging)
    with timer.step("load_data", 2, total):
        if shared is None:
            snapshot = load_snapshot(make_provider(settings), settings.universe, session, settings.data)
        else:
            snapshot, _ = artifacts.read_snapshot(shared(session))
        context = RunContext(session, settings.mode.value, settings.universe, now.isoformat(timespec="seconds"))
        artifacts.write_snapshot(staging, snapshot, context)
    with timer.step("account", 3, total):
        account = load_account(settings, session, persist=True, market=MarketData.from_bars(snapshot.bars))
        artifacts.write_account(staging, account)
        p = account.portfolio
        log.info(
            "account: equity $%.2f, cash $%.2f, %d position(s), drawdown %.1f%%, risk %s",
            p.equity,
            p.cash,
            len(p.positions),
            100 * p.drawdown,
            account.risk.state.value,
        )
        expired, followed = follow_up(store, session)  # never left "planned": each order's fate is reported
        for note in expired:
            log.warning("order %s", note)
        fates = [f.to_json() for f in followed]
        artifacts.write_previous_orders(staging, fates)
        history = store.equity_history()
        artifacts.write_equity_history(staging, history[history["session_date"] <= pd.Timestamp(session)])
        ramp = live_ramp(settings, store, session) if settings.mode is Mode.LIVE else Ramp(1.0, None)
        artifacts.write_limits(staging, ramp.scale, ramp.note)
        if ramp.note:
            log.warning("%s", ramp.note)
        raised += run_alerts.after_account(settings, store, session, fates)
    number = 3
    for name in artifacts.DAILY_NOTEBOOKS:
        if name == artifacts.REPORT_NOTEBOOK and twin is not None:  # the report's "Paper twin" section
            number += 1
            with timer.step("twin", number, total):
                _compare_twin(settings, store, twin, session, staging)
        if name == artifacts.REPORT_NOTEBOOK:  # the report shows the open alerts: they are known before it
            number += 1
            with timer.step("alerts", number, total):
                raised += run_alerts.after_strategies(settings, store, session, staging, snapshot.excluded)
                run_alerts.write_alerts(store, staging, raised)
        number += 1
        step = timer.step(f"notebook:{Path(name).stem}", number, total)
        if shared is not None and name == artifacts.STRATEGIES_NOTEBOOK:  # ran once for every account
            with step:
                artifacts.copy_strategy_outputs(shared(session), staging)
            continue
        _notebook(settings, name, staging, session, kernels, step)
    with timer.step("render_html", total, total):
        size = render_html(
            staging / artifacts.REPORT_NOTEBOOK, staging / artifacts.REPORT_HTML, f"AlgoTrading report {session}"
        )
        log.info("report.html: %.1f MB", size / 1e6)
    return snapshot


def _compare_twin(settings: Settings, store: Store, twin: Twin, session: dt.date, staging: Path) -> None:
    """Compare the live account with its paper twin (``twin.json``, the report's "Paper
    twin" section), from both accounts' state, only read. A failure of the comparison
    itself does not stop the live account's plan: it is logged and the section says it."""
    try:
        comparison = compare(store, settings.paths.reports_dir, twin, session, artifacts.read_plan(staging))
    except Exception as exc:  # the plan must still go out; the report says the comparison failed
        log.error("the comparison with the paper twin '%s' failed: %s", twin.name, short_error(exc))
        log.debug("traceback of the comparison's failure", exc_info=True)  # run.log only
        comparison = failed(twin, session, short_error(exc))
    artifacts.write_twin(staging, comparison.to_json())
    log.info("%s", headline(comparison))


def _compact_old_sessions(settings: Settings, session: dt.date) -> None:
    """Retention: keep the newest ``keep_full_sessions`` folders whole, compact the rest
    (daily/retention.py). A problem here is logged and never fails the run."""
    try:
        done = prune(settings.paths.reports_dir, settings.schedule.keep_full_sessions, protect=session)
    except OSError as exc:
        log.warning("old session folders not compacted: %s", short_error(exc))
        return
    if done.compacted:
        log.info("%s", done.words())


def _source(settings: Settings, name: str) -> Path:
    source = settings.paths.notebooks_dir / name
    if not source.is_file():
        raise RunError(f"notebook {source} is missing: restore it from the repository or set ALGOTRADING_NOTEBOOKS_DIR")
    return source


def _in_process(settings: Settings, shared: bool = False) -> frozenset[str]:
    """The daily notebooks this run executes in its own process instead of a kernel
    each (``ALGOTRADING_NOTEBOOKS_IN_PROCESS``, report/inprocess.py: for the test suite):
    all of them, and none that serve a live account: a live account's own run, and the
    strategies step ``shared`` by the accounts of ``params/accounts.yaml`` when one is
    live. A paper account's own notebooks beside a live one (its twin) may run here."""
    if not inprocess.enabled():
        return frozenset()
    if settings.mode is Mode.LIVE or (shared and has_live_account(settings.paths.params_dir)):
        log.warning("%s is ignored for a live account: every notebook runs in its own kernel", inprocess.VARIABLE)
        return frozenset()
    return frozenset(artifacts.DAILY_NOTEBOOKS)


def _notebook(
    settings: Settings,
    name: str,
    staging: Path,
    session: dt.date,
    kernels: KernelPool,
    step: AbstractContextManager[None],
) -> None:
    """Execute one daily notebook in the run's folder (papermill) in its kernel started
    ahead, within its time limit; the kernel stops when the notebook is done. A notebook
    the pool has no kernel for runs in this process (:func:`_in_process`)."""
    parameters = {"session_date": session.isoformat(), "run_dir": "."}
    faults.reach_during(f"notebook:{Path(name).stem}")
    try:
        with step, deadline(settings.schedule.notebook_timeout_seconds, f"notebook {name}"):
            if name not in kernels.notebooks:
                inprocess.execute_in_process(_source(settings, name), staging / name, parameters, staging)
                return
            execute_notebook(
                kernels.notebooks[name],
                staging / name,
                parameters=parameters,
                cwd=staging,
                cell_timeout=settings.schedule.notebook_cell_timeout_seconds,
                output_timeout=settings.schedule.notebook_output_timeout_seconds,
                kernel_name=kernels.kernel_name,
                km=kernels.take(name),
            )
    finally:
        if name in kernels.notebooks:
            kernels.release(name)


def _plan_record(run_dir: Path) -> dict[str, Any]:
    """The plan's headline numbers for run.json."""
    doc = json.loads((run_dir / artifacts.PLAN).read_text())
    orders = doc["orders"]
    return {
        "orders": len(orders),
        "buys": sum(o["side"] == "buy" for o in orders),
        "sells": sum(o["side"] == "sell" for o in orders),
        "buy_value": round(sum(o["est_value"] for o in orders if o["side"] == "buy"), 2),
        "risk_state": doc["risk"]["state"],
        "circuit_breaker": doc["risk"]["circuit_breaker"]["tripped"],
    }


def _plan_words(settings: Settings, run_dir: Path, session: dt.date) -> str:
    """The plan in one line for the terminal: its orders, or why there are none (and, in
    demo mode, a bundled session whose plan has trades)."""
    try:
        plan = artifacts.read_plan(run_dir)
    except artifacts.DamagedArtifact as exc:
        return str(exc)
    if plan.orders:
        buys, sells = plan.buys, plan.sells
        spend = sum(o.est_value for o in buys)
        return (
            f"plan for the open after {session}: {len(buys)} buy(s) (${spend:,.2f}), {len(sells)} sell(s): "
            + ", ".join(f"{o.side.upper()} {o.symbol}" for o in plan.orders)
        )
    line = f"no trades tomorrow: {plan.no_orders_reason}"
    if settings.mode is Mode.DEMO and session != DEMO_SESSION_WITH_TRADES and not plan.portfolio.positions:
        line += f" (to see a plan with trades on the bundled data: `./run_daily.sh --date {DEMO_SESSION_WITH_TRADES}`)"
    return line


def _data_record(snapshot: MarketSnapshot) -> dict[str, Any]:
    bars = snapshot.bars
    return {
        "provider": snapshot.provider,
        "symbols_requested": int(len(snapshot.health)),
        "symbols_usable": int(len(snapshot.health) - len(snapshot.excluded)),
        "excluded": snapshot.excluded,
        "sources": dict(zip(snapshot.health["symbol"], snapshot.health["source"], strict=True)),
        "source_notes": {row.symbol: row.source_note for row in snapshot.health.itertuples() if row.source_note},
        "first_date": bars["date"].min().date().isoformat(),
        "last_date": bars["date"].max().date().isoformat(),
        "rows": int(len(bars)),
        "fingerprint": snapshot.fingerprint,
    }


def _with_unsent(result: RunResult, unsent: list[Delivery]) -> RunResult:
    """A run that had nothing to do but could not deliver an earlier run's email is not a
    success: exit 1, "unsent", naming the messages (they stay in the outbox)."""
    if not unsent:
        return result
    names = ", ".join(d.email_id for d in unsent)
    message = f"{result.message}; email NOT delivered: {names} ({unsent[0].detail}); kept in the outbox"
    log.error("%s", message)
    return RunResult(1, "unsent", message, result.session_date, result.report_dir)


def _keep_failed(staging: Path, failed_dir: Path, record: dict[str, Any]) -> Path:
    """Move a failed run's partial outputs to ``failed_dir`` with its ``run.json``; on a
    full disk what can be written is (the rename needs no space), and the ledger and the
    alert still follow. Returns where the outputs are."""
    try:
        atomic_write_json(staging / artifacts.RUN, record)
    except OSError as exc:
        log.error("could not write %s: %s", staging / artifacts.RUN, short_error(exc))
    try:
        failed_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, failed_dir)
    except OSError as exc:
        log.error("could not move the partial outputs to %s: %s", failed_dir, short_error(exc))
        return staging
    return failed_dir


def _keep_what_was_sent(final: Path, staging: Path) -> None:
    """A re-run (``--force``) of a session whose plan was submitted keeps the replaced
    plan, submission and run record in ``replaced/<run id>/`` of the new folder (and
    whatever earlier re-runs kept): they are the record of the orders at the broker."""
    if not (final / artifacts.SUBMISSION).is_file() and not (final / artifacts.REPLACED).is_dir():
        return
    if (final / artifacts.REPLACED).is_dir():
        shutil.copytree(final / artifacts.REPLACED, staging / artifacts.REPLACED, dirs_exist_ok=True)
    if (final / artifacts.SUBMISSION).is_file():
        try:
            old_id = str(json.loads((final / artifacts.RUN).read_text()).get("run_id") or "unknown")
        except (OSError, ValueError):
            old_id = "unknown"
        keep = staging / artifacts.REPLACED_DIR.format(run_id=old_id)
        keep.mkdir(parents=True, exist_ok=True)
        for name in (artifacts.PLAN, artifacts.SUBMISSION, artifacts.RUN):
            if (final / name).is_file():
                shutil.copy2(final / name, keep / name)
    log.warning(
        "re-run of a submitted session: the replaced plan and submission are kept in %s", final / artifacts.REPLACED
    )


def _promote(staging: Path, final: Path) -> None:
    """Replace ``final`` with ``staging`` (two renames on one filesystem)."""
    if final.exists():
        previous = staging.parent / f"{staging.name}.replaced"
        os.replace(final, previous)
        faults.reach("promote:between_renames")  # jobs/recovery.py finishes or undoes this
        os.replace(staging, final)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        os.replace(staging, final)


def _email(settings: Settings, store: Store, result: RunResult, submission: str | None) -> RunResult:
    """Send the plan email of the session just run (or put it in the outbox)."""
    assert result.session_date is not None and result.report_dir is not None
    try:
        delivery = send_daily(settings, store, result.session_date, result.report_dir, submission)
    except artifacts.DamagedArtifact as exc:  # said once, without a traceback: it names its fix
        log.error("the plan email could not be composed: %s", exc)
        message = result.message if str(exc) in result.message else f"{result.message}; {exc}"
        return RunResult(1, "failed", f"{message}; email NOT composed", result.session_date, result.report_dir)
    except Exception as exc:  # composing failed: the run's outputs stand, but say it loudly
        log.exception("the plan email could not be composed")
        return RunResult(
            1, "failed", f"{result.message}; email NOT composed: {exc}", result.session_date, result.report_dir
        )
    _update_run_json(
        result.report_dir, email={"status": delivery.status, "detail": delivery.detail}, submission=submission
    )
    if delivery.failed:
        return RunResult(
            1,
            "unsent",
            f"{result.message}; email NOT delivered ({delivery.detail})",
            result.session_date,
            result.report_dir,
        )
    return RunResult(
        result.exit_code,
        result.status,
        f"{result.message}; email: {delivery.detail}",
        result.session_date,
        result.report_dir,
    )


def _update_run_json(report_dir: Path, **fields: Any) -> None:
    path = report_dir / artifacts.RUN
    doc = json.loads(path.read_text()) if path.is_file() else {}
    atomic_write_json(path, doc | fields)
