"""Risk controls (Requirement 2.3, DESIGN §5), one rule per function.

* Account state, persisted in the store: a drawdown from peak equity of at least
  ``MAX_DRAWDOWN_PCT`` -> HALTED (no new buys; exits and stops still allowed); a one-day
  loss of more than ``MAX_DAILY_LOSS_PCT`` -> EMERGENCY STOP (no orders but protective
  exits, i.e. stop losses), when ``EMERGENCY_STOP_ENABLED``. Both hold until a person
  clears them with ``algotrading risk resume --reason``.
* Market circuit breaker (``CIRCUIT_BREAKER_ENABLED``): new buys pause while SPY's
  close-to-close move, its 20-session realised volatility or ^VIX is beyond its limit,
  and resume by themselves when the market calms. Without SPY data it fails closed.
* Position exits at the session's close, in this order of precedence (as in the
  backtest's position book): stop loss, take profit, maximum holding time, the owning
  strategy's exit signal.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.config import CircuitBreakerParams, RiskParams
from algotrading.decisions.rows import rows
from algotrading.portfolio import Portfolio, Position


class RiskState(StrEnum):
    """The account's risk state (DESIGN §5): persisted by the store, decided here."""

    ACTIVE = "ACTIVE"
    HALTED = "HALTED"
    EMERGENCY_STOP = "EMERGENCY_STOP"


@dataclass(frozen=True)
class RiskStatus:
    """The persisted risk state and the event that set it."""

    state: RiskState
    since: str | None = None
    reason: str | None = None
    session_date: str | None = None


#: Float slack for comparisons at an exact limit (15.0% drawdown must halt).
EPS = 1e-9
VOLATILITY_SESSIONS = 20


@dataclass(frozen=True)
class Transition:
    """A state change the account's numbers call for."""

    to_state: RiskState
    reason: str


def account_transition(current: RiskStatus, portfolio: Portfolio, params: RiskParams) -> Transition | None:
    """The automatic change of risk state today's equity calls for, if any.

    EMERGENCY STOP is never left automatically; a daily loss beyond the limit escalates
    HALTED to EMERGENCY STOP; a drawdown at the limit halts an ACTIVE account.
    """
    if current.state is RiskState.EMERGENCY_STOP:
        return None
    change = portfolio.daily_change
    limit = params.max_daily_loss_pct / 100
    if params.emergency_stop_enabled and change is not None and change < -limit - EPS:
        return Transition(
            RiskState.EMERGENCY_STOP,
            f"one-day loss {change:+.1%} (equity ${portfolio.previous_equity:,.2f} -> ${portfolio.equity:,.2f}) "
            "is beyond "
            f"MAX_DAILY_LOSS_PCT {params.max_daily_loss_pct:g}%: emergency stop, only protective exits until "
            "`algotrading risk resume --reason ...`",
        )
    if current.state is RiskState.ACTIVE and portfolio.drawdown >= params.max_drawdown_pct / 100 - EPS:
        peak = max(portfolio.peak_equity or 0.0, portfolio.equity)
        return Transition(
            RiskState.HALTED,
            f"drawdown {portfolio.drawdown:.1%} from the peak ${peak:,.2f} reached MAX_DRAWDOWN_PCT "
            f"{params.max_drawdown_pct:g}%: new buys halted until `algotrading risk resume --reason ...`",
        )
    return None


@dataclass(frozen=True)
class CircuitBreaker:
    """The market check of one session."""

    enabled: bool
    tripped: bool
    reasons: tuple[str, ...]
    spy_move: float | None = None
    spy_volatility: float | None = None
    vix: float | None = None
    notes: tuple[str, ...] = ()  # a part of the check that could not run (no ^VIX value), in words

    def to_json(self) -> dict[str, object]:
        def clean(x: float | None) -> float | None:
            return None if x is None or math.isnan(x) else round(x, 6)

        return {
            "enabled": self.enabled,
            "tripped": self.tripped,
            "reasons": list(self.reasons),
            "spy_move": clean(self.spy_move),
            "spy_volatility_20d": clean(self.spy_volatility),
            "vix": clean(self.vix),
            "notes": list(self.notes),
        }


def _last_valid(values: np.ndarray, count: int) -> np.ndarray:
    """A column's values (float64) without the missing ones, at least its last ``count``
    valid ones (all this check reads: a replay asks it every session on years of history),
    as a plain array: pandas' indexing cost more than the arithmetic here."""
    recent = values[-2 * count :]
    recent = recent[~np.isnan(recent)]
    return recent if len(recent) >= count else values[~np.isnan(values)]


