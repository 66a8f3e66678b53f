"""Brokers: the protocol, the simulated demo account and Alpaca (paper/live)."""

from __future__ import annotations

import datetime as dt

from algotrading.broker.base import (
    AccountInfo,
    Broker,
    BrokerError,
    BrokerPosition,
    MarketClock,
    OrderRequest,
    OrderStatus,
    SubmitResult,
)
from algotrading.broker.simulated import simulated_broker
from algotrading.config import Mode, Settings
from algotrading.data.market import MarketData

__all__ = [
    "AccountInfo",
    "Broker",
    "BrokerError",
    "BrokerPosition",
    "MarketClock",
    "OrderRequest",
    "OrderStatus",
    "SubmitResult",
    "make_broker",
]


def make_broker(settings: Settings, market: MarketData, session: dt.date, phase: str = "after_close") -> Broker:
    """The simulated account in demo mode (marked with ``market``), Alpaca otherwise."""
    if settings.mode is Mode.DEMO:
        bt = settings.backtest
        return simulated_broker(
            settings.paths.state_dir,
            market,
            session,
            phase,
            settings.safety.portfolio_size,
            bt.fees_pct,
            bt.slippage_pct,
        )
    # local: alpaca-py costs ~0.3 s to import (0.69 s with pandas) and demo runs never need it
    from algotrading.broker.alpaca import AlpacaBroker

    a = settings.alpaca
    assert a.api_key is not None and a.secret_key is not None  # guaranteed by the mode
    return AlpacaBroker(
        a.api_key.get_secret_value(),
        a.secret_key.get_secret_value(),
        paper=settings.mode is Mode.PAPER,
        params=settings.broker,
        base_url=a.base_url,
    )
