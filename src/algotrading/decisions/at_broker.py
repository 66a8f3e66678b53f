"""Orders of the session already at the broker, counted by a re-plan.

A ``--force`` re-run of a session whose plan was submitted plans again while the first
plan's orders wait at the broker for the next open. Those orders are counted as if they
fill at the price the first plan assumed: a sent buy has spent its dollars and takes its
slot, a sent sell closes its position (its proceeds arrive only once it fills, so buys
that need them wait, as for the plan's own sells), and no new order is made for any of
their symbols. The new plan therefore never spends money or slots twice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from algotrading.decisions.safety import PlannedSell
from algotrading.portfolio import Portfolio, Position

#: What a re-plan is, in the words the report and the email use.
REPLAN_TERMS = (
    "This plan counts them (the cash their buys spend and the slots they take) and makes no new order for "
    "their symbols. It is not submitted: a session's orders go out from one plan only. The first plan and "
    "its submission are kept in the report folder's replaced/."
)


@dataclass(frozen=True)
class SentOrder:
    """One order of this session's plan that the broker holds and has not fully filled."""

    client_order_id: str
    symbol: str
    side: str  # buy | sell
    status: str  # the intent's status: submitted, unknown (maybe sent) or an open broker status
    value: float  # dollars still to fill, at the price the plan assumed
    qty: float | None  # shares still to fill (a sell, or a whole-share buy)
    price: float  # the price the plan assumed (the session's close)
    strategy: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SentOrder:
        fields: dict[str, Any] = {k: doc.get(k) for k in cls.__dataclass_fields__}
        return cls(**fields)

    def words(self) -> str:
        """e.g. "BUY JPM $225.00 (submitted)" or "SELL BAC 3 shares (accepted)"."""
        size = f"{self.qty:g} shares" if self.side == "sell" and self.qty else f"${self.value:,.2f}"
        return f"{self.side.upper()} {self.symbol} {size} ({self.status})"


def counted(portfolio: Portfolio, sent: tuple[SentOrder, ...]) -> tuple[Portfolio, list[PlannedSell]]:
    """The portfolio a re-plan sizes from, and the sells already sent.

    Sent buys leave the cash and become positions worth what they spend (equity does not
    change); the sent sells are returned as sells already in the plan, which free their
    slots and bring proceeds that only buys waiting for the sells may use."""
    buys = [o for o in sent if o.side == "buy"]
    if not buys:
        return portfolio, _sells(portfolio, sent)
    positions = list(portfolio.positions)
    for o in buys:
        qty = o.value / o.price if o.price > 0 else 0.0
        held = next((k for k, p in enumerate(positions) if p.symbol == o.symbol), None)
        if held is None:
            positions.append(Position(o.symbol, qty, o.price, o.price, o.strategy))
        else:
            p = positions[held]
            positions[held] = replace(p, qty=p.qty + qty)
    cash = portfolio.cash - math.fsum(o.value for o in buys)
    return replace(portfolio, cash=cash, positions=tuple(positions)), _sells(portfolio, sent)


def _sells(portfolio: Portfolio, sent: tuple[SentOrder, ...]) -> list[PlannedSell]:
    out = []
    for o in sent:
        if o.side != "sell":
            continue
        held = portfolio.position(o.symbol)
        closes = held is None or o.qty is None or o.qty >= held.qty - 1e-9
        out.append(PlannedSell(o.symbol, o.value, closes))
    return out


def replan_note(sent: tuple[SentOrder, ...]) -> str:
    """The plan's note for the user: what is already at the broker and how it is counted."""
    buys = [o for o in sent if o.side == "buy"]
    sells = [o for o in sent if o.side == "sell"]
    spent = math.fsum(o.value for o in buys)
    return (
        f"Re-plan: {len(sent)} order(s) of this session are already at the broker "
        f"({'; '.join(o.words() for o in sent)}): ${spent:,.2f} of buys taken from the cash, "
        f"{len(buys)} slot(s) used by them, {len(sells)} sell(s) closing their positions. {REPLAN_TERMS}"
    )
