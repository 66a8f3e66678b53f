"""Mean Reversion (DESIGN §4.2): buy oversold symbols that tend to revert.

BUY when at least 2 of these hold: Wilder RSI14 < 30 (weight 0.35), 20-day z-score < -1.5
(0.35), close below the lower Bollinger band (20, 2) (0.20), close below the
Ornstein-Uhlenbeck entry level (0.25; the fit of the last 60 log closes must revert
with a half-life within those 60 sessions, its level is mean - 1 stationary sd). Confidence is
the sum of the weights that hold,
+0.10 when volume is above 1.2x its 20-day mean, +0.10 when the O-U half-life is under
20 sessions, capped at 1. Only where the Hurst exponent says the series mean-reverts
(H < 0.5). SELL when the z-score is back above 0.5, RSI above 70, or the close reaches
the 50-day SMA. A position carries a stop 2.5 ATR below and a target 3.5 ATR above the
entry close and is closed after 30 sessions at most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from algotrading import indicators as ind
from algotrading.data.market import MarketData
from algotrading.strategies.base import Action, GroupStrategyParams, SignalFrames, Strategy


class MeanReversionParams(GroupStrategyParams):
    rsi_window: int = Field(ge=2, description="sessions, e.g. 14")
    rsi_oversold: float = Field(gt=0, lt=100, description="e.g. 30")
    rsi_overbought: float = Field(gt=0, lt=100, description="e.g. 70")
    zscore_window: int = Field(ge=2, description="sessions, e.g. 20")
    zscore_entry: float = Field(lt=0, description="e.g. -1.5")
    zscore_exit: float = Field(description="e.g. 0.5")
    bollinger_window: int = Field(ge=2, description="sessions, e.g. 20")
    bollinger_std: float = Field(gt=0, description="e.g. 2")
    ou_window: int = Field(ge=10, description="sessions, e.g. 60")
    ou_entry_sigma: float = Field(gt=0, description="e.g. 1.0")
    weight_rsi: float = Field(ge=0, le=1, description="e.g. 0.35")
    weight_zscore: float = Field(ge=0, le=1, description="e.g. 0.35")
    weight_bollinger: float = Field(ge=0, le=1, description="e.g. 0.20")
    weight_ou: float = Field(ge=0, le=1, description="e.g. 0.25")
    min_conditions: int = Field(ge=1, le=4, description="how many of the 4 entry conditions, e.g. 2")
    volume_window: int = Field(ge=1, description="sessions, e.g. 20")
    volume_ratio: float = Field(gt=0, description="a multiple, e.g. 1.2")
    volume_bonus: float = Field(ge=0, le=1, description="e.g. 0.10")
    half_life_max: float = Field(gt=0, description="sessions, e.g. 20")
    half_life_bonus: float = Field(ge=0, le=1, description="e.g. 0.10")
    hurst_window: int = Field(ge=30, description="sessions, e.g. 252")
    hurst_max_lag: int = Field(ge=3, description="sessions, e.g. 10")
    hurst_max: float = Field(gt=0, lt=1, description="e.g. 0.5")
    exit_sma_window: int = Field(ge=2, description="sessions, e.g. 50")
    atr_window: int = Field(ge=2, description="sessions, e.g. 14")
    stop_atr: float = Field(gt=0, description="ATRs below the entry close, e.g. 2.5")
    target_atr: float = Field(gt=0, description="ATRs above the entry close, e.g. 3.5")
    max_hold_sessions: int = Field(ge=1, description="sessions, e.g. 30")
    min_confidence: float = Field(ge=0, le=1, description="e.g. 0")


class MeanReversion(Strategy):
    name = "mean_reversion"
    title = "Mean Reversion"
    summary = "Oversold on >= 2 of RSI, z-score, Bollinger and O-U, where Hurst < 0.5: buy the dip, exit on the bounce."
    Params = MeanReversionParams
    params: MeanReversionParams

    def generate(self, market: MarketData) -> SignalFrames:
        p = self.params
        m = market.select(self.symbols())
        close = m.close
        rsi = ind.rsi(close, p.rsi_window)
        z = ind.zscore(close, p.zscore_window)
        lower, _, _ = ind.bollinger(close, p.bollinger_window, p.bollinger_std)
        fit = ind.ou_fit(close, p.ou_window)
        ou_level = ind.ou_entry_level(fit, p.ou_entry_sigma)
        hurst = ind.hurst(close, p.hurst_window, p.hurst_max_lag)
        volume_mean = m.volume.shift(1).rolling(p.volume_window, min_periods=p.volume_window).mean()
        volume_ratio = m.volume / volume_mean

        c_rsi, c_z, c_bb, c_ou = rsi < p.rsi_oversold, z < p.zscore_entry, close < lower, close < ou_level
        conditions = c_rsi.astype(int) + c_z.astype(int) + c_bb.astype(int) + c_ou.astype(int)
        confidence = (
            p.weight_rsi * c_rsi
            + p.weight_zscore * c_z
            + p.weight_bollinger * c_bb
            + p.weight_ou * c_ou
            + p.volume_bonus * (volume_ratio > p.volume_ratio)
            + p.half_life_bonus * (fit["half_life"] < p.half_life_max)
        ).clip(upper=1.0)
        reverting = hurst < p.hurst_max
        entry = (conditions >= p.min_conditions) & reverting & (confidence >= p.min_confidence)

        sma_exit = ind.sma(close, p.exit_sma_window)
        exit_ = (z > p.zscore_exit) | (rsi > p.rsi_overbought) | (close >= sma_exit)
        fresh = exit_ & ~exit_.shift(1, fill_value=False)
        atr = ind.atr(m.high, m.low, close, p.atr_window)
        return SignalFrames(
            strategy=self.name,
            entry=entry,
            exit=exit_ & ~entry,
            confidence=confidence.where(entry),
            exit_fresh=fresh,
            stop=close - p.stop_atr * atr,
            target=close + p.target_atr * atr,
            max_hold=self.max_hold(),
            facts={
                "rsi": rsi,
                "zscore": z,
                "bollinger_lower": lower,
                "ou_entry_level": ou_level,
                "half_life": fit["half_life"],
                "hurst": hurst,
                "conditions_met": conditions,
                "volume_ratio": volume_ratio,
                "sma_exit": sma_exit,
                "atr": atr,
            },
        )

    def max_hold(self) -> int | None:
        return self.params.max_hold_sessions

    def explain(self, action: Action, facts: Mapping[str, Any]) -> str:
        p = self.params

        def num(key: str, fmt: str) -> str:
            value = facts.get(key)
            return format(value, fmt) if value is not None else "n/a"

        if action is Action.BUY:
            return (
                f"oversold on {facts.get('conditions_met')} of 4: RSI {num('rsi', '.0f')}, z {num('zscore', '+.2f')}, "
                f"Bollinger low {num('bollinger_lower', '.2f')}, O-U level {num('ou_entry_level', '.2f')}; "
                f"Hurst {num('hurst', '.2f')}, half-life {num('half_life', '.0f')} sessions"
            )
        reasons = []
        if (z := facts.get("zscore")) is not None and z > p.zscore_exit:
            reasons.append(f"z-score {z:+.2f} > {p.zscore_exit:+g}")
        if (r := facts.get("rsi")) is not None and r > p.rsi_overbought:
            reasons.append(f"RSI {r:.0f} > {p.rsi_overbought:g}")
        if facts.get("sma_exit") is not None and reasons == []:
            reasons.append(f"close back at/above SMA{p.exit_sma_window} ({num('sma_exit', '.2f')})")
        return "reverted: " + "; ".join(reasons)