def circuit_breaker(
    close: pd.DataFrame, benchmark: str, vix_symbol: str | None, params: CircuitBreakerParams, enabled: bool
) -> CircuitBreaker:
    """Check the last row of ``close`` (the session) against the market limits."""
    # each column read once, as a plain array (a replay asks this every session)
    column = close[benchmark].to_numpy(dtype="float64") if benchmark in close.columns else None
    # the session's own close must be there (the last row), and 20 returns before it
    fresh = column is not None and len(column) > 0 and not np.isnan(column[-1])
    series = _last_valid(column, VOLATILITY_SESSIONS + 1) if fresh and column is not None else np.empty(0)
    if len(series) < VOLATILITY_SESSIONS + 1:
        reason = f"{benchmark} data unavailable or too short for the session: new buys paused (fail closed)"
        return CircuitBreaker(enabled, enabled, (reason,) if enabled else ())
    move = float(series[-1] / series[-2] - 1)
    log_ret = np.log(series[1:] / series[:-1])[-VOLATILITY_SESSIONS:]
    vol = float(np.std(log_ret, ddof=1) * math.sqrt(252))
    vix = None
    notes: tuple[str, ...] = ()
    last_vix = close[vix_symbol].iloc[-1] if vix_symbol and vix_symbol in close.columns else None
    if last_vix is not None and pd.notna(last_vix):
        vix = float(last_vix)
    elif vix_symbol and enabled:
        notes = (
            f"the {vix_symbol} part is off: no {vix_symbol} value for this session (Alpaca has no index data "
            "and the fallback source did not serve it; the data-health table says why); "
            f"{benchmark}'s move and volatility are still checked",
        )
    reasons = []
    if abs(move) > params.spy_daily_move_pct / 100 + EPS:
        reasons.append(f"{benchmark} moved {move:+.1%} today (limit {params.spy_daily_move_pct:g}%)")
    if vol > params.spy_volatility_20d_pct / 100 + EPS:
        reasons.append(f"{benchmark} 20-day volatility {vol:.0%} annualised (limit {params.spy_volatility_20d_pct:g}%)")
    if vix is not None and vix > params.vix_max + EPS:
        reasons.append(f"{vix_symbol} at {vix:.1f} (limit {params.vix_max:g})")
    if not enabled:
        return CircuitBreaker(False, False, (), move, vol, vix)
    return CircuitBreaker(True, bool(reasons), tuple(reasons), move, vol, vix, notes)


@dataclass(frozen=True)
class Permissions:
    """What the risk state and the circuit breaker allow this session."""

    buys_allowed: bool
    protective_only: bool  # only stop-loss sells may be placed
    reasons: tuple[str, ...]


def permissions(status: RiskStatus, breaker: CircuitBreaker) -> Permissions:
    if status.state is RiskState.EMERGENCY_STOP:
        why = f"EMERGENCY STOP since {status.since or 'earlier'}: {status.reason or 'set by hand'}"
        return Permissions(False, True, (why,))
    reasons = []
    if status.state is RiskState.HALTED:
        reasons.append(f"HALTED since {status.since or 'earlier'}: {status.reason or 'set by hand'}")
    if breaker.tripped:
        reasons.append("circuit breaker: " + "; ".join(breaker.reasons))
    return Permissions(not reasons, False, tuple(reasons))


@dataclass(frozen=True)
class PositionExit:
    """A reason to sell a whole position at the next open."""

    symbol: str
    kind: str  # stop | target | max_hold | exit_signal
    reason: str
    strategy: str | None

    @property
    def protective(self) -> bool:
        return self.kind == "stop"


def sessions_held(entry: dt.date, session: dt.date) -> int:
    """Sessions from the entry session to ``session`` (0 on the entry session itself)."""
    return max(0, len(cal.sessions_between(entry, session)) - 1)


def position_exit(
    position: Position, session: dt.date, sell_signal: str | None, max_hold: int | None
) -> PositionExit | None:
    """The first rule that closes ``position`` at this close, if any."""
    p, price = position, position.price
    if p.stop_price is not None and price <= p.stop_price + EPS:
        return PositionExit(
            p.symbol,
            "stop",
            f"stop loss: the close ${price:,.2f} is at or below the stop ${p.stop_price:,.2f}",
            p.strategy,
        )
    if p.target_price is not None and price >= p.target_price - EPS:
        return PositionExit(
            p.symbol,
            "target",
            f"take profit: the close ${price:,.2f} is at or above the target ${p.target_price:,.2f}",
            p.strategy,
        )
    if max_hold and p.entry_date is not None and (held := sessions_held(p.entry_date, session)) >= max_hold:
        return PositionExit(
            p.symbol, "max_hold", f"holding limit: held {held} sessions, the limit is {max_hold}", p.strategy
        )
    if sell_signal is not None:
        return PositionExit(p.symbol, "exit_signal", f"the {p.strategy} exit: {sell_signal}", p.strategy)
    return None


def position_exits(
    portfolio: Portfolio,
    sell_signals: pd.DataFrame | Sequence[Any],
    max_hold: dict[str, int | None],
    session: dt.date,
) -> list[PositionExit]:
    """Exits for every held position (SELL signals, as a table or its rows, count only
    from the owning strategy)."""
    reasons = {(r.symbol, r.strategy): r.reason for r in rows(sell_signals)}
    out = []
    for p in sorted(portfolio.positions, key=lambda x: x.symbol):
        signal = reasons.get((p.symbol, p.strategy)) if p.strategy else None
        exit_ = position_exit(p, session, signal, max_hold.get(p.strategy or ""))
        if exit_ is not None:
            out.append(exit_)
    return out
