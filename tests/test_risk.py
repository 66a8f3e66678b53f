"""Risk rules: account transitions, the circuit breaker, position exits, permissions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from algotrading.config import CircuitBreakerParams
from algotrading.decisions.risk import (
    CircuitBreaker,
    RiskState,
    RiskStatus,
    account_transition,
    circuit_breaker,
    permissions,
    position_exit,
    sessions_held,
)
from algotrading.portfolio import Portfolio

from .planning import SESSION, base_settings, market, position

RISK = base_settings().risk
LIMITS = CircuitBreakerParams(spy_daily_move_pct=5, spy_volatility_20d_pct=40, vix_max=35)


def account(equity: float, peak: float, previous: float | None) -> Portfolio:
    return Portfolio(SESSION, equity).with_history(peak, previous)


def test_a_big_daily_loss_escalates_a_halt_to_an_emergency_stop():
    t = account_transition(RiskStatus(RiskState.HALTED), account(700, 1000, 790), RISK)
    assert t is not None and t.to_state is RiskState.EMERGENCY_STOP


def test_an_emergency_stop_is_never_left_automatically():
    assert account_transition(RiskStatus(RiskState.EMERGENCY_STOP), account(1200, 1200, 1100), RISK) is None


def test_a_halt_does_not_clear_itself_when_equity_recovers():
    assert account_transition(RiskStatus(RiskState.HALTED), account(1000, 1000, 990), RISK) is None


def test_the_emergency_switch_turns_the_daily_trigger_off():
    off = RISK.model_copy(update={"emergency_stop_enabled": False})
    assert account_transition(RiskStatus(RiskState.ACTIVE), account(890, 1000, 1000), off) is None


def spy_frame(moves: list[float], vix: float | None = 15.0) -> pd.DataFrame:
    prices = 500 * np.cumprod([1.0] + [1 + m for m in moves])
    index = pd.DatetimeIndex(pd.bdate_range(end="2025-12-31", periods=len(prices)))
    frame = pd.DataFrame({"SPY": prices}, index=index)
    if vix is not None:
        frame["^VIX"] = vix
    return frame


@pytest.mark.parametrize(("move", "tripped"), [(0.06, True), (-0.06, True), (0.0499, False), (-0.05, False)])
def test_breaker_on_spy_daily_move(move, tripped):
    quiet = [0.002, -0.002] * 12
    b = circuit_breaker(spy_frame(quiet + [move]), "SPY", "^VIX", LIMITS, True)
    assert b.tripped is tripped
    assert b.spy_move == pytest.approx(move)


def test_breaker_on_volatility_and_vix():
    wild = [0.031, -0.03] * 12 + [0.001]  # about 48% annualised, no single big day
    b = circuit_breaker(spy_frame(wild), "SPY", "^VIX", LIMITS, True)
    assert b.tripped and b.reasons[0].startswith("SPY 20-day volatility 4") and b.spy_volatility > 0.40
    calm = [0.002, -0.002] * 12 + [0.001]
    assert circuit_breaker(spy_frame(calm, vix=36.0), "SPY", "^VIX", LIMITS, True).reasons == (
        "^VIX at 36.0 (limit 35)",
    )
    assert not circuit_breaker(spy_frame(calm, vix=None), "SPY", "^VIX", LIMITS, True).tripped  # VIX when available


def test_without_vix_the_breaker_says_its_vix_part_is_off():
    calm = [0.002, -0.002] * 12 + [0.001]
    without = circuit_breaker(spy_frame(calm, vix=None), "SPY", "^VIX", LIMITS, True)
    assert without.notes == (
        "the ^VIX part is off: no ^VIX value for this session (Alpaca has no index data and the fallback source "
        "did not serve it; the data-health table says why); SPY's move and volatility "
        "are still checked",
    )
    assert without.to_json()["notes"] == list(without.notes)
    assert circuit_breaker(spy_frame(calm, vix=20.0), "SPY", "^VIX", LIMITS, True).notes == ()
    assert circuit_breaker(spy_frame(calm, vix=None), "SPY", "^VIX", LIMITS, False).notes == ()  # disabled: silent


def test_breaker_fails_closed_without_spy_and_is_off_when_disabled():
    b = circuit_breaker(
        pd.DataFrame({"XOM": [1.0] * 30}, index=pd.bdate_range(end="2025-12-31", periods=30)), "SPY", None, LIMITS, True
    )
    assert b.tripped and "SPY data unavailable" in b.reasons[0]
    b = circuit_breaker(spy_frame([0.002] * 24 + [-0.08]), "SPY", "^VIX", LIMITS, False)
    assert not b.tripped and b.reasons == () and b.spy_move == pytest.approx(-0.08)


def test_stale_spy_fails_closed():
    frame = market({"AAA": 10.0})
    frame.loc[frame.index[-1], "SPY"] = np.nan
    assert circuit_breaker(frame, "SPY", "^VIX", LIMITS, True).tripped


def test_exit_precedence_stop_target_holding_time_signal():
    p = position("X", price=90.0, entry=100.0, stop=95.0, target=80.0, entry_date=dt.date(2025, 1, 2))
    assert position_exit(p, SESSION, "rule says sell", 30).kind == "stop"
    p = position("X", price=130.0, entry=100.0, target=125.0, entry_date=dt.date(2025, 1, 2))
    assert position_exit(p, SESSION, "rule says sell", 30).kind == "target"
    p = position("X", entry_date=dt.date(2025, 11, 17))
    assert sessions_held(dt.date(2025, 11, 17), SESSION) == 30
    assert position_exit(p, SESSION, "rule says sell", 30).kind == "max_hold"
    assert position_exit(p, SESSION, "rule says sell", 31).kind == "exit_signal"
    assert position_exit(p, SESSION, None, 31) is None


def test_permissions():
    clear = CircuitBreaker(True, False, ())
    tripped = CircuitBreaker(True, True, ("SPY moved -6.0% today (limit 5%)",))
    active, halted = RiskStatus(RiskState.ACTIVE), RiskStatus(RiskState.HALTED, "t", "drawdown")
    emergency = RiskStatus(RiskState.EMERGENCY_STOP, "t", "loss")
    assert permissions(active, clear) == permissions(active, clear).__class__(True, False, ())
    assert not permissions(active, tripped).buys_allowed
    assert permissions(halted, clear).reasons == ("HALTED since t: drawdown",)
    e = permissions(emergency, clear)
    assert (e.buys_allowed, e.protective_only) == (False, True)
