"""A Parquet cache in front of a network provider: only sessions not yet cached are fetched.

Per symbol the cache keeps its bars (``<symbol>.parquet``) and the date range already
asked for (``coverage.json``), so a symbol with no bar on some day (before its listing,
a halt) is not asked for again. Only sessions that are final are cached.

Adjusted prices change when a split or dividend happens: yesterday's cached bars are
then on the old scale. Every top-up therefore re-fetches the last cached session too;
if that bar's close changed, the symbol's whole range is fetched again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.data.bars import BarsProvider, empty_bars, normalize_bars
from algotrading.storage.files import atomic_write_parquet, atomic_write_text

log = logging.getLogger(__name__)
COVERAGE_FILE = "coverage.json"
#: Relative change of the overlap bar's close that means "re-adjusted upstream".
READJUSTED_TOLERANCE = 1e-6


def _file_name(symbol: str) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]", "_", symbol) + ".parquet"


class CachedBarsProvider:
    """Wraps a ``BarsProvider``; serves cached bars and fetches only what is missing."""

    def __init__(
        self,
        inner: BarsProvider,
        cache_dir: Path,
        now: Callable[[], dt.datetime] | None = None,
        settle_minutes: int = cal.DEFAULT_SETTLE_MINUTES,
    ) -> None:
        self.inner = inner
        self.name = f"{inner.name}+cache"
        self.cache_dir = cache_dir
        self.settle_minutes = settle_minutes
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    # -- coverage bookkeeping -------------------------------------------------------
    def _coverage(self) -> dict[str, tuple[dt.date, dt.date]]:
        path = self.cache_dir / COVERAGE_FILE
        if not path.is_file():
            return {}
        try:
            doc = json.loads(path.read_text())
            return {s: (dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for s, (a, b) in doc.items()}
        except (ValueError, TypeError) as exc:
            log.warning("bar cache index %s is unreadable (%s); refetching everything", path, exc)
            return {}

    def _save_coverage(self, coverage: dict[str, tuple[dt.date, dt.date]]) -> None:
        doc = {s: [a.isoformat(), b.isoformat()] for s, (a, b) in sorted(coverage.items())}
        atomic_write_text(self.cache_dir / COVERAGE_FILE, json.dumps(doc, indent=1))

    def _read(self, symbol: str) -> pd.DataFrame:
        path = self.cache_dir / _file_name(symbol)
        if not path.is_file():
            return empty_bars()
        return normalize_bars(pd.read_parquet(path))

    # -- the provider API -----------------------------------------------------------
    def unavailable(self, symbols: Sequence[str]) -> dict[str, str]:
        return self.inner.unavailable(symbols)

    def get_bars(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        end = min(end, cal.latest_completed_session(self._now(), self.settle_minutes))
        if end < start:
            return empty_bars()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        coverage = self._coverage()
        symbols = [s for s in symbols if s not in self.inner.unavailable(symbols)]
        cached = {s: self._read(s) for s in symbols}

        plans = {s: self._missing_ranges(coverage.get(s), start, end) for s in symbols}
        fetched = self._fetch_grouped(plans)

        for symbol in symbols:
            if not plans[symbol]:
                continue
            new = fetched[symbol] if symbol in fetched else empty_bars()
            old = cached[symbol]
            if _readjusted(old, new):
                log.info("%s: adjusted prices changed upstream (split or dividend); refetching its range", symbol)
                lo = min(start, coverage[symbol][0])
                old = empty_bars()
                new = self.inner.get_bars([symbol], lo, end)
                coverage.pop(symbol, None)
            merged = _merge(old, new)
            atomic_write_parquet(self.cache_dir / _file_name(symbol), merged)
            cached[symbol] = merged
            lo, hi = coverage.get(symbol, (start, end))
            coverage[symbol] = (min(lo, start), max(hi, end))
        self._save_coverage(coverage)

        frames = [f for f in cached.values() if not f.empty]
        bars = pd.concat(frames, ignore_index=True) if frames else empty_bars()
        keep = bars["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        return normalize_bars(bars.loc[keep].reset_index(drop=True))

    def _missing_ranges(
        self, covered: tuple[dt.date, dt.date] | None, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, dt.date]]:
        """Date ranges to fetch; a top-up starts at the last cached session (the overlap check)."""
        if covered is None:
            return [(start, end)]
        lo, hi = covered
        ranges = []
        if start < lo and (before := cal.previous_session(lo)) >= start:
            ranges.append((start, before))
        if end > hi:
            ranges.append((hi, end))
        return ranges

    def _fetch_grouped(self, plans: dict[str, list[tuple[dt.date, dt.date]]]) -> dict[str, pd.DataFrame]:
        """One request per distinct range, for all symbols needing that range."""
        by_range: dict[tuple[dt.date, dt.date], list[str]] = defaultdict(list)
        for symbol, ranges in plans.items():
            for r in ranges:
                by_range[r].append(symbol)
        parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
        for (lo, hi), group in sorted(by_range.items()):
            log.info("fetching %d symbol(s) for %s..%s from %s", len(group), lo, hi, self.inner.name)
            got = self.inner.get_bars(group, lo, hi)
            for symbol, rows in got.groupby("symbol", sort=False):
                parts[symbol].append(rows)
        return {s: pd.concat(p, ignore_index=True) for s, p in parts.items()}


def _readjusted(old: pd.DataFrame, new: pd.DataFrame) -> bool:
    """True when a session present in both frames has a different close."""
    if old.empty or new.empty:
        return False
    days, closes = old["date"].to_numpy(), old["close"].to_numpy()  # one symbol's cached bars: sorted, unique
    at = np.minimum(np.searchsorted(days, new["date"].to_numpy()), len(days) - 1)
    both = days[at] == new["date"].to_numpy()
    if not both.any():
        return False
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a zero or tiny close: inf, as pandas
        rel = np.abs(new["close"].to_numpy()[both] - closes[at[both]]) / np.abs(closes[at[both]])
    return bool((rel > READJUSTED_TOLERANCE).any())


def _merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of two frames of one symbol; the newer row wins on the same date."""
    if old.empty:
        return normalize_bars(new)
    merged = pd.concat([old, new], ignore_index=True).drop_duplicates(["symbol", "date"], keep="last")
    return normalize_bars(merged.reset_index(drop=True))
