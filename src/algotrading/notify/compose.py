"""The emails: the daily plan (DESIGN §6) and the failure alert, as MIME messages with an
HTML part, a plain-text part, inline CID chart images and attachments.

The content comes from ``plan.json`` and the run's files only, so the email says exactly
what the plan says; secrets are never part of it (the log tail is already redacted).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import jinja2

from algotrading.config import Settings
from algotrading.decisions.at_broker import REPLAN_TERMS
from algotrading.decisions.plan import Plan
from algotrading.report.email_html import EmailHtml
from algotrading.report.formats import money, pct

TEMPLATES = Path(__file__).resolve().parent / "templates"
BANNERS = {
    "HALTED": ("#ef6c00", "#fff3e0", "HALTED: no new buys until `algotrading risk resume`"),
    "EMERGENCY_STOP": ("#c62828", "#ffebee", "EMERGENCY STOP: only stop-loss sells until `algotrading risk resume`"),
    "BREAKER": ("#ef6c00", "#fff3e0", "CIRCUIT BREAKER: new buys paused today"),
}
RISK_COLOURS = {"ACTIVE": "#2e7d32", "HALTED": "#ef6c00", "EMERGENCY_STOP": "#c62828"}


def daily_subject(session: str, replan: bool = False) -> str:
    return f"AlgoTrading Daily Signals - {session}" + (" (re-plan)" if replan else "")


def _price(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """One Jinja environment per process: it keeps its compiled templates (reloaded when a
    file changes), where a new one compiled them for every email."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    env.filters.update(money=money, pct=pct, price=_price)
    return env


def daily_context(
    plan: Plan,
    settings: Settings,
    excluded: dict[str, str],
    submission: str | None,
    attachment_name: str,
    alerts: list[dict[str, Any]] | None = None,
    source_notes: list[str] | None = None,
    html_note: str | None = None,
    twin: list[str] | None = None,
) -> dict[str, Any]:
    """What the plain-text part shows (the HTML part is the report notebook's email cells);
    ``twin``: a live account's "Paper twin" section in lines (report/twin_views.py)."""
    doc = plan.to_json()
    p = plan.portfolio
    start = settings.safety.portfolio_size
    risk = doc["risk"]
    breaker = risk["circuit_breaker"]
    banner = None
    if risk["state"] != "ACTIVE" or breaker["tripped"]:
        key = risk["state"] if risk["state"] != "ACTIVE" else "BREAKER"
        colour, background, title = BANNERS[key]
        if risk["state"] != "ACTIVE" and breaker["tripped"]:
            title += " (and the circuit breaker is tripped)"
        banner = {"colour": colour, "background": background, "title": title, "lines": risk["restrictions"]}
    decisions = {(s["symbol"], s["strategy"]): s for s in doc["signals"]}
    top = [
        t
        | {
            "decision": decisions[(t["symbol"], t["strategy"])]["decision"],
            "notional": decisions[(t["symbol"], t["strategy"])].get("notional") or None,
        }
        for t in doc["top_signals"]
    ]
    eligible = [s["name"] for s in doc["strategies"] if s["eligible"]]
    orders = [
        {
            "side": o.side,
            "symbol": o.symbol,
            "amount": money(o.est_value),
            "assumed": o.assumed,
            "why": o.why or o.reason,
            "levels": ", ".join(
                f"{name} {money(v)}" for name, v in (("Stop", o.stop_price), ("target", o.target_price)) if v
            )
            or (o.exits_by if o.side == "buy" else ""),
            "sizing": o.sizing,
            "after_sells_fill": o.after_sells_fill,
        }
        for o in plan.orders
    ]
    return {
        "subject": daily_subject(doc["session_date"], plan.is_replan),
        "replan": [o.words() for o in plan.at_broker],
        "replan_terms": REPLAN_TERMS,
        "session": doc["session_date"],
        "mode": doc["mode"],
        "generated_at": doc["generated_at"],
        "broker": doc["broker"]["name"],
        "account": doc["broker"]["account"],
        "banner": banner,
        "alerts": alerts or [],
        "risk_state": risk["state"].replace("_", " "),
        "risk_colour": RISK_COLOURS.get(risk["state"], "#222"),
        "p": {
            "equity": p.equity,
            "cash": p.cash,
            "invested": p.invested,
            "positions": doc["portfolio"]["positions"],
            "day_pl": None if p.previous_equity is None else p.equity - p.previous_equity,
            "day_pct": p.daily_change,
            "total_pl": p.equity - start,
            "total_pct": p.equity / start - 1 if start else 0.0,
            "start": start,
            "drawdown": p.drawdown,
            "peak": doc["portfolio"]["peak_equity"],
        },
        "reconciliation": doc["reconciliation"],
        "previous_orders": doc.get("previous_orders", []),
        "ramp_note": doc["limits"].get("ramp_note"),
        "breaker_notes": risk["circuit_breaker"].get("notes", []),
        "limits_max": doc["limits"]["max_position_size"],
        "top": top,
        "top_note": (
            "no strategy has positive momentum, so no signal is considered"
            if not eligible
            else "no BUY signal from an eligible strategy today"
        ),
        "cash": doc["cash_analysis"],
        "consolidation": doc["consolidation"],
        "orders": orders,
        "orders_note": plan.no_orders_reason,
        "submission": submission,
        "excluded": excluded,
        "source_notes": source_notes or [],
        "attachment_name": attachment_name,
        "html_note": html_note,
        "twin": twin or [],
    }


