"""Delivering messages without losing one (DESIGN §6).

Every message is first written to ``reports/outbox/<id>.eml`` and recorded in the state
store. Without SMTP settings (demo) the outbox is its destination. With SMTP it is sent;
delivered, it leaves the outbox and is never sent again; not delivered, it stays there
marked ``pending``, the webhook (``ALERT_WEBHOOK_URL``) is told, and the next run sends
it before anything else.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from algotrading import faults
from algotrading.config import Settings
from algotrading.notify import webhook
from algotrading.notify.smtp import EmailError, Flat, send
from algotrading.storage.files import atomic_write_bytes
from algotrading.storage.store import Store

log = logging.getLogger(__name__)
OUTBOX = "outbox"


@dataclass(frozen=True)
class Delivery:
    email_id: str
    status: str  # sent | outbox | pending | skipped
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "pending"


def outbox_dir(settings: Settings) -> Path:
    return settings.paths.reports_dir / OUTBOX


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.email.smtp_server and settings.email.to)


def alert(settings: Settings, title: str, message: str) -> bool:
    """The webhook fallback, when one is configured."""
    if settings.alert_webhook_url is None:
        return False
    return webhook.notify(settings.alert_webhook_url.get_secret_value(), title, message)


#: The note a send puts on a message before it talks to the server; still there at the
#: next start, it says a run was killed mid-send: the message may or may not have arrived.
SENDING = "sending since "
HELD = "held: "


def _send(
    settings: Settings, store: Store, email_id: str, msg: Flat, path: Path, deadline: float | None = None
) -> Delivery:
    password = settings.email_password.get_secret_value() if settings.email_password else None
    store.note_email(email_id, SENDING + dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    try:
        tries = send(msg, settings.email, password, deadline=deadline)
        faults.reach("email:accepted")
    except EmailError as exc:
        store.email_attempt(email_id, "pending", str(exc))
        warned = alert(
            settings,
            f"AlgoTrading: email not delivered ({msg.header('Subject')})",
            f"{exc}\nThe message is kept in {path}.",
        )
        log.error("email %s not delivered: %s%s", email_id, exc, "; webhook alerted" if warned else "")
        return Delivery(email_id, "pending", str(exc))
    store.email_attempt(email_id, "sent")
    path.unlink(missing_ok=True)
    log.info(
        "email %s delivered to %s (%d tr%s)",
        email_id,
        ", ".join(settings.email.to),
        tries,
        "y" if tries == 1 else "ies",
    )
    return Delivery(email_id, "sent", f"delivered to {', '.join(settings.email.to)}")


def queue(
    settings: Settings, store: Store, email_id: str, session: dt.date, kind: str, msg: EmailMessage | Flat
) -> Delivery | None:
    """Put ``msg`` in the outbox (``pending`` with SMTP configured, else ``outbox``, the
    demo's destination), replacing a version not yet sent. Returns the final
    :class:`Delivery` when there is nothing to send, else None (:func:`deliver` sends)."""
    flat = Flat.of(msg)
    known = store.email(email_id)
    if known is not None and known["status"] == "sent":
        return Delivery(email_id, "skipped", f"already delivered at {known['sent_at']}; not sent again")
    path = outbox_dir(settings) / f"{email_id}.eml"
    atomic_write_bytes(path, flat.raw)
    subject = flat.header("Subject")
    if not smtp_configured(settings):
        store.save_email(email_id, session, kind, subject, str(path), "outbox")
        return Delivery(email_id, "outbox", f"no SMTP configured: written to {path}")
    store.save_email(email_id, session, kind, subject, str(path), "pending")
    return None


def deliver(
    settings: Settings, store: Store, email_id: str, session: dt.date, kind: str, msg: EmailMessage | Flat
) -> Delivery:
    """Put ``msg`` in the outbox and, with SMTP configured, send it (once, ever)."""
    flat = Flat.of(msg)
    done = queue(settings, store, email_id, session, kind, flat)
    if done is not None:
        return done
    return _send(settings, store, email_id, flat, outbox_dir(settings) / f"{email_id}.eml")


def resend_pending(settings: Settings, store: Store) -> list[Delivery]:
    """Send what earlier runs could not, oldest first (before today's own messages), within
    ``resend_budget_seconds`` in all: a server that is down or hangs must not hold up the
    run. After a failed re-send the rest wait for the next run (the server is the same)."""
    if not smtp_configured(settings):
        return []
    deadline = time.monotonic() + settings.email.resend_budget_seconds
    out: list[Delivery] = []
    server_failed = False
    for row in store.emails(status="pending"):
        email_id, path = str(row["id"]), Path(str(row["path"]))
        if not path.is_file():
            store.email_attempt(email_id, "pending", f"the outbox file {path} is missing")
            out.append(Delivery(email_id, "pending", f"outbox file {path} missing"))
            continue
        note = str(row.get("last_error") or "")
        if note.startswith((SENDING, HELD)):
            out.append(_hold(settings, store, email_id, str(row["subject"]), note))
            continue
        if server_failed:
            out.append(Delivery(email_id, "pending", "not tried: an earlier re-send failed; the next run tries it"))
            continue
        msg = Flat(path.read_bytes())
        log.info("re-sending %s from the outbox (%s)", email_id, row["subject"])
        out.append(_send(settings, store, email_id, msg, path, deadline))
        server_failed = out[-1].failed
    return out


def _hold(settings: Settings, store: Store, email_id: str, subject: str, note: str) -> Delivery:
    """A message a killed run was sending: the server may have it already. Sent again it
    could arrive twice, so it waits in the outbox for the user (said once, by webhook)."""
    if note.startswith(HELD):
        return Delivery(email_id, "pending", note)
    held = (
        f"{HELD}a run was killed while sending it ({note}); it may have been delivered. Not sent again by itself, "
        f"so that it never arrives twice: check the inbox, then `algotrading outbox send {email_id}` if it is not there"
    )
    store.note_email(email_id, held)
    log.warning("outbox: %s %s", email_id, held)
    alert(settings, f"AlgoTrading: email held in the outbox ({subject})", held)
    return Delivery(email_id, "pending", held)


def send_now(settings: Settings, store: Store, email_id: str) -> Delivery:
    """Send one outbox message now, held or not (``algotrading outbox send``)."""
    row = store.email(email_id)
    if row is None:
        raise KeyError(f"no message {email_id} in the outbox")
    if row["status"] == "sent":
        return Delivery(email_id, "skipped", f"already delivered at {row['sent_at']}; not sent again")
    path = Path(str(row["path"]))
    if not path.is_file():
        raise KeyError(f"the outbox file {path} of {email_id} is missing")
    if not smtp_configured(settings):
        return Delivery(email_id, "outbox", f"no SMTP configured: it stays in {path}")
    msg = Flat(path.read_bytes())
    return _send(settings, store, email_id, msg, path)
