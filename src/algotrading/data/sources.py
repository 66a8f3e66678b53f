"""Sources in order of preference, each symbol served by the first one that has it.

Paper and live ask Alpaca's SIP feed first, then its IEX feed, then the fallback source
(Yahoo). A symbol is served by a source when that source has its bar for the last
session asked for; otherwise the next source is asked for it. So IEX is asked when SIP
was *refused* (the plan lacks it) or lacked a symbol's last bar, never after an outage:
an outage fails both feeds of one API alike, after the same retries. A symbol's
whole history comes from one source (mixing two sources' adjustments and volumes in
one series would make false jumps). Every symbol not served by the first source gets a
note saying why, for the data-health table and run.json.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from algotrading import calendar as cal
from algotrading.data.bars import BarsProvider, DataError, DataRefused, SourcedBars, empty_bars, normalize_bars

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """One link of the chain. ``family``: sources that fail together (two feeds of one
    API); after a failure that is not a refusal, the rest of the family is skipped."""

    label: str
    provider: BarsProvider
    family: str


class SourceChain:
    """A ``BarsProvider`` that asks its sources in order (see the module docstring)."""

    def __init__(
        self,
        sources: Sequence[Source],
        now: Callable[[], dt.datetime] | None = None,
        settle_minutes: int = cal.DEFAULT_SETTLE_MINUTES,
    ) -> None:
        if not sources:
            raise ValueError("a source chain needs at least one source")
        self.sources = list(sources)
        self.name = self.sources[0].label
        self.settle_minutes = settle_minutes
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def unavailable(self, symbols: Sequence[str]) -> dict[str, str]:
        """Symbols no source can serve, with every source's reason."""
        reasons: dict[str, list[str]] = {s: [] for s in symbols}
        for source in self.sources:
            why = source.provider.unavailable(symbols)
            for symbol in list(reasons):
                if symbol in why:
                    reasons[symbol].append(f"{source.label}: {why[symbol]}")
                else:
                    reasons.pop(symbol)
        return {s: "; ".join(r) for s, r in reasons.items()}

    def get_bars(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self.get_sourced_bars(symbols, start, end).bars

    def _last_expected(self, end: dt.date) -> dt.date:
        last = min(end, cal.latest_completed_session(self._now(), self.settle_minutes))
        return last if cal.is_session(last) else cal.previous_session(last)

    def get_sourced_bars(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> SourcedBars:
        last = pd.Timestamp(self._last_expected(end))
        wanted = list(dict.fromkeys(symbols))
        served: dict[str, pd.DataFrame] = {}
        partial: dict[str, tuple[str, pd.DataFrame]] = {}  # best rows so far of a symbol not served
        sources: dict[str, str] = {}
        notes: dict[str, list[str]] = {s: [] for s in wanted}
        failed_families: set[str] = set()
        asked_families: set[str] = set()

        for source in self.sources:
            ask = [s for s in wanted if s not in served]
            if not ask:
                break
            if source.family in failed_families:
                continue
            cannot = source.provider.unavailable(ask)
            if source.family not in asked_families:  # the same reason again from a sibling feed says nothing new
                for symbol, why in cannot.items():
                    notes[symbol].append(f"{source.label}: {why}")
            asked_families.add(source.family)
            ask = [s for s in ask if s not in cannot]
            if not ask:
                continue
            try:
                bars = source.provider.get_bars(ask, start, end)
            except DataRefused as exc:
                log.warning("%s refused: %s", source.label, exc)
                for symbol in ask:
                    notes[symbol].append(f"{source.label} refused: {exc}")
                continue
            except DataError as exc:
                log.warning("%s failed: %s", source.label, exc)
                failed_families.add(source.family)
                for symbol in ask:
                    notes[symbol].append(f"{source.label} failed: {exc}")
                continue
            by_symbol = {s: rows for s, rows in bars.groupby("symbol", sort=False)}
            for symbol in ask:
                rows = by_symbol.get(symbol)
                if rows is not None and (rows["date"] == last).any():
                    served[symbol] = rows
                    sources[symbol] = source.label
                    continue
                have = "no bars" if rows is None else f"no bar for {last.date()} (last {rows['date'].max().date()})"
                notes[symbol].append(f"{source.label}: {have}")
                if rows is not None and symbol not in partial:
                    partial[symbol] = (source.label, rows)

        for symbol, (label, rows) in partial.items():
            if symbol not in served:  # no source is complete: keep the first rows found, validation flags them
                served[symbol] = rows
                sources[symbol] = label
        frames = [served[s] for s in wanted if s in served]
        bars = normalize_bars(pd.concat(frames, ignore_index=True)) if frames else empty_bars()
        first = self.sources[0].label
        kept = {s: "; ".join(n) for s, n in notes.items() if n and sources.get(s) != first}
        return SourcedBars(bars, sources, kept)
