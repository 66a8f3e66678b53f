"""The seed's transition plan, enforced: paper trading first (``PAPER_VALIDATION_SESSIONS``
successful paper sessions, each with its email delivered and no unexplained difference
between the broker and AlgoTrading's record), then live with the position limits scaled
by ``live_ramp`` for the first live sessions, then the full limits.

Counted from the run ledger of this clone's state (the same clone runs paper, then live)
and each run's ``portfolio.json`` (the reconciliation's notes).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from algotrading.config import Settings
from algotrading.daily import artifacts
from algotrading.storage.store import Store

#: Reconciliation notes that no order of AlgoTrading's explains (a trade made elsewhere,
#: a position gone, quantities apart): a paper session with one does not count.
UNEXPLAINED = ("AlgoTrading did not open", "not at the broker", "the broker holds")


@dataclass(frozen=True)
class Ramp:
    """The position-limit scale of a live session and why."""

    scale: float  # 1.0: the full limits
    note: str | None  # shown in the plan and the email when scaled


def _ok_sessions(store: Store, mode: str, before: dt.date | None = None) -> list[dt.date]:
    runs = store.runs()
    if runs.empty:
        return []
    done = runs[(runs["mode"] == mode) & (runs["status"] == "ok")]
    days = sorted({dt.date.fromisoformat(str(d)[:10]) for d in done["session_date"]})
    return [d for d in days if before is None or d < before]


def _explained(settings: Settings, session: dt.date) -> bool:
    path = settings.paths.reports_dir / session.isoformat() / artifacts.PORTFOLIO
    if not path.is_file():
        return False  # nothing to show it was clean
    notes = json.loads(path.read_text()).get("reconciliation", [])
    return not any(marker in str(n) for n in notes for marker in UNEXPLAINED)


def paper_sessions(settings: Settings, store: Store) -> list[dt.date]:
    """The paper sessions that count towards going live: run successfully, email
    delivered (sent, not left in the outbox), reconciliation explained."""
    delivered = {
        str(e["session_date"])
        for e in store.emails()
        if str(e["status"]) == "sent" and str(e.get("kind", "daily")) == "daily"
    }
    return [d for d in _ok_sessions(store, "paper") if d.isoformat() in delivered and _explained(settings, d)]


def live_ramp(settings: Settings, store: Store | None, session: dt.date) -> Ramp:
    """The scale of the position limits for a live run of ``session``: by how many live
    sessions ran successfully before it."""
    done = len(_ok_sessions(store, "live", before=session)) if store is not None else 0
    first = 0
    for step in settings.broker.live_ramp:
        if done < first + step.sessions:
            return Ramp(
                step.pct / 100,
                f"live ramp: live session {done + 1}, position limits at {step.pct:g}% "
                f"(sessions {first + 1}-{first + step.sessions} of the ramp in params/broker.yaml)",
            )
        first += step.sessions
    return Ramp(1.0, None)
