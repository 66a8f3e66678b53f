"""The account the plan is made for: cash, positions marked at the session's close, and
what is known about each position (its strategy, entry, stop and target).

Money is in dollars as floats rounded to cents where it is shown or ordered; ratios are
fractions of 1. An amount to spend is rounded *down* to the cent (:func:`cents_down`),
never to the nearest: rounding must not take money from the cash buffer.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

#: Float noise of cent arithmetic, in cents: 0.29 * 100 is 28.999999999999996.
CENT_NOISE = 1e-6


def cents_down(amount: float) -> float:
    """``amount`` rounded down to the cent; a value a float's noise below a whole cent
    (what cent-valued arithmetic produces) counts as that cent."""
    return math.floor(amount * 100 + CENT_NOISE) / 100


@dataclass(frozen=True)
class Asset:
    """What the broker says about a symbol: can it be traded, and in fractions?"""

    symbol: str
    tradable: bool = True
    fractionable: bool = True


@dataclass(frozen=True)
class Position:
    """One holding, marked at ``price`` (the session's close)."""

    symbol: str
    qty: float
    avg_entry_price: float
    price: float
    strategy: str | None = None
    entry_date: dt.date | None = None
    stop_price: float | None = None
    target_price: float | None = None
    entry_confidence: float | None = None  # the BUY signal's confidence when it was opened

    @property
    def market_value(self) -> float:
        return self.qty * self.price

    @property
    def cost_basis(self) -> float:
        return self.qty * self.avg_entry_price

    @property
    def unrealized_pl(self) -> float:
        return self.market_value - self.cost_basis

    @property
    def unrealized_pl_pct(self) -> float:
        return self.unrealized_pl / self.cost_basis if self.cost_basis > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["entry_date"] = self.entry_date.isoformat() if self.entry_date else None
        doc.update(
            market_value=round(self.market_value, 2),
            unrealized_pl=round(self.unrealized_pl, 2),
        )
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Position:
        fields: dict[str, Any] = {k: doc.get(k) for k in cls.__dataclass_fields__}
        if fields.get("entry_date"):
            fields["entry_date"] = dt.date.fromisoformat(fields["entry_date"])
        return cls(**fields)


@dataclass(frozen=True)
class Portfolio:
    """Cash, positions and the equity history facts the risk rules need."""

    session: dt.date
    cash: float
    positions: tuple[Position, ...] = ()
    peak_equity: float | None = None  # highest recorded equity, today's included
    previous_equity: float | None = None  # equity at the previous recorded session
    source: str = "demo"
    account: str | None = None  # masked account number, when a broker has one

    @property
    def equity(self) -> float:
        """Cash plus positions, summed exactly (``math.fsum``): the same number whatever
        order the broker lists the positions in."""
        return math.fsum([self.cash, *(p.market_value for p in self.positions)])

    @property
    def invested(self) -> float:
        return math.fsum(p.market_value for p in self.positions)

    @property
    def drawdown(self) -> float:
        """Fall from the peak, a fraction >= 0 (0 without history)."""
        peak = max(self.peak_equity or 0.0, self.equity)
        return 1 - self.equity / peak if peak > 0 else 0.0

    @property
    def daily_change(self) -> float | None:
        """Change since the previous recorded session, a fraction (None without one)."""
        if not self.previous_equity:
            return None
        return self.equity / self.previous_equity - 1

    def position(self, symbol: str) -> Position | None:
        return next((p for p in self.positions if p.symbol == symbol), None)

    @property
    def symbols(self) -> list[str]:
        return [p.symbol for p in self.positions]

    def with_history(self, peak_equity: float | None, previous_equity: float | None) -> Portfolio:
        return replace(self, peak_equity=peak_equity, previous_equity=previous_equity)

    def to_json(self) -> dict[str, Any]:
        """``cash``, ``peak_equity`` and ``previous_equity`` are kept exact: the later
        notebooks plan from this document, and a rounded cash or peak would size and
        judge differently from the account itself (replay plans from the account)."""
        return {
            "session_date": self.session.isoformat(),
            "equity": round(self.equity, 2),
            "cash": self.cash,
            "peak_equity": max(self.peak_equity or 0.0, self.equity),
            "previous_equity": self.previous_equity if self.previous_equity else None,
            "drawdown": round(self.drawdown, 6),
            "daily_change": round(self.daily_change, 6) if self.daily_change is not None else None,
            "source": self.source,
            "account": self.account,
            "positions": [p.to_json() for p in sorted(self.positions, key=lambda p: p.symbol)],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Portfolio:
        return cls(
            session=dt.date.fromisoformat(doc["session_date"]),
            cash=float(doc["cash"]),
            positions=tuple(Position.from_json(p) for p in doc.get("positions", [])),
            peak_equity=doc.get("peak_equity"),
            previous_equity=doc.get("previous_equity"),
            source=doc.get("source", "demo"),
            account=doc.get("account"),
        )


@dataclass(frozen=True)
class AssetBook:
    """Asset facts by symbol; a symbol the broker did not describe is assumed tradable
    and fractionable only in demo mode (the demo account trades like Alpaca's, where
    the default universe's stocks and ETFs are all fractionable)."""

    assets: dict[str, Asset] = field(default_factory=dict)
    default: Asset | None = None

    def get(self, symbol: str) -> Asset:
        if symbol in self.assets:
            return self.assets[symbol]
        if self.default is not None:
            return replace(self.default, symbol=symbol)
        return Asset(symbol, tradable=False, fractionable=False)


def demo_portfolio(session: dt.date, cash: float) -> Portfolio:
    """The demo account before any trade: all cash."""
    return Portfolio(session=session, cash=cash, positions=(), source="demo")