def _message(settings: Settings, subject: str, text: str, html: str | None) -> EmailMessage:
    email = settings.email
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = email.from_address or email.username or "algotrading@localhost"
    msg["To"] = ", ".join(email.to) if email.to else "outbox@localhost"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="algotrading.local")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def byline(plan: Plan) -> str:
    """The line under the email's title: mode, broker and account, when it was generated."""
    account = f" {plan.portfolio.account}" if plan.portfolio.account else ""
    return f"{plan.mode} mode · {plan.portfolio.source}{account} · generated {plan.generated_at}"


def footer(plan: Plan) -> list[str]:
    return [
        f"The full report (signals, strategy performance, data health) is attached as "
        f"{attachment_name(plan)}; it opens in any browser without a network. Every number is in "
        f"reports/{plan.session}/plan.json."
    ]


def attachment_name(plan: Plan) -> str:
    return f"report-{plan.session.isoformat()}.html"


def daily_email(
    plan: Plan,
    settings: Settings,
    report_html: Path | None,
    excluded: dict[str, str],
    submission: str | None = None,
    alerts: list[dict[str, Any]] | None = None,
    source_notes: list[str] | None = None,
    body: EmailHtml | None = None,
    html_note: str | None = None,
    twin: list[str] | None = None,
) -> EmailMessage:
    """The daily plan email: its HTML part is ``body`` (the report notebook's email cells,
    :func:`algotrading.report.email_html.render_email`, with its images as inline parts),
    its plain-text part the same plan from ``plan.json``; ``report_html`` is attached when
    given. Without a ``body`` the message is plain text, with ``html_note`` saying why.
    ``twin``: a live account's comparison with its paper twin, in lines."""
    context = daily_context(
        plan, settings, excluded, submission, attachment_name(plan), alerts, source_notes, html_note, twin
    )
    text = _env().get_template("daily.txt.j2").render(context)
    msg = _message(settings, context["subject"], text, body.html if body is not None else None)
    if body is not None:
        html_part = cast(list[EmailMessage], msg.get_payload())[1]  # _message makes it multipart/alternative
        for cid, png in body.images.items():
            html_part.add_related(png, "image", "png", cid=f"<{cid}>", filename=cid, disposition="inline")
    if report_html is not None and report_html.is_file():
        msg.add_attachment(report_html.read_bytes(), maintype="text", subtype="html", filename=attachment_name(plan))
    return msg


def alert_email(settings: Settings, session: str, alerts: list[dict[str, Any]]) -> EmailMessage:
    """Urgent monitoring alerts, sent on their own (a missed run, a halt, a failed check)."""
    first = alerts[0]["message"]
    subject = f"AlgoTrading ALERT - {session}: " + (first if len(first) <= 70 else first[:67] + "...")
    context = {"subject": subject, "session": session, "alerts": alerts}
    env = _env()
    return _message(
        settings,
        subject,
        env.get_template("alert.txt.j2").render(context),
        env.get_template("alert.html.j2").render(context),
    )


def failure_email(
    settings: Settings,
    session: str,
    step: str,
    error: str,
    log_tail: str,
    folder: Path,
    notebook_html: bytes | None,
    notebook_name: str | None,
) -> EmailMessage:
    """The alert for a failed run, with the partly executed notebook attached."""
    subject = f"AlgoTrading run FAILED - {session} (step {step})"
    attachment = f"{notebook_name}.html" if notebook_html is not None and notebook_name else None
    context = {
        "subject": subject,
        "session": session,
        "step": step,
        "error": error,
        "log_tail": log_tail,
        "folder": str(folder),
        "attachment_name": attachment,
    }
    env = _env()
    msg = _message(
        settings,
        subject,
        env.get_template("failure.txt.j2").render(context),
        env.get_template("failure.html.j2").render(context),
    )
    if attachment and notebook_html is not None:
        msg.add_attachment(notebook_html, maintype="text", subtype="html", filename=attachment)
    return msg
