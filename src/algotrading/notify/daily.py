"""Compose and deliver a run's messages: the daily plan, and the alert of a failed run."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from algotrading.config import Settings
from algotrading.daily import artifacts
from algotrading.daily.twin import TwinComparison
from algotrading.notify.compose import alert_email, byline, daily_email, daily_subject, failure_email, footer
from algotrading.notify.delivery import Delivery, alert, deliver, queue
from algotrading.notify.smtp import Flat
from algotrading.report.email_html import EmailHtml, render_email
from algotrading.report.formats import source_notes as report_source_notes
from algotrading.report.render import render_html
from algotrading.report.twin_views import twin_lines
from algotrading.storage.files import atomic_write_bytes, atomic_write_text
from algotrading.storage.store import Alert, Store

log = logging.getLogger(__name__)
LOG_TAIL_LINES = 40


def source_notes(data: dict[str, Any], volatility_index: str | None) -> list[str]:
    """The fallback-source lines from run.json's ``data`` (``sources``, ``source_notes``)."""
    return report_source_notes(data.get("sources", {}), data.get("source_notes", {}), volatility_index)


def send_daily(
    settings: Settings, store: Store, session: dt.date, report_dir: Path, submission: str | None
) -> Delivery:
    """The plan email of a successful run: written to ``email.eml``/``email.html`` in the
    run folder, then delivered (or left in the outbox). Without a submission to tell of,
    the message :func:`queue_daily` composed for this run is sent as it is (the charts
    are not drawn twice)."""
    queued = report_dir / artifacts.EMAIL_EML
    if submission is not None or not queued.is_file():
        compose_daily(settings, store, report_dir, submission)
    return deliver(settings, store, daily_email_id(session), session, "daily", Flat(queued.read_bytes()))


def queue_daily(settings: Settings, store: Store, session: dt.date, report_dir: Path) -> Delivery | None:
    """The plan email put in the outbox, not sent: a run does this before the ledger marks
    it done, so a run killed after that leaves the email for the next run to deliver
    (the email step then replaces it with the version that says what was submitted)."""
    compose_daily(settings, store, report_dir, None)
    flat = Flat((report_dir / artifacts.EMAIL_EML).read_bytes())  # as composed, not flattened again
    return queue(settings, store, daily_email_id(session), session, "daily", flat)


def daily_email_id(session: dt.date) -> str:
    return f"daily-{session.isoformat()}"


def compose_daily(settings: Settings, store: Store, report_dir: Path, submission: str | None) -> EmailMessage:
    """The plan email of the run in ``report_dir``: its HTML part rendered by nbconvert from
    the executed report notebook's email cells. Also written there as ``email.eml`` and
    ``email.html`` (a browser copy with the charts inline). If the HTML cannot be rendered
    the email still goes out, as plain text with the report attached, and says why."""
    plan = artifacts.read_plan(report_dir)
    data = json.loads((report_dir / artifacts.RUN).read_text()).get("data", {})
    excluded = data.get("excluded", {})
    notes = source_notes(data, settings.universe.volatility_index)
    alerts = artifacts.read_alerts(report_dir)
    twin = artifacts.read_twin(report_dir)
    body: EmailHtml | None = None
    note: str | None = None
    try:
        body = render_email(
            report_dir / artifacts.REPORT_NOTEBOOK,
            daily_subject(plan.session.isoformat(), plan.is_replan),
            plan.session.isoformat(),
            byline(plan),
            footer(plan),
            submission,
        )
    except Exception as exc:  # the plan must go out even if its HTML cannot be rendered
        log.warning("the email's HTML could not be rendered from the report notebook", exc_info=True)
        note = f"(The HTML version of this email could not be rendered: {type(exc).__name__}: {exc}.)"
    msg = daily_email(
        plan,
        settings,
        report_dir / artifacts.REPORT_HTML,
        excluded,
        submission,
        alerts,
        notes,
        body,
        note,
        twin_lines(TwinComparison.from_json(twin)) if twin is not None else None,
    )
    atomic_write_bytes(report_dir / artifacts.EMAIL_EML, Flat.of(msg).raw)
    if body is not None:  # a copy to open in a browser: the inline images as data: URIs instead of cid:
        page = body.html
        for cid, png in body.images.items():
            page = page.replace(f"cid:{cid}", "data:image/png;base64," + base64.b64encode(png).decode())
        atomic_write_text(report_dir / artifacts.EMAIL_HTML, page)
    return msg


def send_alert(settings: Settings, store: Store, session: dt.date, alerts: list[Alert]) -> Delivery:
    """Urgent alerts on their own: by email (or to the outbox) and to the webhook."""
    rows = [{"message": a.message, "severity": a.severity, "key": a.key} for a in alerts]
    msg = alert_email(settings, session.isoformat(), rows)
    alert(settings, f"AlgoTrading ALERT - {session}", "\n".join(a.message for a in alerts))
    digest = hashlib.sha256("|".join(sorted(a.key for a in alerts)).encode()).hexdigest()[:10]
    return deliver(settings, store, f"alert-{session.isoformat()}-{digest}", session, "alert", msg)


def send_failure(
    settings: Settings, store: Store, session: dt.date, run_id: str, step: str | None, error: str, folder: Path
) -> Delivery:
    """The alert of a failed run: the step, the error, the log's tail and the notebook as
    far as it ran (rendered to HTML); by email or to the outbox, and to the webhook."""
    log_path = folder / artifacts.LOG
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]) if log_path.is_file() else ""
    notebook_html, name = None, None
    if step and step.startswith("notebook:"):
        name = step.split(":", 1)[1]
        partial = folder / f"{name}.ipynb"
        if partial.is_file():
            try:
                target = folder / artifacts.PARTIAL_HTML.format(name=name)
                render_html(partial, target, f"{name} (failed run {session})")
                notebook_html = target.read_bytes()
            except Exception as exc:  # the alert must go out even if rendering fails
                log.warning("could not render the partial notebook %s (%s)", partial, exc)
    msg = failure_email(settings, session.isoformat(), step or "start", error, tail, folder, notebook_html, name)
    alert(settings, f"AlgoTrading run FAILED - {session} (step {step})", f"{error}\nPartial outputs: {folder}")
    return deliver(settings, store, f"failure-{session.isoformat()}-{run_id}", session, "failure", msg)
