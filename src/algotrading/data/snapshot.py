"""The market data one run decides on: bars up to the session, validated per symbol.

The daily run builds it once and writes it to the run folder; notebooks read it back
(or, opened by hand in JupyterLab, build it themselves through the same function).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from algotrading import calendar as cal
from algotrading.config import DataParams, Universe
from algotrading.data.bars import BarsProvider, DataError, fingerprint, sourced_bars
from algotrading.data.validation import EXCLUDED, usable_bars, validate_bars

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarketSnapshot:
    """Validated bars for one session and the health table that explains them."""

    session_date: dt.date
    provider: str
    bars: pd.DataFrame  # usable symbols only, long format
    health: pd.DataFrame  # one row per requested symbol
    fingerprint: str  # of ``bars``

    @property
    def excluded(self) -> dict[str, str]:
        """Symbol -> reason, for every excluded symbol."""
        rows = self.health[self.health["status"] == EXCLUDED]
        return dict(zip(rows["symbol"], rows["reason"], strict=True))


def source_summary(health: pd.DataFrame) -> str:
    """ "alpaca-sip" when one source served every symbol, else each source with its count
    ("alpaca-sip (58), yahoo (1)"), the most used first."""
    counts = health.loc[health["source"] != "", "source"].value_counts()
    if counts.empty:
        return "none"
    if len(counts) == 1:
        return str(counts.index[0])
    return ", ".join(f"{name} ({n})" for name, n in counts.items())


@lru_cache(maxsize=4096)
def history_start(session_date: dt.date, sessions: int) -> dt.date:
    """First session of the history a run on ``session_date`` loads: the first session of
    the calendar year in which the ``sessions``-long window ending at ``session_date``
    begins (so a run loads between ``sessions`` and about ``sessions + 252`` sessions).

    Why a year start and not a sliding window: every run of the same year then starts its
    indicators and walk-forward backtests on the same day, so day D's backtest is exactly
    the first part of day D+1's. Strategy momentum does not drift with a moving start,
    and replay (which computes the backtests once per history start) makes exactly the
    plans the daily run makes.
    """
    first = cal.window_start(session_date, sessions)
    year_start = dt.date(first.year, 1, 1)
    return first if year_start < cal.first_session() else cal.next_session(year_start - dt.timedelta(days=1))


def load_snapshot(
    provider: BarsProvider,
    universe: Universe,
    session_date: dt.date,
    params: DataParams,
    start: dt.date | None = None,
) -> MarketSnapshot:
    """Fetch the universe's bars from ``start`` (default: ``history_sessions`` before)
    to ``session_date`` and validate them. Raises :class:`DataError` when no tradable
    symbol survives."""
    start = start or history_start(session_date, params.history_sessions)
    symbols = universe.all_symbols
    got = sourced_bars(provider, symbols, start, session_date)
    raw = got.bars[got.bars["date"] <= pd.Timestamp(session_date)]
    health = validate_bars(raw, symbols, session_date, params.validation, provider.unavailable(symbols))
    health.insert(1, "group", [universe.group_of(s) for s in health["symbol"]])
    health["source"] = [got.sources.get(s, "") for s in health["symbol"]]
    health["source_note"] = [got.notes.get(s, "") for s in health["symbol"]]
    bars = usable_bars(raw, health)
    snapshot = MarketSnapshot(session_date, source_summary(health), bars, health, fingerprint(bars))
    for symbol, reason in snapshot.excluded.items():
        log.warning("excluded %s: %s", symbol, reason)
    tradable = set(universe.symbols) - set(snapshot.excluded)
    if not tradable:
        raise DataError(
            f"no symbol of the universe has usable data for {session_date} "
            f"({len(snapshot.excluded)} excluded; see the reasons above)"
        )
    return snapshot
