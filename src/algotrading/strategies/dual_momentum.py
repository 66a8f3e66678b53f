"""Dual Momentum (DESIGN §4.3): hold the ETF with the best 12-month return, if it beats
the risk-free rate; otherwise the defensive asset (or cash).

Every 21 sessions (counted on the NYSE calendar from ``rebalance_anchor``): rank the
assets by their 252-session return (relative momentum); if the best one's return minus
the risk-free rate over the same period is >= 0 (absolute momentum) BUY it, else BUY the
defensive asset (none when it is null: cash). Every other asset of the strategy gets a
SELL on that day. Confidence = min(0.7 + 0.2 x excess return + 0.1 x lead over the
runner-up, 1) for a risk asset, 0.7 for the defensive one. Positions carry a 15% stop
and a 30% target from the entry close.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from algotrading import indicators as ind
from algotrading.data.market import MarketData
from algotrading.strategies.base import (
    Action,
    SignalFrames,
    Strategy,
    StrategyParams,
    percent_levels,
    rebalance_days,
    row_frame,
)


class DualMomentumParams(StrategyParams):
    assets: list[str] = Field(min_length=1, description="ETF symbols competing on momentum, e.g. [SPY, QQQ, IWM]")
    defensive_asset: str | None = Field(
        description="a symbol held when none beats the risk-free rate, or null for cash"
    )
    lookback_sessions: int = Field(ge=20, le=756, description="sessions, e.g. 252")
    risk_free_rate_pct: float = Field(ge=0, lt=50, description="annual percent, e.g. 4")
    rebalance_sessions: int = Field(ge=1, le=252, description="sessions, e.g. 21")
    rebalance_anchor: dt.date = Field(description="a date the rebalance schedule counts from, e.g. 2016-01-04")
    base_confidence: float = Field(ge=0, le=1, description="e.g. 0.7")
    absolute_weight: float = Field(ge=0, le=1, description="e.g. 0.2")
    relative_weight: float = Field(ge=0, le=1, description="e.g. 0.1")

    @model_validator(mode="after")
    def _defensive_apart(self) -> DualMomentumParams:
        if self.defensive_asset is not None and self.defensive_asset in self.assets:
            raise ValueError(f"defensive_asset {self.defensive_asset} must not also be one of the assets")
        return self


class DualMomentum(Strategy):
    name = "dual_momentum"
    title = "Dual Momentum"
    summary = (
        "Best 12-month ETF return if it beats the risk-free rate, else the defensive asset; "
        "rebalanced every 21 sessions."
    )
    Params = DualMomentumParams
    params: DualMomentumParams

    def symbols(self) -> list[str]:
        p = self.params
        return list(p.assets) + ([p.defensive_asset] if p.defensive_asset else [])

    def generate(self, market: MarketData) -> SignalFrames:
        p = self.params
        m = market.select(self.symbols())
        close = m.close
        assets = [a for a in p.assets if a in close.columns]
        ret = ind.period_return(close, p.lookback_sessions)
        risk_free = p.risk_free_rate_pct / 100 * p.lookback_sessions / ind.TRADING_DAYS
        excess = ret - risk_free

        values = ret[assets].to_numpy(dtype="float64")
        has_data = ~np.isnan(values).all(axis=1)
        filled = np.where(np.isnan(values), -np.inf, values)
        best_idx = filled.argmax(axis=1)
        best_ret = np.where(has_data, filled.max(axis=1), np.nan)
        runner_up = np.sort(filled, axis=1)[:, -2] if len(assets) > 1 else np.full(len(values), -np.inf)
        lead = np.where(np.isfinite(runner_up), best_ret - runner_up, 0.0)
        best_excess = best_ret - risk_free

        choice = np.full(len(values), None, dtype=object)
        risk_on = has_data & (best_excess >= 0)
        choice[risk_on] = np.asarray(assets, dtype=object)[best_idx[risk_on]]
        if p.defensive_asset and p.defensive_asset in close.columns:
            choice[has_data & ~risk_on] = p.defensive_asset
        chosen = pd.DataFrame({s: choice == s for s in close.columns}, index=close.index)

        rebalance = rebalance_days(close.index, p.rebalance_sessions, p.rebalance_anchor).to_numpy()
        on_rebalance = row_frame(rebalance & has_data, close)
        entry = chosen & on_rebalance & close.notna()
        exit_ = ~chosen & on_rebalance

        risk_conf = np.minimum(p.base_confidence + p.absolute_weight * best_excess + p.relative_weight * lead, 1.0)
        conf_row = np.where(risk_on, risk_conf, p.base_confidence)
        confidence = row_frame(conf_row, close).clip(lower=0.0)
        stop, target = percent_levels(close, p.stop_loss_pct, p.take_profit_pct)
        return SignalFrames(
            strategy=self.name,
            entry=entry,
            exit=exit_,
            confidence=confidence.where(entry),
            exit_fresh=exit_,
            stop=stop,
            target=target,
            facts={
                "lookback_return": ret,
                "excess_return": excess,
                "lead_over_runner_up": row_frame(lead, close).where(chosen),
                "defensive": pd.DataFrame({s: s == p.defensive_asset for s in close.columns}, index=close.index),
            },
        )

    def explain(self, action: Action, facts: Mapping[str, Any]) -> str:
        p = self.params
        ret, excess = facts.get("lookback_return"), facts.get("excess_return")
        ret_text = f"{ret:+.1%}" if ret is not None else "n/a"
        if action is Action.BUY and facts.get("defensive"):
            return f"no asset beats the risk-free rate over {p.lookback_sessions} sessions: defensive {ret_text}"
        if action is Action.BUY:
            lead = facts.get("lead_over_runner_up") or 0.0
            return (
                f"best {p.lookback_sessions}-session return {ret_text}, {excess:+.1%} over the risk-free rate, "
                f"{lead:.1%} ahead of the runner-up (rebalance day)"
            )
        return f"not the strategy's pick at this rebalance ({p.lookback_sessions}-session return {ret_text})"
