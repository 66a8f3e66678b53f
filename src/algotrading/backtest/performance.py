"""Strategy performance tracking (Requirement 3.2, DESIGN §5).

From each strategy's walk-forward equity (its backtest up to session D: every value on a
day uses only data up to that day, and parameters are fixed in advance, so no value is
fitted to the future):

* **momentum** as of D: the equity's return over ``MOMENTUM_LOOKBACK_DAYS`` calendar
  days, ``equity[D] / equity[last session on or before D - days] - 1``;
* its **history**: the same measure on every session;
* the **correlation** of the strategies' daily returns over the last
  ``correlation_sessions`` sessions;
* **capital weights**: strategies with momentum above ``MIN_MOMENTUM_THRESHOLD`` share
  the capital in proportion to their momentum above that threshold; the others get 0
  (when none qualifies, every weight is 0 and no strategy is eligible to trade).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from algotrading.backtest.engine import BacktestResult


@dataclass(frozen=True)
class StrategyPerformance:
    """Everything ranking needs to know about the strategies on one session."""

    session: dt.date
    lookback_days: int
    threshold: float
    equity: pd.DataFrame  # sessions x strategies
    momentum: pd.Series
    momentum_history: pd.DataFrame
    correlation: pd.DataFrame
    weights: pd.Series
    benchmark: pd.Series  # buy-and-hold of the benchmark from the same capital, same sessions
    stored_metrics: pd.DataFrame | None = None  # strategies x metric names, as read back from a run folder
    results: tuple[BacktestResult, ...] = field(default=(), repr=False, compare=False)

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """Strategies x metric names as of the session: computed from the backtests on
        first use (a replay tracks every session and reads them on none)."""
        if self.stored_metrics is not None:
            return self.stored_metrics
        return pd.DataFrame({r.strategy: r.metrics_asof(self.session) for r in self.results}).T

    def table(self) -> pd.DataFrame:
        """One row per strategy: momentum, eligibility, weight and backtest metrics."""
        table = pd.DataFrame(
            {
                "momentum": self.momentum,
                "eligible": self.momentum > self.threshold,
                "weight": self.weights,
            }
        )
        table = table.join(self.metrics)
        table.index.name = "strategy"
        return table


def momentum_asof(equity: pd.Series, day: dt.date | pd.Timestamp, lookback_days: int) -> float:
    """Return of ``equity`` over the ``lookback_days`` calendar days ending ``day``
    (NaN when the series does not reach back that far)."""
    index, values = equity.index, equity.to_numpy(dtype="float64")  # by position: asked every session
    known = np.flatnonzero(~np.isnan(values[: index.searchsorted(pd.Timestamp(day), side="right")]))
    if not len(known):
        return float("nan")
    last = known[-1]
    base_end = index.searchsorted(index[last] - pd.Timedelta(days=lookback_days), side="right")
    base = known[known < base_end]
    if not len(base):
        return float("nan")
    return float(values[last] / values[base[-1]] - 1)


def rolling_momentum(equity: pd.DataFrame, lookback_days: int) -> pd.DataFrame:
    """:func:`momentum_asof` on every session, for every column."""
    positions = equity.index.searchsorted(equity.index - pd.Timedelta(days=lookback_days), side="right") - 1
    base = equity.to_numpy(dtype="float64")[np.clip(positions, 0, None)]
    base[positions < 0] = np.nan
    return pd.DataFrame(equity.to_numpy() / base - 1, index=equity.index, columns=equity.columns)


def capital_weights(momentum: pd.Series, threshold: float) -> pd.Series:
    """Weights proportional to momentum above ``threshold``; 0 for the others."""
    values = momentum.to_numpy(dtype="float64")
    above = values > threshold  # NaN momentum is not above: weight 0
    excess = np.where(above, values - threshold, 0.0)
    total = float(excess.sum())
    return pd.Series(excess / total if total > 0 else excess * 0.0, index=momentum.index, name=momentum.name)


def equity_frame(results: Sequence[BacktestResult]) -> pd.DataFrame:
    """Each strategy's equity as one column (sessions x strategies)."""
    return pd.concat([r.equity.rename(r.strategy) for r in results], axis=1)


class EquityHistory:
    """The strategies' equity side by side over a whole stretch, with its daily returns
    and rolling momentum computed once (for each lookback asked). Each is causal (row D
    uses rows up to D only), so cut at a session it equals the same measure computed on
    the equity up to that session: a replay tracks every session of the stretch from it."""

    def __init__(self, equity: pd.DataFrame) -> None:
        self.equity = equity
        self._momentum: dict[int, pd.DataFrame] = {}

    @cached_property
    def returns(self) -> pd.DataFrame:
        return self.equity.pct_change()

    def momentum_history(self, lookback_days: int) -> pd.DataFrame:
        if lookback_days not in self._momentum:
            self._momentum[lookback_days] = rolling_momentum(self.equity, lookback_days)
        return self._momentum[lookback_days]


def track(
    results: Sequence[BacktestResult],
    session: dt.date,
    lookback_days: int,
    threshold: float,
    correlation_sessions: int,
    equity: pd.DataFrame | EquityHistory | None = None,
) -> StrategyPerformance:
    """Combine the strategies' backtests into their performance as of ``session``.
    ``equity``: the results' equity side by side (:func:`equity_frame`), or its
    :class:`EquityHistory`, when already made."""
    history = (
        equity
        if isinstance(equity, EquityHistory)
        else EquityHistory(equity_frame(results) if equity is None else equity)
    )
    end = int(history.equity.index.searchsorted(pd.Timestamp(session), side="right"))  # rows up to the session
    cut = history.equity.iloc[:end]
    momentum = pd.Series(
        {r.strategy: momentum_asof(r.equity, session, lookback_days) for r in results}, name="momentum"
    )
    returns = history.returns.iloc[max(1, end - correlation_sessions) : end]
    return StrategyPerformance(
        session=session,
        lookback_days=lookback_days,
        threshold=threshold,
        equity=cut,
        momentum=momentum,
        momentum_history=history.momentum_history(lookback_days).iloc[:end],
        correlation=returns.corr(),
        weights=capital_weights(momentum, threshold).rename("weight"),
        benchmark=results[0].benchmark.reindex(cut.index),
        results=tuple(results),
    )
