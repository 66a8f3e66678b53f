"""Small builders for crafted market data in tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.config import Universe
from algotrading.data.market import MarketData

#: Headless Chromium as the machine's closed network needs it (no background fetches) and
#: with every host unresolvable, so a page that needs the network shows it.
CHROMIUM_OFFLINE = (
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def sessions(n: int, first: dt.date = dt.date(2016, 1, 4)) -> pd.DatetimeIndex:
    """``n`` consecutive NYSE sessions starting at ``first``."""
    days = cal.sessions_between(first, first + dt.timedelta(days=2 * n + 30))[:n]
    assert len(days) == n
    return pd.DatetimeIndex(days)


def market(
    closes: Mapping[str, np.ndarray | list[float]],
    volumes: Mapping[str, np.ndarray | list[float]] | None = None,
    first: dt.date = dt.date(2016, 1, 4),
    spread: float = 0.0,
) -> MarketData:
    """MarketData whose open is the previous close (first row: the close), high/low the
    max/min of open and close widened by ``spread`` (a fraction), volume 1e6 unless given."""
    n = len(next(iter(closes.values())))
    index = sessions(n, first)
    close = pd.DataFrame({s: np.asarray(v, dtype="float64") for s, v in closes.items()}, index=index)
    open_ = close.shift(1).fillna(close)
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    vol = pd.DataFrame(1e6, index=index, columns=close.columns)
    for s, v in (volumes or {}).items():
        vol[s] = np.asarray(v, dtype="float64")
    return MarketData(open=open_, high=high, low=low, close=close, volume=vol)


def universe(groups: Mapping[str, list[str]], benchmark: str = "SPY") -> Universe:
    return Universe(groups=dict(groups), benchmark=benchmark, volatility_index=None)
