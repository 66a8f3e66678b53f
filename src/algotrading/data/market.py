"""Wide price frames (dates x symbols) built once per run from the long bars frame:
what strategies and backtests compute on (DESIGN §9: reshape once, reuse)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from algotrading.data.bars import PRICE_COLUMNS, wide_fields

FIELDS = (*PRICE_COLUMNS, "volume")


@dataclass(frozen=True)
class MarketData:
    """Open, high, low, close and volume as dates x symbols frames on one index."""

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame

    @classmethod
    def from_bars(cls, bars: pd.DataFrame) -> MarketData:
        return cls(**wide_fields(bars, FIELDS, on="close"))

    @property
    def symbols(self) -> list[str]:
        return list(self.close.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.close.index)

    def select(self, symbols: Sequence[str]) -> MarketData:
        """Only ``symbols`` that are present, each once (in the order given: the benchmark
        asked for beside a ``--symbols`` list that holds it already is not doubled)."""
        keep = list(dict.fromkeys(s for s in symbols if s in self.close.columns))
        return MarketData(**{f: getattr(self, f)[keep] for f in FIELDS})

    def upto(self, day: dt.date | pd.Timestamp) -> MarketData:
        """Rows on or before ``day`` (what a run on ``day`` may see)."""
        end = pd.Timestamp(day)
        index = self.close.index
        if index.is_monotonic_increasing and all(getattr(self, f).index.equals(index) for f in FIELDS):
            # one sorted index (from_bars makes it so): one search, then cut by position
            rows = int(index.searchsorted(end, side="right"))
            return MarketData(**{f: getattr(self, f).iloc[:rows] for f in FIELDS})
        return MarketData(**{f: getattr(self, f).loc[:end] for f in FIELDS})

    def between(self, start: dt.date | pd.Timestamp | None, end: dt.date | pd.Timestamp | None) -> MarketData:
        lo = pd.Timestamp(start) if start is not None else None
        hi = pd.Timestamp(end) if end is not None else None
        return MarketData(**{f: getattr(self, f).loc[lo:hi] for f in FIELDS})
