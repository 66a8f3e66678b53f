"""One session's strategy work, done once per daily run: every enabled strategy's signals
for the session, its walk-forward backtest up to the session, and the performance
tracking that ranking uses. The strategies notebook calls :func:`run_strategies` and
writes the result; later notebooks read it (DESIGN §3: heavy work runs once)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import pandas as pd

from algotrading.backtest.engine import BacktestResult, run_backtest
from algotrading.backtest.performance import EquityHistory, StrategyPerformance, equity_frame, track
from algotrading.config import Settings
from algotrading.data.market import MarketData
from algotrading.strategies import Signal, load_strategies
from algotrading.strategies.base import SignalFrames, Strategy, StrategyUnavailable

log = logging.getLogger(__name__)

SIGNAL_COLUMNS = [
    "session",
    "symbol",
    "strategy",
    "action",
    "confidence",
    "price",
    "stop_price",
    "target_price",
    "fresh",
    "reason",
    "facts",
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
    ordered = sorted(signals, key=_signal_order)
    records = [s.as_record() | {"facts": json.dumps(s.facts, sort_keys=True)} for s in ordered]
    return pd.DataFrame.from_records(records, columns=SIGNAL_COLUMNS)


def _signal_order(signal: Signal) -> tuple[str, str, float, str]:
    """By action, strategy, confidence (highest first, a missing one last) and symbol."""
    confidence = signal.confidence
    return signal.action.value, signal.strategy, -confidence if confidence == confidence else math.inf, signal.symbol


def backtest_start(market: MarketData, warmup_sessions: int) -> dt.date:
    """First session a daily run's backtests trade on: after ``warmup_sessions`` of history."""
    dates = market.dates
    return dates[min(warmup_sessions, len(dates) - 1)].date()


@dataclass(frozen=True, eq=False)
class StrategyBooks:
    """Each strategy's signal frames and walk-forward backtest over one stretch of data.

    Everything here is causal (a row uses only earlier rows), so the books of a stretch
    serve every session in it from ``start`` on: cut at session D they equal the books
    computed on data up to D. The daily run computes them for its one session; replay
    once per history start.
    """

    start: dt.date  # first session the backtests trade on
    frames: dict[str, tuple[Strategy, SignalFrames]]
    results: dict[str, BacktestResult]
    skipped: dict[str, str]
    close: pd.DataFrame

    @cached_property
    def strategy_equity(self) -> EquityHistory:
        """The backtests' equity side by side and its rolling measures, made once for
        every session of the books."""
        return EquityHistory(equity_frame(list(self.results.values())))


def compute_books(settings: Settings, data: MarketData, names: list[str] | None = None) -> StrategyBooks:
    """Generate and backtest each enabled strategy (or ``names``) on ``data``."""
    start = backtest_start(data, settings.backtest.warmup_sessions)
    frames: dict[str, tuple[Strategy, SignalFrames]] = {}
    results: dict[str, BacktestResult] = {}
    skipped: dict[str, str] = {}
    for strategy in load_strategies(settings, names):
        try:
            generated = strategy.generate(data)
        except StrategyUnavailable as exc:
            skipped[strategy.name] = str(exc)
            log.warning("strategy %s skipped: %s", strategy.name, exc)
            continue
        frames[strategy.name] = (strategy, generated)
        results[strategy.name] = run_backtest(strategy, data, settings.backtest, start=start, frames=generated)
    return StrategyBooks(start, frames, results, skipped, data.close)


def first_day_books(
    settings: Settings,
    books: StrategyBooks,
    market: MarketData,
    session: dt.date,
    template: StrategyBooks | None = None,
) -> StrategyBooks:
    """The books of a session before ``books.start``: with fewer than ``warmup_sessions``
    of history a daily run's backtest starts on the session itself (no trade yet, one
    equity point: the initial capital), which a one-row backtest gives exactly. The
    signal frames are the stretch's (causal).

    ``template``: the first-day books of an earlier session; their one-row results only
    need the session's date (replay runs vectorbt once, not once per warmup session).
    """
    if template is not None:
        index = market.close.loc[pd.Timestamp(session) : pd.Timestamp(session)].index  # the data's own dtype
        results = {
            name: replace(
                r,
                equity=r.equity.set_axis(index),
                positions=r.positions.set_axis(index),
                benchmark=_one_day_benchmark(market, r, index),
            )
            for name, r in template.results.items()
        }
        return StrategyBooks(session, books.frames, results, books.skipped, books.close)
    day = market.between(session, session)
    results = {
        name: run_backtest(strategy, day, settings.backtest, start=session, frames=frames.between(session, session))
        for name, (strategy, frames) in books.frames.items()
    }
    return StrategyBooks(session, books.frames, results, books.skipped, books.close)


def _one_day_benchmark(market: MarketData, result: BacktestResult, index: pd.DatetimeIndex) -> pd.Series:
    """The benchmark's buy and hold on its first day: the capital, or NaN without a close."""
    name = result.benchmark.name
    close = market.close[name].get(index[0]) if name in market.close.columns else None
    value = float(result.equity.iloc[0]) if close is not None and pd.notna(close) else float("nan")
    return pd.Series([value], index=index, name=name)


def session_run(settings: Settings, books: StrategyBooks, session: dt.date) -> StrategyRun:
    """The signals of ``session`` and the strategies' performance as of ``session``."""
    if not books.results:
        raise StrategyUnavailable(f"no strategy could run on {session}: {books.skipped}")
    signals: list[Signal] = []
    for strategy, frames in books.frames.values():
        signals += strategy.signals_on(frames, session, books.close)
    performance = track(
        list(books.results.values()),
        session,
        settings.ranking.momentum_lookback_days,
        settings.ranking.min_momentum_threshold,
        settings.backtest.correlation_sessions,
        books.strategy_equity,
    )
    return StrategyRun(session, signals_frame(signals), performance, dict(books.skipped), dict(books.results))


def run_strategies(
    settings: Settings, market: MarketData, session: dt.date, names: list[str] | None = None
) -> StrategyRun:
    """Generate, signal and backtest each strategy on data up to ``session``."""
    data = market.upto(session)
    if data.dates.empty or data.dates[-1].date() != session:
        raise ValueError(
            f"no bars for {session}: the market data ends {data.dates[-1].date() if len(data.dates) else 'empty'}"
        )
    books = compute_books(settings, data, names)
    run = session_run(settings, books, session)
    for name, result in books.results.items():
        log.info(
            "%s: %d signal(s) on %s; backtest since %s: %+.1f%%",
            name,
            int((run.signals["strategy"] == name).sum()),
            session,
            books.start,
            100 * result.metrics["total_return"],
        )
    return run
