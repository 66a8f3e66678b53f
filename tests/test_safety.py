"""The safety controls one by one, their composition by ``size_buys``, and the invariants
of sizing on random accounts. Money is the seed's $1K account unless a test says otherwise:
MAX_POSITION_SIZE $300, 30% of equity, MIN_POSITION_SIZE $50, min trade $50, buffer $100,
MAX_POSITIONS 4."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from algotrading.config import SafetyParams
from algotrading.decisions.safety import (
    ACCEPTED,
    CONTROLS,
    REJECTED,
    RESIZED,
    Buy,
    BuyDecision,
    Candidate,
    PlannedSell,
    Rejection,
    SizingState,
    Step,
    min_trade,
    minimum,
    position_cap,
    size,
    size_buys,
    slots,
    tradable,
    whole_shares,
)
from algotrading.portfolio import Asset, AssetBook, Portfolio, Position

from .helpers import examples
from .planning import SEED_SAFETY

SESSION = dt.date(2025, 12, 31)
SEED = SEED_SAFETY  # tests/planning.py: the seed's $1K limits


def limits(**changes: Any) -> SafetyParams:
    return SEED.model_copy(update=changes)


def held(symbol: str, value: float = 225.0, price: float = 100.0) -> Position:
    return Position(symbol, value / price, price, price, "mean_reversion")


def account(cash: float = 1000.0, positions: Iterable[Position] = ()) -> Portfolio:
    return Portfolio(SESSION, cash, tuple(positions))


def state(
    cash: float = 1000.0,
    positions: Iterable[Position] = (),
    sells: Iterable[PlannedSell] = (),
    candidates: int = 4,
    index: int = 0,
    params: SafetyParams = SEED,
) -> SizingState:
    return SizingState.start(account(cash, positions), list(sells), params, candidates).at(index)


def candidate(symbol: str = "AAA", price: float = 100.0, tradable: bool = True, fractionable: bool = True) -> Candidate:
    return Candidate(symbol, "mean_reversion", 0.8, price, Asset(symbol, tradable, fractionable))


def sized(target: float) -> Buy:
    """A buy as the size control hands it on."""
    return Buy(target=target, amount=target, steps=(Step("size", target, f"${target:,.2f}"),))


def frame(*symbols: str, strategies: Iterable[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": list(symbols),
            "strategy": list(strategies) if strategies is not None else ["mean_reversion"] * len(symbols),
            "score": [0.9 - i / 100 for i in range(len(symbols))],
        }
    )


def run(
    symbols: Iterable[str],
    cash: float = 1000.0,
    prices: dict[str, float] | None = None,
    positions: Iterable[Position] = (),
    sells: Iterable[PlannedSell] = (),
    assets: dict[str, Asset] | None = None,
    params: SafetyParams = SEED,
) -> list[BuyDecision]:
    symbols = list(symbols)
    prices = {s: 100.0 for s in symbols} | dict(prices or {})
    book = AssetBook(dict(assets or {}), default=Asset("*", True, True))
    return size_buys(frame(*symbols), prices, account(cash, positions), list(sells), book, params)


# --- the sizing state ---------------------------------------------------------------


def test_the_state_starts_from_cash_sales_buffer_and_the_positions_kept():
    book = [held("H1"), held("H2"), held("H3")]
    s = state(cash=100.0, positions=book, sells=[PlannedSell("H1", 225.0), PlannedSell("H2", 50.0, False)])
    assert (s.cash, s.proceeds, s.budget, s.cash_only, s.spent) == (100.0, 275.0, 275.0, 0.0, 0.0)
    assert s.open_after == 2  # H1 closes; the partial sale of H2 keeps its slot
    assert (s.equity, s.cap) == (775.0, 232.5)  # 30% of $775
    after = s.bought(225.0)
    assert (after.spent, after.open_after, after.left, after.after_sells_fill) == (225.0, 3, 50.0, True)
    assert state(cash=1000.0).bought(900.0).after_sells_fill is False  # $900 is all cash above the buffer
    assert state(cash=1000.0).bought(900.01).after_sells_fill is False  # a cent over is tolerated
    assert state(cash=1000.0).bought(900.02).after_sells_fill is True


def test_the_controls_run_in_the_documented_order():
    assert [c.__name__ for c in CONTROLS] == ["tradable", "slots", "size", "whole_shares", "minimum", "min_trade"]


# --- tradable -----------------------------------------------------------------------


def test_tradable_passes_a_tradable_symbol_with_a_price_and_records_nothing():
    buy = Buy()
    assert tradable(candidate(price=95.10), state(), buy, SEED) is buy


def test_tradable_rejects_a_symbol_the_broker_does_not_trade():
    assert tradable(candidate("XYZ", tradable=False), state(), Buy(), SEED) == Rejection(
        "tradable", "XYZ is not tradable at the broker", 0.0
    )


@pytest.mark.parametrize("price", [float("nan"), 0.0, -5.0])
def test_tradable_rejects_a_missing_or_non_positive_price(price):
    assert tradable(candidate("AAA", price=price), state(), Buy(), SEED) == Rejection(
        "tradable", "no price for AAA this session"
    )


def test_tradable_reports_the_broker_before_the_price():
    verdict = tradable(candidate("XYZ", price=float("nan"), tradable=False), state(), Buy(), SEED)
    assert isinstance(verdict, Rejection) and verdict.note == "XYZ is not tradable at the broker"


# --- slots --------------------------------------------------------------------------


def test_slots_passes_with_a_free_slot():
    buy = Buy()
    three = [held("H1"), held("H2"), held("H3")]
    assert slots(candidate(), state(positions=three), buy, SEED) is buy


def test_slots_rejects_when_the_plan_already_fills_max_positions():
    four = [held("H1"), held("H2"), held("H3"), held("H4")]
    assert slots(candidate(), state(positions=four), Buy(), SEED) == Rejection(
        "slots", "4 positions after today's plan (MAX_POSITIONS 4)"
    )


def test_slots_counts_a_closing_sale_as_a_free_slot_and_a_partial_one_not():
    four = [held("H1"), held("H2"), held("H3"), held("H4")]
    closing = state(positions=four, sells=[PlannedSell("H4", 225.0)])
    partial = state(positions=four, sells=[PlannedSell("H4", 100.0, closes_position=False)])
    assert isinstance(slots(candidate(), closing, Buy(), SEED), Buy)
    assert isinstance(slots(candidate(), partial, Buy(), SEED), Rejection)
    assert slots(candidate(), state(positions=[held("H1")]), Buy(), limits(max_positions=1)) == Rejection(
        "slots", "1 positions after today's plan (MAX_POSITIONS 1)"
    )


# --- size ---------------------------------------------------------------------------


def test_size_splits_the_money_over_the_buys_still_possible():
    buy = size(candidate(), state(cash=1000.0, candidates=4), Buy(), SEED)
    note = "$900.00 for buys / 4 buy(s) = $225.00 (cap $300.00)"
    assert buy == Buy(target=225.0, amount=225.0, steps=(Step("size", 225.0, note),))


def test_size_takes_what_is_already_spent_and_the_candidates_left_into_account():
    s = state(cash=1000.0, candidates=4).bought(225.0).at(1)
    buy = size(candidate(), s, Buy(), SEED)
    assert isinstance(buy, Buy) and buy.steps == (
        Step("size", 225.0, "$675.00 for buys / 3 buy(s) = $225.00 (cap $300.00)"),
    )


def test_size_caps_the_target_at_max_position_size():
    buy = size(candidate(), state(cash=2000.0, candidates=4), Buy(), SEED)
    note = "the cap $300.00 (MAX_POSITION_SIZE $300.00, 30% of equity $2,000.00; $1,900.00 for buys / 4 buy(s))"
    assert buy == Buy(target=300.0, amount=300.0, steps=(Step("size", 300.0, note),))


def test_size_caps_the_target_at_the_percent_of_equity():
    buy = size(candidate(), state(cash=700.0, candidates=2), Buy(), SEED)
    note = "the cap $210.00 (MAX_POSITION_SIZE $300.00, 30% of equity $700.00; $600.00 for buys / 2 buy(s))"
    assert isinstance(buy, Buy) and (buy.target, buy.steps[-1].note) == (210.0, note)


def test_size_makes_fewer_valid_buys_when_money_is_short():
    # $140 for 4 candidates: only floor($140 / $50) = 2 buys are possible -> $70 each
    buy = size(candidate(), state(cash=240.0, candidates=4), Buy(), SEED)
    assert isinstance(buy, Buy) and buy.steps[-1] == Step(
        "size", 70.0, "$140.00 for buys / 2 buy(s) = $70.00 (cap $72.00)"
    )


def test_size_floors_the_target_to_cents():
    params = limits(max_position_size=500.0, max_position_pct=100.0)
    buy = size(candidate(), state(cash=1100.0, candidates=3, params=params), Buy(), params)
    assert isinstance(buy, Buy) and buy.steps[-1] == Step(
        "size", 333.33, "$1,000.00 for buys / 3 buy(s) = $333.33 (cap $500.00)"
    )


def test_size_counts_the_buys_possible_despite_float_error():
    # $181.20 - $100 is 81.19999999999999 in floats: still two buys at the $40.60 minimum, not one
    params = limits(min_position_size=40.6)
    buy = size(candidate(), state(cash=181.2, params=params), Buy(), params)
    assert isinstance(buy, Buy) and buy.steps[-1] == Step(
        "size", 40.6, "$81.20 for buys / 2 buy(s) = $40.60 (cap $54.36)"
    )


def test_size_rejects_when_the_money_left_is_below_the_minimum_position():
    assert size(candidate(), state(cash=140.0), Buy(), SEED) == Rejection(
        "size",
        "$40.00 left for buys (cash $140.00 + sales $0.00 - buffer $100.00 - buys $0.00) "
        "is below MIN_POSITION_SIZE $50.00",
    )


def test_size_reports_no_money_rather_than_a_negative_amount():
    s = state(cash=60.0, positions=[held("H1")], sells=[PlannedSell("H1", 30.0)])
    verdict = size(candidate(), s, Buy(), SEED)
    assert verdict == Rejection(
        "size",
        "$0.00 left for buys (cash $60.00 + sales $30.00 - buffer $100.00 - buys $0.00) "
        "is below MIN_POSITION_SIZE $50.00",
    )


# --- whole_shares -------------------------------------------------------------------


def test_whole_shares_leaves_a_fractionable_buy_alone():
    buy = sized(225.0)
    assert whole_shares(candidate(price=95.10), state(), buy, SEED) is buy


def test_whole_shares_resizes_down_to_whole_shares():
    buy = whole_shares(candidate(price=95.10, fractionable=False), state(), sized(300.0), SEED)
    assert isinstance(buy, Buy)
    assert (buy.target, buy.amount, buy.qty, buy.decision) == (300.0, 285.3, 3.0, RESIZED)
    assert buy.steps[-1] == Step("whole_shares", 285.3, "resized to 3 whole share(s) x $95.10 = $285.30")
    assert len(buy.steps) == 2


def test_whole_shares_that_fit_the_target_exactly_are_not_a_resize():
    buy = whole_shares(candidate(price=100.0, fractionable=False), state(), sized(300.0), SEED)
    assert isinstance(buy, Buy)
    assert (buy.amount, buy.qty, buy.decision, len(buy.steps)) == (300.0, 3.0, ACCEPTED, 1)


def test_whole_shares_within_a_cent_of_the_target_are_not_a_resize():
    buy = whole_shares(candidate(price=99.997, fractionable=False), state(), sized(300.0), SEED)
    assert isinstance(buy, Buy)
    assert (buy.amount, buy.qty, buy.decision, len(buy.steps)) == (299.99, 3.0, ACCEPTED, 1)


def test_whole_shares_rejects_when_one_share_costs_more_than_the_target():
    verdict = whole_shares(candidate(price=1800.0, fractionable=False), state(), sized(300.0), SEED)
    assert verdict == Rejection("whole_shares", "not fractionable and one share costs $1,800.00 > $300.00", 300.0)


# --- minimum ------------------------------------------------------------------------


def test_minimum_passes_a_buy_at_the_minimum_and_within_its_epsilon():
    for amount in (50.0, 50.0 - 1e-10):
        buy = sized(amount)
        assert minimum(candidate(), state(), buy, SEED) is buy


def test_minimum_rejects_a_buy_below_min_position_size():
    buy = Buy(target=60.0, amount=45.0, qty=1.0, decision=RESIZED)
    assert minimum(candidate(), state(), buy, SEED) == Rejection(
        "minimum", "$45.00 is below MIN_POSITION_SIZE $50.00", 60.0
    )


def test_minimum_says_when_the_cap_made_the_buy_small():
    # equity $150 -> the cap is 30% = $45, below the $50 minimum
    s = state(cash=150.0)
    assert s.cap == 45.0
    assert minimum(candidate(), s, sized(45.0), SEED) == Rejection(
        "minimum", "$45.00 (the cap: 30% of equity $150.00) is below MIN_POSITION_SIZE $50.00", 45.0
    )


def test_minimum_names_the_cap_only_when_the_target_is_within_a_cent_of_it():
    s = state(cash=150.0)  # the cap is $45.00
    one_share = Buy(target=44.99, amount=40.0, qty=1.0, decision=RESIZED)
    assert minimum(candidate(), s, one_share, SEED) == Rejection(
        "minimum", "$40.00 (the cap: 30% of equity $150.00) is below MIN_POSITION_SIZE $50.00", 44.99
    )
    assert minimum(candidate(), s, Buy(target=44.98, amount=40.0), SEED) == Rejection(
        "minimum", "$40.00 is below MIN_POSITION_SIZE $50.00", 44.98
    )


# --- min_trade ----------------------------------------------------------------------


def test_min_trade_passes_a_buy_at_the_minimum_trade():
    buy = sized(75.0)
    assert min_trade(candidate(), state(), buy, limits(min_trade_size=75.0)) is buy


def test_min_trade_rejects_a_buy_below_the_minimum_trade():
    assert min_trade(candidate(), state(), sized(60.0), limits(min_trade_size=75.0)) == Rejection(
        "min_trade", "$60.00 is below the minimum trade $75.00", 60.0
    )
    assert min_trade(candidate(), state(), sized(74.99), limits(min_trade_size=75.0)) == Rejection(
        "min_trade", "$74.99 is below the minimum trade $75.00", 74.99
    )


# --- size_buys: the controls composed ----------------------------------------------


def test_a_fresh_account_buys_four_at_225():
    out = run(["AAA", "BBB", "CCC", "DDD"])
    assert [(d.symbol, d.decision, d.target, d.notional, d.qty) for d in out] == [
        (s, ACCEPTED, 225.0, 225.0, None) for s in ["AAA", "BBB", "CCC", "DDD"]
    ]
    assert [d.reason for d in out] == [
        "buy $225.00: $900.00 for buys / 4 buy(s) = $225.00 (cap $300.00)",
        "buy $225.00: $675.00 for buys / 3 buy(s) = $225.00 (cap $300.00)",
        "buy $225.00: $450.00 for buys / 2 buy(s) = $225.00 (cap $300.00)",
        "buy $225.00: $225.00 for buys / 1 buy(s) = $225.00 (cap $300.00)",
    ]
    assert [d.after_sells_fill for d in out] == [False] * 4
    assert all(len(d.steps) == 1 for d in out)


def test_equity_of_700_caps_each_buy_at_210():
    first, second = run(["AAA", "BBB"], cash=700.0)
    assert (first.notional, second.notional) == (210.0, 210.0)
    assert first.reason == (
        "buy $210.00: the cap $210.00 (MAX_POSITION_SIZE $300.00, 30% of equity $700.00; $600.00 for buys / 2 buy(s))"
    )
    assert second.reason == (
        "buy $210.00: the cap $210.00 (MAX_POSITION_SIZE $300.00, 30% of equity $700.00; $390.00 for buys / 1 buy(s))"
    )


def test_a_95_10_non_fractionable_stock_is_resized_to_3_shares():
    (d,) = run(["WHOLE"], prices={"WHOLE": 95.10}, assets={"WHOLE": Asset("WHOLE", True, False)})
    assert (d.decision, d.target, d.notional, d.qty) == (RESIZED, 300.0, 285.3, 3.0)
    assert d.reason == "resized to 3 whole share(s) x $95.10 = $285.30"
    assert [s.control for s in d.steps] == ["size", "whole_shares"]
    assert d.to_record()["steps"] == (
        "size: the cap $300.00 (MAX_POSITION_SIZE $300.00, 30% of equity $1,000.00; $900.00 for buys / 1 buy(s)) | "
        "whole_shares: resized to 3 whole share(s) x $95.10 = $285.30"
    )


def test_whole_shares_a_cent_short_are_accepted_at_their_own_price():
    (d,) = run(["NEAR"], prices={"NEAR": 99.997}, assets={"NEAR": Asset("NEAR", True, False)})
    assert (d.decision, d.target, d.notional, d.qty) == (ACCEPTED, 300.0, 299.99, 3.0)
    assert d.reason == (
        "buy $299.99: the cap $300.00 (MAX_POSITION_SIZE $300.00, 30% of equity $1,000.00; $900.00 for buys / 1 buy(s))"
    )


def test_an_account_with_140_dollars_is_rejected_by_size():
    (d,) = run(["AAA"], cash=140.0)
    note = (
        "$40.00 left for buys (cash $140.00 + sales $0.00 - buffer $100.00 - buys $0.00) "
        "is below MIN_POSITION_SIZE $50.00"
    )
    assert d == BuyDecision(
        "AAA",
        "mean_reversion",
        0.9,
        100.0,
        0.0,
        0.0,
        None,
        REJECTED,
        f"size: {note}",
        False,
        (Step("size", 0.0, note),),
    )


def test_a_rejected_pricey_stock_leaves_its_money_to_the_next_candidates():
    out = run(["PRICY", "AAA", "BBB"], prices={"PRICY": 1800.0}, assets={"PRICY": Asset("PRICY", True, False)})
    pricy = out[0]
    assert (pricy.decision, pricy.target, pricy.notional, pricy.qty) == (REJECTED, 300.0, 0.0, None)
    assert pricy.reason == "whole_shares: not fractionable and one share costs $1,800.00 > $300.00"
    assert [(s.control, s.amount) for s in pricy.steps] == [("size", 300.0), ("whole_shares", 0.0)]
    assert [(d.symbol, d.notional) for d in out[1:]] == [("AAA", 300.0), ("BBB", 300.0)]


def test_a_buy_paid_by_todays_sale_waits_for_the_sale_to_fill():
    book = [held("H1"), held("H2"), held("H3"), held("WEAK")]
    (d,) = run(["NEW"], cash=100.0, positions=book, sells=[PlannedSell("WEAK", 225.0)])
    assert (d.decision, d.notional, d.after_sells_fill) == (ACCEPTED, 225.0, True)
    assert d.reason == "buy $225.00: $225.00 for buys / 1 buy(s) = $225.00 (cap $300.00)"


def test_the_last_free_slot_goes_to_the_first_candidate():
    out = run(["AAA", "BBB"], cash=2000.0, positions=[held("H1"), held("H2"), held("H3")])
    assert [d.decision for d in out] == [ACCEPTED, REJECTED]
    assert out[1].reason == "slots: 4 positions after today's plan (MAX_POSITIONS 4)"


def test_untradable_and_unpriced_candidates_are_rejected_by_tradable():
    book = AssetBook({"OK": Asset("OK", True, True)})  # no default: unknown symbols are not tradable
    out = size_buys(frame("UNKNOWN", "OK", "NOPRICE"), {"OK": 100.0}, account(), [], book, SEED)
    assert [d.reason for d in out] == [
        "tradable: UNKNOWN is not tradable at the broker",
        "buy $300.00: the cap $300.00 (MAX_POSITION_SIZE $300.00, 30% of equity $1,000.00; "
        "$900.00 for buys / 2 buy(s))",
        "tradable: NOPRICE is not tradable at the broker",
    ]
    (d,) = size_buys(frame("AAA"), {}, account(), [], AssetBook(default=Asset("*", True, True)), SEED)
    assert d.reason == "tradable: no price for AAA this session" and math.isnan(d.price)


def test_a_cap_below_the_minimum_is_rejected_by_minimum():
    (d,) = run(["AAA"], cash=150.0)
    assert d.reason == "minimum: $45.00 (the cap: 30% of equity $150.00) is below MIN_POSITION_SIZE $50.00"
    assert (d.target, [s.control for s in d.steps]) == (45.0, ["size", "minimum"])


def test_small_splits_below_the_minimum_trade_are_rejected_and_the_money_waits():
    out = run(["A", "B", "C", "D"], cash=300.0, params=limits(min_trade_size=75.0))
    assert [(d.decision, d.target, d.notional) for d in out] == [
        (REJECTED, 50.0, 0.0),  # $200 / 4
        (REJECTED, 66.66, 0.0),  # $200 / 3
        (ACCEPTED, 90.0, 90.0),  # $200 / 2, capped at 30% of $300
        (ACCEPTED, 90.0, 90.0),  # $110 / 1, capped
    ]
    assert out[0].reason == "min_trade: $50.00 is below the minimum trade $75.00"
    assert out[1].reason == "min_trade: $66.66 is below the minimum trade $75.00"


# --- invariants on random accounts ---------------------------------------------------

SYMBOLS = [f"S{i}" for i in range(10)]
STRATEGIES = ["golden_cross", "mean_reversion", "dual_momentum", "sector_rotation"]
HELD = [f"H{i}" for i in range(7)]
money = st.floats(0, 3000).map(lambda x: round(x, 2))


@st.composite
def sizing_inputs(draw: st.DrawFn) -> dict[str, Any]:
    min_position = draw(st.floats(10, 120).map(lambda x: round(x, 2)))
    params = limits(
        max_positions=draw(st.integers(1, 6)),
        min_position_size=min_position,
        max_position_size=draw(st.floats(min_position, 700).map(lambda x: round(x, 2))),
        min_cash_buffer=draw(st.floats(0, 300).map(lambda x: round(x, 2))),
        max_position_pct=draw(st.floats(5, 60)),
        min_trade_size=draw(st.floats(1, 150)),
        allocation=draw(st.sampled_from(["equal", "performance"])),
    )
    positions = [
        Position(s, draw(st.floats(0.01, 20.0)), 100.0, draw(st.floats(1.0, 500.0)))
        for s in draw(st.lists(st.sampled_from(HELD), unique=True, max_size=7))
    ]
    sells = [
        PlannedSell(p.symbol, p.market_value, True)
        if draw(st.booleans())
        else PlannedSell(p.symbol, p.market_value / 2, False)
        for p in positions
        if draw(st.booleans())
    ]
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=8))
    price = st.floats(1.0, 2000.0).map(lambda x: round(x, 2)) | st.sampled_from([float("nan"), 0.0])
    prices = {s: draw(price) for s in symbols if draw(st.integers(0, 9))}  # now and then no price
    assets = {s: Asset(s, draw(st.integers(0, 9)) > 0, draw(st.booleans())) for s in symbols}
    strategies = [draw(st.sampled_from(STRATEGIES)) for _ in symbols]
    weights = {k: draw(st.floats(0, 1)) for k in STRATEGIES}
    return dict(
        symbols=symbols,
        strategies=strategies,
        weights=weights,
        prices=prices,
        portfolio=account(draw(money), positions),
        sells=sells,
        assets=AssetBook(assets),
        params=params,
    )


def sized_buys(s: dict[str, Any]) -> list[BuyDecision]:
    table = frame(*s["symbols"], strategies=s["strategies"])
    return size_buys(table, s["prices"], s["portfolio"], s["sells"], s["assets"], s["params"], s["weights"])


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizing_inputs())
def test_sizing_keeps_the_safety_limits(s):
    out = sized_buys(s)
    params: SafetyParams = s["params"]
    portfolio: Portfolio = s["portfolio"]
    cap = position_cap(params, portfolio.equity)
    proceeds = sum(x.proceeds for x in s["sells"])
    closing = {x.symbol for x in s["sells"] if x.closes_position}
    kept = len([p for p in portfolio.positions if p.symbol not in closing])

    assert [d.symbol for d in out] == s["symbols"]  # one decision each, in rank order
    bought = [d for d in out if d.decision != REJECTED]
    for d in bought:
        assert params.min_position_size - 1e-6 <= d.notional <= cap + 1e-6, (d, cap)
        assert d.notional >= params.min_trade_size - 1e-6
        assert d.notional <= d.target + 1e-9
        if s["assets"].get(d.symbol).fractionable:
            assert d.qty is None and d.decision == ACCEPTED and d.notional == d.target
        else:
            assert d.qty is not None and d.qty >= 1 and d.qty == int(d.qty)
            assert d.notional == round(d.qty * d.price, 2)
        expected = d.steps[-1].note if d.decision == RESIZED else f"buy ${d.notional:,.2f}: {d.steps[0].note}"
        assert d.reason == expected
    for d in out:
        if d.decision == REJECTED:
            assert (d.notional, d.qty, d.after_sells_fill) == (0.0, None, False)
            assert d.steps[-1].amount == 0.0 and d.reason == f"{d.steps[-1].control}: {d.steps[-1].note}"
    spent = sum(d.notional for d in bought)
    if bought:
        # the buys never break the cash buffer beyond what the sells bring in
        assert spent <= portfolio.cash + proceeds - params.min_cash_buffer + 1e-6
        cash_only = sum(d.notional for d in bought if not d.after_sells_fill)
        assert cash_only <= max(portfolio.cash - params.min_cash_buffer, 0) + 0.011
        waits = [d.after_sells_fill for d in bought]
        assert waits == sorted(waits)  # once a buy needs the sales, every later one does too
    assert kept + len(bought) <= max(params.max_positions, kept)
    if kept >= params.max_positions:
        assert bought == []


def test_performance_allocation_gives_the_better_strategy_more_dollars():
    # $900 for buys, caps raised to $600 so that the split shows: weights 0.5, 0.3, 0.2
    params = limits(allocation="performance", max_position_size=600.0, max_position_pct=60.0)
    weights = {"golden_cross": 0.5, "mean_reversion": 0.3, "dual_momentum": 0.2}
    table = frame("AAA", "BBB", "CCC", strategies=["golden_cross", "mean_reversion", "dual_momentum"])
    book = AssetBook({}, default=Asset("*", True, True))
    prices = dict.fromkeys(["AAA", "BBB", "CCC"], 100.0)
    out = size_buys(table, prices, account(1000.0), [], book, params, weights)
    # 900 x 0.5 / 1.0 = 450; then 450 x 0.3 / 0.5 = 270; then the 180 left
    assert [d.notional for d in out] == [450.0, 270.0, 180.0]
    assert out[0].reason == (
        "buy $450.00: $900.00 for buys x golden_cross's weight 0.50 / 1.00 "
        "(the weights of the 3 buy(s) still possible) = $450.00 (cap $600.00)"
    )
    equal = size_buys(table, prices, account(1000.0), [], book, limits(max_position_size=600.0, max_position_pct=60.0))
    assert [d.notional for d in equal] == [300.0, 300.0, 300.0]
    # equal weights (or none known) split equally under "performance" too
    same = dict.fromkeys(weights, 0.25)
    assert [d.notional for d in size_buys(table, prices, account(1000.0), [], book, params, same)] == [300.0] * 3
    assert [d.notional for d in size_buys(table, prices, account(1000.0), [], book, params, None)] == [300.0] * 3


def test_performance_allocation_stays_within_the_limits():
    # a weak strategy ranked first is raised to MIN_POSITION_SIZE; the strong one is capped
    params = limits(allocation="performance")
    table = frame("AAA", "BBB", strategies=["mean_reversion", "golden_cross"])
    book = AssetBook({}, default=Asset("*", True, True))
    weights = {"golden_cross": 0.95, "mean_reversion": 0.05}
    out = size_buys(table, {"AAA": 100.0, "BBB": 100.0}, account(1000.0), [], book, params, weights)
    assert [d.notional for d in out] == [50.0, 300.0]  # 900 x 0.05 = 45 -> 50; 850 -> the $300 cap
    assert "= $45.00, raised to MIN_POSITION_SIZE" in out[0].reason
    assert out[1].reason.startswith("buy $300.00: the cap $300.00")


def test_the_random_accounts_reach_every_control():
    """Guards against a vacuous property: each outcome shows up in the generated inputs."""
    quick = settings(max_examples=3000, deadline=None, phases=[Phase.generate], database=None)

    def reaches(cond):
        return find(sizing_inputs(), lambda s: any(cond(d) for d in sized_buys(s)), settings=quick)

    assert reaches(lambda d: d.decision == ACCEPTED)
    assert reaches(lambda d: d.decision == RESIZED)
    assert reaches(lambda d: d.after_sells_fill)
    for control in ("tradable", "slots", "size", "whole_shares", "minimum", "min_trade"):
        assert reaches(lambda d, c=control: d.decision == REJECTED and d.steps[-1].control == c), control
