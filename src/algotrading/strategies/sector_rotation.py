"""Sector Rotation (DESIGN §4.4): hold the strongest sector ETFs, risk-adjusted.

Every 21 sessions (NYSE calendar, from ``rebalance_anchor``) each sector ETF scores
``(0.6 x 63-session momentum + 0.4 x 252-session relative strength vs the benchmark)
x (benchmark volatility / sector volatility)`` (volatility: 63-session realised). Sectors
with relative strength below -5% are out; the top 4 by score get a BUY, the others a
SELL. Confidence = min(0.6 + 0.4 x score, 1), floored at 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from algotrading import indicators as ind
from algotrading.data.market import MarketData
from algotrading.strategies.base import (
    Action,
    GroupStrategyParams,
    SignalFrames,
    Strategy,
    StrategyUnavailable,
    percent_levels,
    rebalance_days,
    row_frame,
)


class SectorRotationParams(GroupStrategyParams):
    momentum_sessions: int = Field(ge=5, description="sessions, e.g. 63")
    relative_strength_sessions: int = Field(ge=5, description="sessions, e.g. 252")
    volatility_sessions: int = Field(ge=5, description="sessions, e.g. 63")
    momentum_weight: float = Field(ge=0, le=1, description="e.g. 0.6")
    relative_strength_weight: float = Field(ge=0, le=1, description="e.g. 0.4")
    min_relative_strength_pct: float = Field(description="a percent, e.g. -5")
    top_n: int = Field(ge=1, description="sectors held, e.g. 4")
    rebalance_sessions: int = Field(ge=1, le=252, description="sessions, e.g. 21")
    rebalance_anchor: dt.date = Field(description="a date the rebalance schedule counts from, e.g. 2016-01-04")
    base_confidence: float = Field(ge=0, le=1, description="e.g. 0.6")
    score_weight: float = Field(ge=0, le=1, description="e.g. 0.4")


class SectorRotation(Strategy):
    name = "sector_rotation"
    title = "Sector Rotation"
    summary = "Top 4 sector ETFs by momentum and relative strength vs SPY, scaled by relative volatility; monthly."
    Params = SectorRotationParams
    params: SectorRotationParams

    def generate(self, market: MarketData) -> SignalFrames:
        p = self.params
        sectors = market.select(self.symbols()).close
        bench_symbol = self.universe.benchmark
        if bench_symbol not in market.close.columns:
            raise StrategyUnavailable(f"needs the benchmark {bench_symbol}, which has no usable data this session")
        bench = market.close[bench_symbol]
        mom = ind.period_return(sectors, p.momentum_sessions)
        rs = ind.relative_strength(sectors, bench, p.relative_strength_sessions)
        vol = ind.volatility(sectors, p.volatility_sessions)
        bench_vol = ind.volatility(bench.to_frame(), p.volatility_sessions).iloc[:, 0]
        score = (p.momentum_weight * mom + p.relative_strength_weight * rs).mul(bench_vol, axis=0) / vol
        eligible = score.notna() & (rs >= p.min_relative_strength_pct / 100)
        ranked = score.where(eligible).rank(axis=1, ascending=False, method="first")
        chosen = ranked <= p.top_n

        rebalance = rebalance_days(sectors.index, p.rebalance_sessions, p.rebalance_anchor).to_numpy()
        ready = score.notna().any(axis=1).to_numpy() & rebalance
        on_rebalance = row_frame(ready, sectors)
        entry = chosen & on_rebalance
        exit_ = ~chosen & on_rebalance
        confidence = (p.base_confidence + p.score_weight * score).clip(lower=0.0, upper=1.0)
        stop, target = percent_levels(sectors, p.stop_loss_pct, p.take_profit_pct)
        return SignalFrames(
            strategy=self.name,
            entry=entry,
            exit=exit_,
            confidence=confidence.where(entry),
            exit_fresh=exit_,
            stop=stop,
            target=target,
            facts={
                "score": score,
                "rank": ranked,
                "momentum": mom,
                "relative_strength": rs,
                "volatility": vol,
            },
        )

    def explain(self, action: Action, facts: Mapping[str, Any]) -> str:
        p = self.params

        def pct(key: str) -> str:
            value = facts.get(key)
            return f"{value:+.1%}" if value is not None else "n/a"

        score = facts.get("score")
        detail = (
            f"score {score:.3f}" if score is not None else "no score"
        ) + f" ({p.momentum_sessions}-session momentum {pct('momentum')}, relative strength {pct('relative_strength')})"
        rank = facts.get("rank")
        if action is Action.BUY:
            assert rank is not None  # a BUY only goes to a ranked sector (rank <= top_n)
            return f"rank {int(rank)} of the sectors, {detail} (rebalance day)"
        if rank is None:
            return (
                f"out at this rebalance: relative strength below {p.min_relative_strength_pct:g}% or no score; {detail}"
            )
        return f"rank {int(rank)}, outside the top {p.top_n}: {detail} (rebalance day)"
