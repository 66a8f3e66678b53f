"""The seed's scenarios, each through the whole decision chain (rank -> size -> risk ->
plan) with hand-checked outcomes. ``SCENARIOS`` doubles as the table in the closing note."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd
import pytest

from algotrading.decisions.plan import make_plan, plan_from_json
from algotrading.decisions.risk import RiskState, RiskStatus, account_transition

from .planning import STRATEGIES, base_settings, buy, inputs, position, sell, with_safety


def plan_of(data):
    return make_plan(data, "2026-01-01T00:00:00+00:00")


def buys(plan):
    return {o.symbol: o.est_value for o in plan.buys}


def decision(plan, symbol, strategy=None):
    rows = [s for s in plan.signals if s["symbol"] == symbol and (strategy is None or s["strategy"] == strategy)]
    assert len(rows) == 1, rows
    return rows[0]


def test_fresh_account_with_six_signals_buys_the_top_four_at_225():
    signals = [
        buy(s, confidence=c)
        for s, c in [("AAA", 0.9), ("BBB", 0.85), ("CCC", 0.8), ("DDD", 0.75), ("EEE", 0.7), ("FFF", 0.65)]
    ]
    plan = plan_of(inputs(signals))
    # $1,000 cash - $100 buffer = $900 for 4 slots -> $225 each, below the $300 cap
    assert buys(plan) == {"AAA": 225.0, "BBB": 225.0, "CCC": 225.0, "DDD": 225.0}
    assert [o.after_sells_fill for o in plan.buys] == [False] * 4
    assert decision(plan, "EEE")["decision"] == "rejected" and decision(plan, "EEE")["reasons"] == ["below the top 4"]
    assert 1000 - sum(buys(plan).values()) == 100.0  # the buffer is kept
    first = plan.to_json()["orders"][0]  # each order says why, at what price, how many shares, sized how
    assert (first["why"], first["est_price"], first["est_shares"]) == (
        "mean_reversion: mean_reversion says buy",
        100.0,
        2.25,
    )
    assert first["sizing"] == (
        "buy $225.00: $900.00 for buys x mean_reversion's weight 0.25 / 1.00 (the weights of the 4 buy(s) still "
        "possible) = $225.00 (cap $300.00)"
    )
    assert plan.buys[0].assumed == "about 2.25 shares at $100.00"


def full_book(weak_confidence=0.3):
    return [
        position("H1", confidence=0.9),
        position("H2", confidence=0.85),
        position("H3", confidence=0.8),
        position("WEAK", confidence=weak_confidence),
    ]


def test_fully_invested_and_a_much_better_signal_swaps_out_the_weakest():
    # held scores: 0.5 x confidence + 0.5 x momentum score (mean reversion +5% -> 0.5); WEAK = 0.15 + 0.25 = 0.40
    # NEW scores 0.5 x 0.95 + 0.25 = 0.725 >= 0.40 + 0.15 margin -> swap
    plan = plan_of(inputs([buy("NEW", confidence=0.95)], positions=full_book(), cash=100.0))
    assert [(o.side, o.symbol, o.kind) for o in plan.orders] == [("sell", "WEAK", "swap"), ("buy", "NEW", "entry")]
    new = plan.buys[0]
    assert new.after_sells_fill and new.est_value == 225.0  # the sale's $225 funds it; cash $100 stays as buffer
    assert plan.cash_analysis.recommendation == "swap"
    assert [c.symbol for c in plan.cash_analysis.liquidation][:1] == ["WEAK"]


def test_fully_invested_and_a_slightly_better_signal_does_not_churn():
    # WEAK held score 0.5 x 0.6 + 0.25 = 0.55; NEW 0.5 x 0.7 + 0.25 = 0.60 < 0.55 + 0.15
    plan = plan_of(inputs([buy("NEW", confidence=0.7)], positions=full_book(weak_confidence=0.6), cash=100.0))
    assert plan.orders == ()
    assert "slots: 4 positions after today's plan (MAX_POSITIONS 4)" in decision(plan, "NEW")["reasons"]
    assert plan.cash_analysis.recommendation == "consolidate_or_wait"
    assert plan.cash_analysis.limited_by == "slots"


def test_an_1800_dollar_non_fractionable_stock_is_rejected_and_the_money_goes_elsewhere():
    from algotrading.portfolio import Asset

    signals = [buy("PRICY", confidence=0.95, price=1800.0), buy("AAA", confidence=0.8), buy("BBB", confidence=0.7)]
    plan = plan_of(inputs(signals, assets={"PRICY": Asset("PRICY", True, False)}))
    d = decision(plan, "PRICY")
    assert d["decision"] == "rejected"
    assert d["reasons"][-1] == "whole_shares: not fractionable and one share costs $1,800.00 > $300.00"
    # PRICY was sized first at the $300 cap; after its rejection the $900 is split over the 2 remaining buys, capped
    assert buys(plan) == {"AAA": 300.0, "BBB": 300.0}


def test_whole_shares_resize_a_non_fractionable_buy():
    from algotrading.portfolio import Asset

    plan = plan_of(inputs([buy("WHOLE", price=95.10)], assets={"WHOLE": Asset("WHOLE", True, False)}))
    (order,) = plan.buys
    assert (order.qty, order.notional, order.est_value) == (3.0, None, 285.30)  # 3 x $95.10 <= $300 cap
    assert decision(plan, "WHOLE")["decision"] == "resized"


def test_equity_of_700_after_losses_shrinks_the_limits():
    settings = base_settings()
    plan = plan_of(inputs([buy("AAA"), buy("BBB", confidence=0.7)], cash=700.0, peak=800.0, settings=settings))
    # cap = min($300, 30% x $700 = $210); $600 for 2 buys -> $300 each, capped at $210
    assert buys(plan) == {"AAA": 210.0, "BBB": 210.0}
    assert plan.limits["position_cap_today"] == 210.0


@pytest.mark.parametrize(("equity", "halted"), [(851.0, False), (850.0, True)])
def test_drawdown_just_below_and_at_15_percent(equity, halted):
    settings = base_settings()
    data = inputs([buy("AAA")], cash=equity, peak=1000.0)
    transition = account_transition(RiskStatus(RiskState.ACTIVE), data.portfolio, settings.risk)
    assert (transition is not None) == halted
    if halted:
        assert transition.to_state is RiskState.HALTED
        assert transition.reason.startswith("drawdown 15.0% from the peak $1,000.00 reached MAX_DRAWDOWN_PCT 15%")
        plan = plan_of(inputs([buy("AAA")], cash=equity, peak=1000.0, risk=RiskState.HALTED))
        assert plan.buys == [] and plan.risk["buys_allowed"] is False
        assert "new buys are blocked: HALTED since" in decision(plan, "AAA")["reasons"][-1]
    else:
        assert buys(plan_of(data)) == {"AAA": 255.3}  # 30% of $851


@pytest.mark.parametrize(("today", "emergency"), [(890.0, True), (900.0, False)])
def test_a_day_losing_11_percent_is_an_emergency_stop_and_10_percent_is_not(today, emergency):
    data = inputs(cash=today, peak=1000.0, previous=1000.0)
    transition = account_transition(RiskStatus(RiskState.ACTIVE), data.portfolio, base_settings().risk)
    if emergency:
        assert transition.to_state is RiskState.EMERGENCY_STOP
        assert transition.reason.startswith(
            "one-day loss -11.0% (equity $1,000.00 -> $890.00) is beyond MAX_DAILY_LOSS_PCT 10%"
        )
    else:
        assert transition is None  # -10.0% is not more than 10%


def test_emergency_stop_sends_only_protective_exits():
    held = [
        position("STOPPED", price=90.0, entry=100.0, stop=92.0),  # stop hit: protective
        position("TARGETED", price=120.0, entry=100.0, target=115.0),  # take profit: not protective
        position("EXITING", strategy="golden_cross"),
    ]
    plan = plan_of(
        inputs([buy("NEW"), sell("EXITING", "golden_cross")], positions=held, cash=300.0, risk=RiskState.EMERGENCY_STOP)
    )
    assert [(o.side, o.symbol, o.kind) for o in plan.orders] == [("sell", "STOPPED", "stop")]
    assert decision(plan, "EXITING")["reasons"][0].startswith("not sold: the golden_cross exit")
    assert decision(plan, "NEW")["decision"] == "rejected"


def test_spy_down_6_percent_pauses_buys_but_not_sells():
    plan = plan_of(inputs([buy("AAA"), sell("OLD")], positions=[position("OLD")], cash=500.0, spy_move=-0.06))
    assert plan.risk["circuit_breaker"]["tripped"]
    assert plan.risk["circuit_breaker"]["reasons"] == ["SPY moved -6.0% today (limit 5%)"]
    assert [(o.side, o.symbol) for o in plan.orders] == [("sell", "OLD")]
    assert decision(plan, "OLD")["decision"] == "accepted"


def test_vix_at_40_pauses_buys():
    plan = plan_of(inputs([buy("AAA")], vix=40.0))
    assert plan.buys == []
    assert plan.risk["circuit_breaker"]["reasons"] == ["^VIX at 40.0 (limit 35)"]
    assert plan.risk["state"] == "ACTIVE"  # the breaker is not a persisted state


def test_a_stop_loss_hit_while_halted_is_still_sold():
    plan = plan_of(
        inputs(
            [buy("NEW")],
            positions=[position("FALLING", price=80.0, entry=100.0, stop=85.0)],
            cash=700.0,
            risk=RiskState.HALTED,
        )
    )
    (order,) = plan.orders
    assert (order.side, order.symbol, order.kind) == ("sell", "FALLING", "stop")
    assert order.reason.endswith("stop loss: the close $80.00 is at or below the stop $85.00")


def test_two_strategies_signalling_the_same_symbol_make_one_buy():
    signals = [buy("SAME", "golden_cross", confidence=0.9), buy("SAME", "mean_reversion", confidence=0.7)]
    plan = plan_of(inputs(signals, momentum={"golden_cross": 0.08, "mean_reversion": 0.03}))
    assert list(buys(plan)) == ["SAME"] and plan.buys[0].strategy == "golden_cross"
    assert plan.top_signals[0]["agreeing"] == "mean_reversion"
    loser = decision(plan, "SAME", "mean_reversion")
    assert loser["decision"] == "rejected" and "counted as agreeing" in loser["reasons"][0]


def test_all_strategies_with_negative_momentum_make_an_empty_plan_and_say_why():
    momentum = dict.fromkeys(STRATEGIES, -0.02)
    plan = plan_of(inputs([buy("AAA"), buy("BBB", "golden_cross")], momentum=momentum))
    assert plan.orders == () and plan.top_signals == []
    assert decision(plan, "AAA")["reasons"] == ["mean_reversion momentum -2.0% is not above the threshold +0.0%"]
    assert all(not s["eligible"] for s in plan.strategies)


def test_short_cash_recommends_adding_funds():
    held = [position("H1", value=400.0), position("H2", value=400.0)]
    plan = plan_of(inputs([buy("AAA", confidence=0.55)], positions=held, cash=120.0))
    c = plan.cash_analysis
    assert plan.buys == [] and c.limited_by == "cash"
    # needs up to the $276 cap (30% of $920) with $20 free -> $256, rounded up to $300
    assert (c.recommendation, c.add_funds) == ("add_funds", 300.0)


def test_max_holding_time_and_target_close_positions():
    held = [
        position("OLD", entry_date=dt.date(2025, 11, 17)),  # 30 sessions before 2025-12-31
        position("UP", price=130.0, entry=100.0, target=125.0, strategy="dual_momentum"),
    ]
    plan = plan_of(inputs(positions=held, cash=100.0))
    assert [(o.symbol, o.kind) for o in plan.orders] == [("UP", "target"), ("OLD", "max_hold")]


def test_dust_is_recommended_for_consolidation():
    plan = plan_of(inputs(positions=[position("DUST", value=12.0)], cash=900.0))
    (item,) = plan.cash_analysis.consolidation
    assert item.symbol == "DUST" and item.reason.startswith("dust: $12.00 < 0.5 x MIN_POSITION_SIZE")


def test_an_account_too_small_for_one_minimum_buy():
    settings = with_safety(base_settings(), portfolio_size=150.0)
    plan = plan_of(inputs([buy("AAA")], cash=150.0, settings=settings))
    assert plan.buys == []
    # $50 is free for buys, but the cap is 30% of $150 = $45, below the $50 minimum
    assert decision(plan, "AAA")["reasons"][-1] == (
        "minimum: $45.00 (the cap: 30% of equity $150.00) is below MIN_POSITION_SIZE $50.00"
    )


def test_orders_have_deterministic_ids_and_sells_come_first():
    data = inputs([buy("NEW")], positions=[position("OLD")], cash=500.0)
    data = type(data)(
        **{**data.__dict__, "signals": pd.concat([data.signals, pd.DataFrame([sell("OLD")])], ignore_index=True)}
    )
    first, second = plan_of(data), plan_of(data)
    assert [o.side for o in first.orders] == ["sell", "buy"]
    assert [o.client_order_id for o in first.orders] == [o.client_order_id for o in second.orders]
    assert first.orders[0].client_order_id.startswith("at-20251231-sell-OLD-")


# --------------------------------------------------------------------------- re-plans


def sent(symbol: str, side: str = "buy", value: float = 225.0, qty: float | None = None, price: float = 100.0):
    from algotrading.decisions.at_broker import SentOrder

    return SentOrder(f"at-{symbol}-{side}", symbol, side, "accepted", value, qty, price, "mean_reversion")


def test_a_replan_spends_only_what_the_orders_at_the_broker_left_and_uses_the_free_slots():
    signals = [
        buy(s, confidence=c)
        for s, c in [("AAA", 0.9), ("BBB", 0.85), ("CCC", 0.8), ("DDD", 0.75), ("EEE", 0.7), ("FFF", 0.65)]
    ]
    first = plan_of(inputs(signals))
    assert buys(first) == {"AAA": 225.0, "BBB": 225.0, "CCC": 225.0, "DDD": 225.0}
    # two of those buys reached the broker before the session was planned again (--force)
    data = replace(inputs(signals), at_broker=(sent("AAA"), sent("BBB")))
    again = plan_of(data)
    # $1,000 - $450 at the broker - $100 buffer = $450 for the 2 slots left -> CCC and DDD at $225, EEE none
    assert buys(again) == {"CCC": 225.0, "DDD": 225.0}
    assert decision(again, "AAA")["reasons"][0].startswith("already held or ordered")
    assert "slots: 4 positions after today's plan (MAX_POSITIONS 4)" in decision(again, "EEE")["reasons"]
    assert again.cash_analysis.cash == 550.0 and again.portfolio.cash == 1000.0  # the account is shown as it is
    assert again.is_replan and again.notes[0].startswith(
        "Re-plan: 2 order(s) of this session are already at the broker (BUY AAA $225.00 (accepted); "
        "BUY BBB $225.00 (accepted)): $450.00 of buys taken from the cash, 2 slot(s) used by them"
    )
    assert [o.symbol for o in plan_from_json(again.to_json()).at_broker] == ["AAA", "BBB"]


def test_a_replan_counts_a_sent_sell_as_closing_and_its_proceeds_only_for_buys_that_wait():
    book = full_book()
    first = plan_of(inputs([buy("NEW", confidence=0.95)], positions=book, cash=100.0))
    assert [(o.side, o.symbol) for o in first.orders] == [("sell", "WEAK"), ("buy", "NEW")]
    # the swap's sell went out; the re-plan neither sells WEAK again nor swaps another holding out for NEW
    data = replace(
        inputs([buy("NEW", confidence=0.95)], positions=book, cash=100.0),
        at_broker=(sent("WEAK", "sell", 225.0, qty=2.25),),
    )
    again = plan_of(data)
    assert [(o.side, o.symbol, o.est_value, o.after_sells_fill) for o in again.orders] == [("buy", "NEW", 225.0, True)]
    assert again.cash_analysis.sell_proceeds == 225.0 and not again.cash_analysis.swaps


def test_a_replan_never_proposes_to_swap_out_a_buy_still_at_the_broker():
    # four buys at the broker fill every slot: a much better signal has nothing to swap against
    data = replace(
        inputs([buy("NEW", confidence=0.99)], cash=1000.0),
        at_broker=tuple(sent(s, value=200.0) for s in ("A1", "A2", "A3", "A4")),
    )
    again = plan_of(data)
    assert again.orders == () and again.cash_analysis.swaps == ()
    assert {c.note for c in again.cash_analysis.liquidation} == {"order already at the broker"}


def test_an_order_of_a_plan_json_from_before_est_shares_still_reads():
    """A plan written before orders carried ``why``/``sizing``/``est_shares`` (a --submit of an
    old session recomposes its email from it): the shares come from its value and price."""
    from algotrading.decisions.plan import PlanOrder

    old = PlanOrder("AAA", "buy", 225.0, None, "mean_reversion", "at-x", "entry", "sized", 90.0, 225.0)
    assert old.assumed == "about 2.5 shares at $90.00" and old.why == "" and old.est_shares is None
