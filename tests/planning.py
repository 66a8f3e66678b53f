"""Builders of plan inputs for decision tests: crafted signals, portfolio and market."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.backtest.walkforward import SIGNAL_COLUMNS
from algotrading.config import SafetyParams, Settings, load_settings
from algotrading.decisions.plan import PlanInputs
from algotrading.decisions.risk import RiskState, RiskStatus
from algotrading.portfolio import Asset, AssetBook, Portfolio, Position

SESSION = dt.date(2025, 12, 31)
STRATEGIES = ("golden_cross", "mean_reversion", "dual_momentum", "sector_rotation")
_SETTINGS: Settings | None = None
#: The seed's $1K limits (params/safety.yaml's values), written out so that a test's numbers
#: can be worked out by hand from the test file and this one.
SEED_SAFETY = SafetyParams(
    portfolio_size=1000.0,
    max_position_size=300.0,
    max_position_pct=30.0,
    min_position_size=50.0,
    min_trade_size=50.0,
    min_cash_buffer=100.0,
    max_positions=4,
    allocation="equal",
)


def base_settings() -> Settings:
    global _SETTINGS
    if _SETTINGS is None:
        _SETTINGS = load_settings()
    return _SETTINGS


def with_safety(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"safety": settings.safety.model_copy(update=changes)})


def buy(
    symbol: str,
    strategy: str = "mean_reversion",
    confidence: float = 0.8,
    price: float = 100.0,
    stop: float | None = None,
    target: float | None = None,
) -> dict[str, Any]:
    return {
        "session": SESSION,
        "symbol": symbol,
        "strategy": strategy,
        "action": "BUY",
        "confidence": confidence,
        "price": price,
        "stop_price": stop,
        "target_price": target,
        "fresh": True,
        "reason": f"{strategy} says buy",
        "facts": json.dumps({}),
    }


def sell(symbol: str, strategy: str = "mean_reversion", price: float = 100.0, fresh: bool = True) -> dict[str, Any]:
    return {
        "session": SESSION,
        "symbol": symbol,
        "strategy": strategy,
        "action": "SELL",
        "confidence": 1.0,
        "price": price,
        "stop_price": None,
        "target_price": None,
        "fresh": fresh,
        "reason": f"{strategy} says sell",
        "facts": json.dumps({}),
    }


def market(
    prices: Mapping[str, float], spy_move: float = 0.002, vix: float | None = 15.0, rows: int = 25
) -> pd.DataFrame:
    """Closes for ``rows`` sessions ending at SESSION: each symbol flat at its price, SPY
    alternating +/-0.3% then ``spy_move`` on the last day, ^VIX flat at ``vix``."""
    index = pd.DatetimeIndex(cal.session_window(SESSION, rows))
    frame = pd.DataFrame({s: np.full(rows, float(p)) for s, p in prices.items()}, index=index)
    steps = np.where(np.arange(rows) % 2 == 0, 1.003, 1 / 1.003)
    spy = 600 * np.cumprod(steps)
    spy[-1] = spy[-2] * (1 + spy_move)
    frame["SPY"] = spy
    if vix is not None:
        frame["^VIX"] = vix
    return frame


def inputs(
    signals: Iterable[dict[str, Any]] = (),
    momentum: Mapping[str, float] | None = None,
    positions: Iterable[Position] = (),
    cash: float = 1000.0,
    prices: Mapping[str, float] | None = None,
    risk: RiskState = RiskState.ACTIVE,
    peak: float | None = None,
    previous: float | None = None,
    assets: Mapping[str, Asset] | None = None,
    correlation: pd.DataFrame | None = None,
    settings: Settings | None = None,
    spy_move: float = 0.002,
    vix: float | None = 15.0,
    max_hold: Mapping[str, int | None] | None = None,
) -> PlanInputs:
    settings = settings or base_settings()
    sig = pd.DataFrame(list(signals), columns=SIGNAL_COLUMNS)
    positions = tuple(positions)
    mom = pd.Series(momentum if momentum is not None else dict.fromkeys(STRATEGIES, 0.05), dtype="float64")
    all_prices = {p.symbol: p.price for p in positions} | {r["symbol"]: r["price"] for r in sig.to_dict("records")}
    all_prices |= dict(prices or {})
    portfolio = Portfolio(SESSION, cash, positions)
    portfolio = portfolio.with_history(peak if peak is not None else portfolio.equity, previous)
    corr = (
        correlation if correlation is not None else pd.DataFrame(np.eye(len(mom)), index=mom.index, columns=mom.index)
    )
    return PlanInputs(
        session=SESSION,
        mode="demo",
        signals=sig,
        momentum=mom,
        weights=mom.clip(lower=0) / max(mom.clip(lower=0).sum(), 1e-12),
        correlation=corr,
        portfolio=portfolio,
        risk=RiskStatus(
            risk,
            "2025-12-30T21:00:00+00:00" if risk is not RiskState.ACTIVE else None,
            "set for the test" if risk is not RiskState.ACTIVE else None,
        ),
        close=market(all_prices, spy_move, vix),
        assets=AssetBook(dict(assets or {}), default=Asset("*", True, True)),
        settings=settings,
        max_hold=dict(max_hold or {"mean_reversion": 30}),
    )


def position(
    symbol: str,
    value: float = 225.0,
    price: float = 100.0,
    entry: float | None = None,
    strategy: str = "mean_reversion",
    confidence: float | None = 0.6,
    stop: float | None = None,
    target: float | None = None,
    entry_date: dt.date | None = dt.date(2025, 12, 1),
) -> Position:
    return Position(
        symbol,
        value / price,
        entry if entry is not None else price,
        price,
        strategy,
        entry_date,
        stop,
        target,
        confidence,
    )
