"""What ``algotrading backtest`` (and the backtest explorer notebook) needs besides the
backtest itself: the date window and the data, validated like a daily run's."""

from __future__ import annotations

import datetime as dt

from algotrading import calendar as cal
from algotrading.config import Mode, Settings, UsageError
from algotrading.data import latest_session, make_provider
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.data.snapshot import load_snapshot
from algotrading.strategies import Strategy


def backtest_window(settings: Settings, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """Sessions to trade: ``end`` (default: the latest session of the configured data,
    a non-session moves back to the session before) and ``start`` (default 3 years earlier)."""
    now = dt.datetime.now(dt.UTC)
    latest = latest_session(settings, now)
    end = end or latest
    if end > latest:
        where = "the bundled data" if settings.mode is Mode.DEMO else "final bars"
        raise UsageError(f"--end {end} is after the latest session with {where} ({latest})")
    if not cal.is_session(end):
        end = cal.previous_session(end)
    typed_start, typed_end = start is not None, end != latest
    start = start or end.replace(year=end.year - 3)
    if not cal.is_session(start):
        start = cal.next_session(start)
    if start >= end:
        first = f"--start {start}" if typed_start else f"the default start {start} (3 years before the end)"
        last = f"--end {end}" if typed_end else f"the default end {end} (the latest session)"
        raise UsageError(f"{first} must be before {last}")
    return start, end


def load_market(
    settings: Settings, strategy: Strategy, start: dt.date, end: dt.date, symbols: list[str] | None
) -> tuple[MarketData, dict[str, str]]:
    """Validated bars from ``warmup_sessions`` before ``start`` to ``end``, as wide frames;
    with ``symbols``, only those of the strategy's symbols (plus the benchmark)."""
    warmup = settings.backtest.warmup_sessions
    data_start = cal.session_window(start, warmup + 1)[0]
    if settings.mode is Mode.DEMO:
        first = BundledBarsProvider().first_session()
        if start < first:
            raise UsageError(f"--start {start} is before the bundled data ({first} ..)")
        data_start = max(data_start, first)
    snapshot = load_snapshot(make_provider(settings), settings.universe, end, settings.data, start=data_start)
    market = MarketData.from_bars(snapshot.bars)
    if symbols:
        foreign = [s for s in symbols if s not in strategy.symbols()]
        if foreign:
            raise UsageError(
                f"--symbols {' '.join(foreign)}: not traded by {strategy.name} "
                f"(its symbols: {' '.join(strategy.symbols())})"
            )
        market = market.select([*symbols, settings.universe.benchmark])
    return market, snapshot.excluded
