"""What AlgoTrading needs from a broker, and the plain records it exchanges with one.

Two brokers implement :class:`Broker`: the simulated one (demo and replay: a SQLite
ledger filled from bar data) and Alpaca (paper and live, through alpaca-py). Money is
in dollars as floats; quantities may be fractional.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from algotrading.portfolio import Asset

#: Order states after which nothing more will happen to the order.
FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced", "done_for_day"})
OPEN_STATUSES = frozenset(
    {"new", "accepted", "pending_new", "partially_filled", "accepted_for_bidding", "held", "calculated"}
)


class BrokerError(RuntimeError):
    """The broker could not be reached or answered unexpectedly; the message says what to do."""


@dataclass(frozen=True)
class AccountInfo:
    account_number: str  # masked: only the last 4 characters shown
    status: str  # ACTIVE, ...
    equity: float
    cash: float
    buying_power: float
    paper: bool
    blocked: bool = False


@dataclass(frozen=True)
class BrokerPosition:
    symbol: str
    qty: float
    avg_entry_price: float
    current_price: float

    @property
    def market_value(self) -> float:
        return self.qty * self.current_price


@dataclass(frozen=True)
class OrderRequest:
    """A DAY market order: ``notional`` dollars (fractional) or ``qty`` shares, never both."""

    symbol: str
    side: str  # buy | sell
    client_order_id: str
    notional: float | None = None
    qty: float | None = None

    def __post_init__(self) -> None:
        if (self.notional is None) == (self.qty is None):
            raise ValueError(f"order {self.client_order_id}: give notional or qty, not both or neither")
        amount = self.notional if self.notional is not None else self.qty
        if amount is None or not amount > 0:
            raise ValueError(f"order {self.client_order_id}: the amount must be positive, not {amount}")


@dataclass(frozen=True)
class OrderStatus:
    id: str
    client_order_id: str
    symbol: str
    side: str
    status: str
    notional: float | None = None
    qty: float | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class SubmitResult:
    """What happened to one submission: ``submitted``, ``duplicate`` (the broker already
    had this client order id: nothing new was sent) or ``rejected`` (with the reason)."""

    outcome: str
    order: OrderStatus | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MarketClock:
    """The broker's market clock (Alpaca's ``/v2/clock``): the truth about now."""

    timestamp: dt.datetime  # aware
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime


@runtime_checkable
class Broker(Protocol):
    """A broker connection with a lifecycle: open it with :func:`algotrading.broker.make_broker`
    as a context manager (``with make_broker(...) as broker:``), which closes it."""

    name: str

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def close(self) -> None:
        """Release the connection (the simulated ledger's SQLite file, Alpaca's HTTP session)."""
        ...

    def settle(self, upto: dt.date) -> Sequence[object]:
        """Bring the account up to ``upto``: the simulated account fills the orders due by
        then and returns the fills; a real broker fills by itself and returns none."""
        ...

    def account(self) -> AccountInfo: ...

    def positions(self) -> list[BrokerPosition]: ...

    def clock(self) -> MarketClock:
        """The broker's clock: whether the market is open now, and when it opens and closes next."""
        ...

    def asset(self, symbol: str) -> Asset: ...

    def submit(self, order: OrderRequest) -> SubmitResult:
        """Send one order at most once; never raises for a broker rejection."""
        ...

    def get_order(self, client_order_id: str) -> OrderStatus | None: ...

    def open_orders(self) -> list[OrderStatus]: ...

    def cancel(self, order_id: str) -> None: ...


class BrokerSession:
    """The context-manager half of :class:`Broker`: ``with`` closes the connection."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def mask(account_number: str) -> str:
    """Only the last 4 characters of an account number go into reports and emails."""
    tail = account_number[-4:] if len(account_number) >= 4 else account_number
    return f"****{tail}"
