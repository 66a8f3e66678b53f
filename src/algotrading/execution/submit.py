"""Sending a plan's orders, at most once each.

Every planned order is first recorded as an intent in the state store under its
deterministic ``client_order_id``; an intent already sent is never sent again, and
before sending, the broker is asked whether it already has the id (a previous run may
have been interrupted after the broker accepted it).

Two phases (DESIGN §5, issue "brokers"): after the close, the sells and the buys that
today's cash can pay for; once the sells have filled (``--pending``: the morning run
after the open), the buys marked "after sells fill", each resized to the buying power
actually available minus ``MIN_CASH_BUFFER`` and dropped below ``MIN_POSITION_SIZE``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from algotrading import faults
from algotrading.broker.base import Broker, BrokerError, OrderRequest
from algotrading.config import SafetyParams
from algotrading.decisions.plan import Plan
from algotrading.portfolio import cents_down
from algotrading.storage.store import Store, is_sent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    client_order_id: str
    symbol: str
    side: str
    result: str  # submitted | already_sent | rejected | skipped | waiting | error
    detail: str = ""
    notional: float | None = None
    qty: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def record_plan(store: Store, plan: Plan) -> int:
    """Record the plan's orders as intents (ids already known keep their state)."""
    rows: list[dict[str, object]] = [
        {
            "client_order_id": o.client_order_id,
            "session_date": plan.session.isoformat(),
            "symbol": o.symbol,
            "side": o.side,
            "notional": o.notional,
            "qty": o.qty,
            "kind": o.kind,
            "strategy": o.strategy,
            "after_sells_fill": o.after_sells_fill,
            "stop_price": o.stop_price,
            "target_price": o.target_price,
            "confidence": o.confidence,
            "est_price": o.est_price,
        }
        for o in plan.orders
    ]
    return store.add_intents(rows)


def _send(store: Store, broker: Broker, intent: dict[str, Any], notional: float | None, qty: float | None) -> Outcome:
    cid, symbol, side = str(intent["client_order_id"]), str(intent["symbol"]), str(intent["side"])
    if is_sent(intent["status"]):
        return Outcome(cid, symbol, side, "already_sent", f"status {intent['status']}", notional, qty)
    existing = broker.get_order(cid)
    if existing is not None:
        store.update_intent(cid, status="submitted", broker_order_id=existing.id, detail="found at the broker")
        return Outcome(
            cid, symbol, side, "already_sent", f"the broker already has it ({existing.status})", notional, qty
        )
    result = broker.submit(OrderRequest(symbol, side, cid, notional=notional, qty=qty))
    faults.reach("submit:after_first_order")  # at the broker, not yet in the store: get_order finds it again
    if result.outcome in ("submitted", "duplicate"):
        order_id = result.order.id if result.order else None
        store.update_intent(
            cid, status="submitted", broker_order_id=order_id, notional=notional, qty=qty, detail=result.reason
        )
        kind = "submitted" if result.outcome == "submitted" else "already_sent"
        return Outcome(cid, symbol, side, kind, result.reason or "", notional, qty)
    store.update_intent(cid, status="rejected", detail=result.reason)
    log.warning("order %s (%s %s) rejected: %s", cid, side, symbol, result.reason)
    return Outcome(cid, symbol, side, "rejected", result.reason or "", notional, qty)


def _send_all(
    store: Store, broker: Broker, batch: list[tuple[dict[str, Any], float | None, float | None]]
) -> list[Outcome]:
    """Send in order; a broker that cannot be reached stops the batch (the rest waits)."""
    out: list[Outcome] = []
    for k, (intent, notional, qty) in enumerate(batch):
        try:
            out.append(_send(store, broker, intent, notional, qty))
        except BrokerError as exc:
            cid = str(intent["client_order_id"])
            store.update_intent(cid, status="unknown", detail=str(exc))
            out.append(Outcome(cid, str(intent["symbol"]), str(intent["side"]), "error", str(exc), notional, qty))
            for rest, n, q in batch[k + 1 :]:
                out.append(
                    Outcome(
                        str(rest["client_order_id"]),
                        str(rest["symbol"]),
                        str(rest["side"]),
                        "skipped",
                        "not sent: the broker could not be reached; run --submit again",
                        n,
                        q,
                    )
                )
            break
    return out


