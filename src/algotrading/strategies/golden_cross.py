"""Golden Cross (DESIGN §4.1): trend following on stocks and ETFs.

BUY when the fast SMA (50) crossed above the slow SMA (200) within the last 3 sessions
and is still above it. Confidence 0.5 for the cross, +0.2 if the averages are at least
2% apart, +0.2 if the close is above both, +0.1 if volume is above 1.1x its mean over
the 20 sessions before; the signal is emitted at 0.7 or more. SELL while the fast SMA is
below the slow one (the death cross; "fresh" within 3 sessions of it). A symbol needs 220
bars of history before it can signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator

from algotrading import indicators as ind
from algotrading.data.market import MarketData
from algotrading.strategies.base import Action, GroupStrategyParams, SignalFrames, Strategy, percent_levels


class GoldenCrossParams(GroupStrategyParams):
    fast_window: int = Field(ge=2, le=400, description="sessions, e.g. 50")
    slow_window: int = Field(ge=3, le=600, description="sessions, e.g. 200")
    cross_within_sessions: int = Field(ge=1, le=20, description="sessions, e.g. 3")
    min_history_sessions: int = Field(ge=1, description="sessions, e.g. 220")
    base_confidence: float = Field(ge=0, le=1, description="e.g. 0.5")
    separation_pct: float = Field(ge=0, description="a percent, e.g. 2")
    separation_bonus: float = Field(ge=0, le=1, description="e.g. 0.2")
    above_both_bonus: float = Field(ge=0, le=1, description="e.g. 0.2")
    volume_window: int = Field(ge=1, description="sessions, e.g. 20")
    volume_ratio: float = Field(gt=0, description="a multiple, e.g. 1.1")
    volume_bonus: float = Field(ge=0, le=1, description="e.g. 0.1")
    min_confidence: float = Field(ge=0, le=1, description="e.g. 0.7")

    @model_validator(mode="after")
    def _windows(self) -> GoldenCrossParams:
        if self.fast_window >= self.slow_window:
            raise ValueError(f"fast_window ({self.fast_window}) must be shorter than slow_window ({self.slow_window})")
        return self


class GoldenCross(Strategy):
    name = "golden_cross"
    title = "Golden Cross"
    summary = "SMA50 crosses above SMA200: buy the new uptrend; sell on the death cross."
    Params = GoldenCrossParams
    params: GoldenCrossParams

    def generate(self, market: MarketData) -> SignalFrames:
        p = self.params
        m = market.select(self.symbols())
        close = m.close
        fast, slow = ind.sma(close, p.fast_window), ind.sma(close, p.slow_window)
        enough = ind.history_length(close) >= p.min_history_sessions
        cross_up = ind.crossed_above(fast, slow, p.cross_within_sessions)
        separation = (fast - slow) / slow
        above_both = (close > fast) & (close > slow)
        volume_mean = m.volume.shift(1).rolling(p.volume_window, min_periods=p.volume_window).mean()
        volume_ratio = m.volume / volume_mean
        confidence = (
            p.base_confidence
            + p.separation_bonus * (separation >= p.separation_pct / 100)
            + p.above_both_bonus * above_both
            + p.volume_bonus * (volume_ratio > p.volume_ratio)
        ).clip(upper=1.0)
        entry = cross_up & enough & (confidence >= p.min_confidence - 1e-12)
        exit_ = (fast < slow) & enough
        stop, target = percent_levels(close, p.stop_loss_pct, p.take_profit_pct)
        return SignalFrames(
            strategy=self.name,
            entry=entry,
            exit=exit_,
            confidence=confidence.where(entry),
            exit_fresh=ind.crossed_below(fast, slow, p.cross_within_sessions) & enough,
            stop=stop,
            target=target,
            facts={
                "sma_fast": fast,
                "sma_slow": slow,
                "separation": separation,
                "close_above_both": above_both,
                "volume_ratio": volume_ratio,
            },
        )

    def explain(self, action: Action, facts: Mapping[str, Any]) -> str:
        p = self.params
        fast, slow = f"SMA{p.fast_window}", f"SMA{p.slow_window}"
        sep = facts.get("separation")
        sep_text = f"{sep:+.1%}" if sep is not None else "n/a"
        if action is Action.BUY:
            parts = [f"{fast} crossed above {slow} (gap {sep_text})"]
            if facts.get("close_above_both"):
                parts.append("close above both")
            vr = facts.get("volume_ratio")
            if vr is not None:
                parts.append(f"volume {vr:.2f}x its {p.volume_window}-day mean")
            return "; ".join(parts)
        return f"{fast} below {slow} (gap {sep_text}): death cross, trend down"
