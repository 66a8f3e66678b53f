"""Reconciliation before planning (DESIGN §3 step 7, issue "brokers"): the broker's cash
and positions are the truth; AlgoTrading's own record adds why each position was opened
(strategy, entry session, stop, target, confidence). Every difference between the two,
and every order still open from earlier, is written down for the report and the email.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import cast

from algotrading.broker.base import OPEN_STATUSES, AccountInfo, Broker, BrokerPosition, OrderStatus
from algotrading.decisions.at_broker import SentOrder
from algotrading.portfolio import Portfolio, Position
from algotrading.storage.store import PositionRecord, Store

log = logging.getLogger(__name__)
QTY_TOLERANCE = 1e-6
#: Intent states of an order that went out and is not final: followed until the broker
#: reports it final, and counted by a re-plan of its session.
NOT_FINAL = ("submitted", "unknown", *sorted(OPEN_STATUSES))


@dataclass(frozen=True)
class Reconciliation:
    portfolio: Portfolio
    notes: tuple[str, ...]
    open_orders: tuple[OrderStatus, ...]
    records: tuple[PositionRecord, ...]


def follow_orders(store: Store, broker: Broker) -> list[str]:
    """Ask the broker about every order sent but not final; record fills in the intents
    and the position record (by the newly filled quantity, so a partial fill followed
    by the rest is counted once). Returns what changed, in words."""
    notes = []
    records = store.position_records()
    for intent in store.intents(statuses=NOT_FINAL):
        cid = str(intent["client_order_id"])
        order = broker.get_order(cid)
        if order is None:
            if intent["status"] == "unknown":
                store.update_intent(cid, status="not_found", detail="the broker has no such order: it was never placed")
                notes.append(
                    f"order {cid} ({intent['side']} {intent['symbol']}) was never placed (broker has no record)"
                )
            continue
        new_qty = order.filled_qty - float(cast("float | None", intent["filled_qty"]) or 0.0)
        store.update_intent(
            cid,
            status=order.status,
            broker_order_id=order.id,
            filled_qty=order.filled_qty,
            filled_avg_price=order.filled_avg_price,
            detail=order.reason,
        )
        if new_qty <= QTY_TOLERANCE:
            continue
        symbol = str(intent["symbol"])
        old = records.get(symbol)
        if intent["side"] == "buy":
            records[symbol] = PositionRecord(
                symbol=symbol,
                qty=(old.qty if old else 0.0) + new_qty,
                strategy=str(intent["strategy"]) if intent["strategy"] else None,
                entry_session=str(intent["session_date"]),
                entry_price=order.filled_avg_price,
                stop_price=_opt(intent["stop_price"]),
                target_price=_opt(intent["target_price"]),
                entry_confidence=_opt(intent["confidence"]),
            )
            verb = "bought"
        else:
            left = (old.qty if old else 0.0) - new_qty
            if old is not None and left > QTY_TOLERANCE:
                records[symbol] = PositionRecord(
                    symbol,
                    left,
                    old.strategy,
                    old.entry_session,
                    old.entry_price,
                    old.stop_price,
                    old.target_price,
                    old.entry_confidence,
                )
            else:
                records.pop(symbol, None)
            verb = "sold"
        price = f" at {order.filled_avg_price:.2f}" if order.filled_avg_price else ""
        notes.append(f"{verb} {new_qty:g} {symbol}{price} ({intent['kind']}, {cid}, {order.status})")
    store.save_position_records(list(records.values()))
    return notes


def orders_at_broker(store: Store, session: dt.date) -> tuple[SentOrder, ...]:
    """The orders of ``session``'s plan that went out and have not fully filled (after
    :func:`follow_orders`), with what is left of each: what a re-plan counts. An order
    whose sending failed ("unknown") may be at the broker, so it is counted too."""
    out = []
    for i in store.intents(session, statuses=NOT_FINAL):
        price = float(cast("float", i["est_price"]) or 0.0)
        filled = float(cast("float | None", i["filled_qty"]) or 0.0)
        qty = _opt(i["qty"])
        if qty is not None:
            qty = max(qty - filled, 0.0)
            value = qty * price
        else:
            paid = float(cast("float | None", i["filled_avg_price"]) or price)
            value = max(float(cast("float", i["notional"]) or 0.0) - filled * paid, 0.0)
        strategy = str(i["strategy"]) if i["strategy"] else None
        cid, symbol, side, status = (str(i[k]) for k in ("client_order_id", "symbol", "side", "status"))
        out.append(SentOrder(cid, symbol, side, status, round(value, 2), qty, price, strategy))
    return tuple(out)


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def reconcile(
    session: dt.date,
    account: AccountInfo,
    broker_name: str,
    positions: list[BrokerPosition],
    open_orders: list[OrderStatus],
    records: dict[str, PositionRecord],
) -> Reconciliation:
    """The portfolio as the broker has it, with the record's knowledge attached."""
    notes: list[str] = []
    out: list[Position] = []
    new_records: list[PositionRecord] = []
    held = {p.symbol for p in positions}
    for p in sorted(positions, key=lambda x: x.symbol):
        rec = records.get(p.symbol)
        if rec is None:
            notes.append(
                f"{p.symbol}: {p.qty:g} shares at the broker that AlgoTrading did not open (bought elsewhere?); "
                "kept in the portfolio, but no strategy's exit rules apply to it"
            )
            rec = PositionRecord(p.symbol, p.qty, None, None, p.avg_entry_price, None, None, None)
        elif abs(rec.qty - p.qty) > QTY_TOLERANCE:
            notes.append(
                f"{p.symbol}: the broker holds {p.qty:g} shares, AlgoTrading's record {rec.qty:g} (a partial fill or a "
                "trade outside AlgoTrading); the broker's number is used"
            )
        entry = dt.date.fromisoformat(rec.entry_session) if rec.entry_session else None
        out.append(
            Position(
                p.symbol,
                p.qty,
                p.avg_entry_price,
                p.current_price,
                rec.strategy,
                entry,
                rec.stop_price,
                rec.target_price,
                rec.entry_confidence,
            )
        )
        new_records.append(
            PositionRecord(
                p.symbol,
                p.qty,
                rec.strategy,
                rec.entry_session,
                rec.entry_price,
                rec.stop_price,
                rec.target_price,
                rec.entry_confidence,
            )
        )
    for symbol, rec in sorted(records.items()):
        if symbol not in held:
            notes.append(
                f"{symbol}: in AlgoTrading's record ({rec.qty:g} shares) "
                "but not at the broker (sold elsewhere?); dropped"
            )
    for o in open_orders:
        notes.append(
            f"order still open from before: {o.side} {o.symbol} ({o.status}, {o.client_order_id}); "
            f"left as it is, and no new order for {o.symbol} today"
        )
    portfolio = Portfolio(session, account.cash, tuple(out), source=broker_name, account=account.account_number)
    for n in notes:
        log.warning("reconciliation: %s", n)
    return Reconciliation(portfolio, tuple(notes), tuple(open_orders), tuple(new_records))


__all__ = ["Reconciliation", "follow_orders", "reconcile"]
