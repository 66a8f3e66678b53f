"""One session's strategy work, done once per daily run: every enabled strategy's signals
for the session, its walk-forward backtest up to the session, and the performance
tracking that ranking uses. The strategies notebook calls :func:`run_strategies` and
writes the result; later notebooks read it (DESIGN §3: heavy work runs once)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

import pandas as pd

from algotrading.backtest import BacktestResult, run_backtest
from algotrading.config import Settings
from algotrading.data.market import MarketData
from algotrading.performance import StrategyPerformance, track
from algotrading.strategies import Signal, load_strategies
from algotrading.strategies.base import StrategyUnavailable

log = logging.getLogger(__name__)

SIGNAL_COLUMNS = [
    "session", "symbol", "strategy", "action", "confidence", "price",
    "stop_price", "target_price", "fresh", "reason", "facts",
]


@dataclass(frozen=True)
class StrategyRun:
    """The strategies' output for one session."""

    session: dt.date
    signals: pd.DataFrame  # SIGNAL_COLUMNS, one row per BUY or SELL
    performance: StrategyPerformance
    skipped: dict[str, str] = field(default_factory=dict)  # strategy -> why it did not run
    results: dict[str, BacktestResult] = field(default_factory=dict, repr=False)


def signals_frame(signals: list[Signal]) -> pd.DataFrame:
    """Signals as a table; ``facts`` as a JSON string (a flat, Parquet-friendly column)."""
    records = [s.as_record() | {"facts": json.dumps(s.facts, sort_keys=True)} for s in signals]
    frame = pd.DataFrame.from_records(records, columns=SIGNAL_COLUMNS)
    if not frame.empty:
        frame = frame.sort_values(["action", "strategy", "confidence", "symbol"], ascending=[True, True, False, True])
    return frame.reset_index(drop=True)


def backtest_start(market: MarketData, warmup_sessions: int) -> dt.date:
    """First session a daily run's backtests trade on: after ``warmup_sessions`` of history."""
    dates = market.dates
    return dates[min(warmup_sessions, len(dates) - 1)].date()


def run_strategies(
    settings: Settings, market: MarketData, session: dt.date, names: list[str] | None = None
) -> StrategyRun:
    """Generate, signal and backtest each strategy on data up to ``session``."""
    data = market.upto(session)
    if data.dates.empty or data.dates[-1].date() != session:
        raise ValueError(f"no bars for {session}: the market data ends {data.dates[-1].date() if len(data.dates) else 'empty'}")
    start = backtest_start(data, settings.backtest.warmup_sessions)
    signals: list[Signal] = []
    results: dict[str, BacktestResult] = {}
    skipped: dict[str, str] = {}
    for strategy in load_strategies(settings, names):
        try:
            frames = strategy.generate(data)
        except StrategyUnavailable as exc:
            skipped[strategy.name] = str(exc)
            log.warning("strategy %s skipped: %s", strategy.name, exc)
            continue
        signals += strategy.signals_on(frames, session, data.close)
        results[strategy.name] = run_backtest(strategy, data, settings.backtest, start=start, frames=frames)
        log.info(
            "%s: %d signal(s) on %s; backtest since %s: %+.1f%%",
            strategy.name,
            sum(s.strategy == strategy.name for s in signals),
            session,
            start,
            100 * results[strategy.name].metrics["total_return"],
        )
    if not results:
        raise StrategyUnavailable(f"no strategy could run on {session}: {skipped}")
    performance = track(
        list(results.values()),
        session,
        settings.ranking.momentum_lookback_days,
        settings.ranking.min_momentum_threshold,
        settings.backtest.correlation_sessions,
    )
    return StrategyRun(session, signals_frame(signals), performance, skipped, results)