def submit_close(store: Store, broker: Broker, session: dt.date) -> list[Outcome]:
    """After the close: the session's sells, then the buys that cash pays for today."""
    intents: list[dict[str, Any]] = store.intents(session)
    sells = [i for i in intents if i["side"] == "sell"]
    buys = [i for i in intents if i["side"] == "buy" and not i["after_sells_fill"]]
    return _send_all(store, broker, [(i, i["notional"], i["qty"]) for i in sells + buys])


class PlanRefused(RuntimeError):
    """A plan that must not be sent (nothing was sent)."""


def submit_plan(store: Store, broker: Broker, plan: Plan) -> tuple[int, list[Outcome]]:
    """After the close: record the plan's orders as intents (returns how many were new)
    and send its sells and the buys today's cash pays for. Refused (nothing sent) when orders of the session were
    already sent from a different plan: a re-made plan must not double the orders."""
    sent_before = {str(i["client_order_id"]) for i in store.intents(plan.session) if is_sent(i["status"])}
    foreign = sent_before - {o.client_order_id for o in plan.orders}
    if foreign:
        raise PlanRefused(
            f"orders for {plan.session} were already sent from an earlier plan ({len(foreign)} of them); "
            "a re-made plan for the same session is not submitted. Nothing new was sent."
        )
    added = record_plan(store, plan)
    return added, submit_close(store, broker, plan.session)


def submit_pending(
    store: Store, broker: Broker, session: dt.date, safety: SafetyParams, prices: dict[str, float]
) -> list[Outcome]:
    """Once the session's sells have filled: the buys that needed their proceeds."""
    intents: list[dict[str, Any]] = store.intents(session)
    pending = [i for i in intents if i["side"] == "buy" and i["after_sells_fill"]]
    if not pending:
        return []
    unfilled = []
    for sell in (i for i in intents if i["side"] == "sell" and i["status"] not in ("rejected", "not_found")):
        order = broker.get_order(str(sell["client_order_id"]))
        if order is None or order.status != "filled":
            unfilled.append(f"{sell['symbol']} ({order.status if order else 'not at the broker'})")
    if unfilled:
        why = f"waiting for today's sells to fill: {', '.join(unfilled)}"
        return [Outcome(str(i["client_order_id"]), str(i["symbol"]), "buy", "waiting", why) for i in pending]
    available = broker.account().buying_power - safety.min_cash_buffer
    batch: list[tuple[dict[str, Any], float | None, float | None]] = []
    out: list[Outcome] = []
    for i in pending:
        if is_sent(i["status"]):
            batch.append((i, i["notional"], i["qty"]))
            continue
        price = prices.get(str(i["symbol"]), 0.0)
        planned = float(i["notional"]) if i["notional"] is not None else float(i["qty"]) * price
        amount, notional, qty = fit_pending(planned, None if i["qty"] is None else float(i["qty"]), price, available)
        if amount < safety.min_position_size - 1e-9:
            detail = (
                f"only ${max(available, 0):,.2f} of buying power left after the sells (MIN_CASH_BUFFER "
                f"${safety.min_cash_buffer:,.2f} kept): below MIN_POSITION_SIZE ${safety.min_position_size:,.2f}"
            )
            store.update_intent(str(i["client_order_id"]), status="skipped", detail=detail)
            out.append(Outcome(str(i["client_order_id"]), str(i["symbol"]), "buy", "skipped", detail))
            continue
        if amount < planned - 0.01:
            log.info(
                "pending buy %s resized from $%.2f to $%.2f to the buying power left", i["symbol"], planned, amount
            )
        available -= amount
        batch.append((i, notional, qty))
    return out + _send_all(store, broker, batch)


def fit_pending(
    planned: float, qty: float | None, price: float, available: float
) -> tuple[float, float | None, float | None]:
    """(amount, notional, qty) of a waiting buy given the buying power ``available`` over
    the cash buffer: never more than planned nor than available. A notional is rounded
    down to the cent, whole shares down to the share (at ``price``), so the buffer is kept
    to the cent."""
    room = max(min(planned, available), 0.0)
    if qty is None:
        notional = cents_down(room)
        return notional, notional, None
    shares = float(min(qty, math.floor(room / price + 1e-9))) if price > 0 else 0.0
    while shares > 0 and shares * price > room:  # the division's float noise never buys a share too many
        shares -= 1
    return shares * price, None, shares


def summary(outcomes: list[Outcome]) -> str:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to send"
