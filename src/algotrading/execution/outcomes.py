"""The fate of every planned order (the report's and email's "Yesterday's orders").

Each order a plan recorded ends as one of: filled (shares, average price, and slippage
against the price the plan assumed, in basis points), partly filled (x of y shares, the
rest canceled or expired), rejected by the broker (with its reason), canceled, expired,
never sent (and why), waiting for ``--submit --pending``, or still open. An order that
was never sent does not stay "planned": once the session after its plan has closed it
is marked expired here, with the reason, so that every order's fate reaches the user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from algotrading import calendar as cal
from algotrading.storage.store import NOT_SENT, Store

#: Fates that need a person's attention (each raises an alert).
ATTENTION = frozenset({"rejected", "never_sent", "expired"})
QTY_EPS = 1e-9


@dataclass(frozen=True)
class OrderFate:
    """What became of one planned order."""

    session: str  # the plan's session
    client_order_id: str
    symbol: str
    side: str
    kind: str  # entry, exit, stop, target, swap, ...
    fate: str  # filled | partially_filled | rejected | canceled | expired | never_sent | waiting | open
    planned: str  # "$225.00" or "3 shares"
    filled_qty: float
    avg_price: float | None
    assumed_price: float | None  # the close the plan sized the order with
    slippage_bps: float | None  # (fill - assumed) / assumed, in basis points; positive = paid more (buy)
    detail: str  # the fate in words

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def follow_up(store: Store, session: dt.date) -> tuple[list[str], list[OrderFate]]:
    """What the daily run (and the replay) do after reading the account: expire what was
    never sent, then report the fate of the last plan's orders."""
    return expire_unsent(store, session), order_fates(store, session)


def expire_unsent(store: Store, session: dt.date) -> list[str]:
    """Mark the never-sent orders of plans before ``session`` expired (a waiting buy whose
    morning run did not send it, an order a failed submission skipped): DAY orders of a
    plan are for the session after it, which has closed by the time ``session`` runs."""
    notes = []
    for i in store.intents(statuses=tuple(NOT_SENT)):
        plan_session = dt.date.fromisoformat(str(i["session_date"]))
        if plan_session >= session:
            continue
        why = str(i["detail"] or "").strip()
        if i["after_sells_fill"] and not why:
            why = "it waited for the sells to fill and `algotrading daily --submit --pending` did not send it"
        why = why or "it was never sent to the broker"
        detail = f"never sent, expired after the session following its {plan_session} plan: {why}"
        store.update_intent(str(i["client_order_id"]), status="expired", detail=detail)
        notes.append(f"{i['side']} {i['symbol']} of the {plan_session} plan expired unsent: {why}")
    return notes


def planned_words(intent: Mapping[str, Any]) -> str:
    """What an intent asked for: "$225.00" (notional) or "3 shares"."""
    if intent["qty"] is not None:
        return f"{float(intent['qty']):g} shares"
    return f"${float(intent['notional'] or 0):,.2f}"


def fate_of(intent: Mapping[str, Any]) -> tuple[str, str]:
    """(fate, words) from an intent's recorded status."""
    status = str(intent["status"])
    filled = float(intent["filled_qty"] or 0.0)
    detail = str(intent["detail"] or "").strip()
    verb = "bought" if intent["side"] == "buy" else "sold"
    price = f" at {float(intent['filled_avg_price']):,.2f}" if intent["filled_avg_price"] else ""
    if status == "filled":
        return "filled", f"{verb} {filled:g} {intent['symbol']}{price}"
    if status in ("canceled", "expired", "done_for_day") and filled > QTY_EPS:
        planned = f" of {float(intent['qty']):g}" if intent["qty"] is not None else ""
        rest = "canceled" if status == "canceled" else "expired"
        return "partially_filled", f"{verb} {filled:g}{planned} {intent['symbol']}{price}; the rest {rest}"
    if status == "rejected":
        return (
            "rejected",
            f"rejected by the broker: {detail or 'no reason on the order (Alpaca gives none after acceptance)'}",
        )
    if status == "canceled":
        return "canceled", f"canceled{': ' + detail if detail else ''}"
    if status == "expired" and detail.startswith("never sent"):
        return "expired", detail
    if status in ("expired", "done_for_day"):
        return "expired", "expired unfilled at the end of the day"
    if status in NOT_SENT and intent["after_sells_fill"]:
        return "waiting", "waits for its sells to fill: `algotrading daily --submit --pending` sends it after the open"
    if status in NOT_SENT:
        return "never_sent", f"never sent: {detail or 'the submission stopped before it'}"
    if status == "unknown":
        return "open", f"unknown: {detail or 'the broker has not confirmed it yet'}"
    part = f", {filled:g} filled so far{price}" if filled > QTY_EPS else ""
    return "open", f"still open at the broker ({status}{part})"


def _reported_since(store: Store, plan_session: dt.date, session: dt.date) -> bool:
    """Whether a session between the plan's and ``session`` ran successfully: its report
    and email already said what became of the plan's orders (final by then: DAY orders
    end at the close, a waiting buy expires)."""
    return any(cal.is_session(day) for day in store.sessions_run_ok(plan_session, session))


def order_fates(store: Store, session: dt.date) -> list[OrderFate]:
    """The fate of each order of the latest plan before ``session`` that recorded orders
    (sells first, as planned), unless a successful run since has reported them already;
    the slippage is against the price the plan assumed (the intent's ``est_price``)."""
    plan_session = store.latest_intent_session(session)
    if plan_session is None or _reported_since(store, plan_session, session):
        return []
    out = []
    rows: list[dict[str, Any]] = store.intents(plan_session)
    for i in rows:
        fate, words = fate_of(i)
        cid = str(i["client_order_id"])
        base = float(i["est_price"]) if i.get("est_price") else None
        avg = float(i["filled_avg_price"]) if i["filled_avg_price"] else None
        slip = None
        if avg is not None and base:
            slip = round((avg - base) / base * 10_000 * (1 if i["side"] == "buy" else -1), 1)
            words += f" (slippage {slip:+.1f} bp against {base:,.2f} assumed)"
        out.append(
            OrderFate(
                session=str(i["session_date"]),
                client_order_id=cid,
                symbol=str(i["symbol"]),
                side=str(i["side"]),
                kind=str(i["kind"]),
                fate=fate,
                planned=planned_words(i),
                filled_qty=float(i["filled_qty"] or 0.0),
                avg_price=avg,
                assumed_price=base,
                slippage_bps=slip,
                detail=words,
            )
        )
    return sorted(out, key=lambda f: (f.side != "sell", f.symbol))
