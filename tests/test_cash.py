"""Unit tests of the cash-depletion rules (``algotrading.decisions.cash``, DESIGN §5):
held scores, the liquidation order, swaps without churn, add-funds and consolidation,
each called directly with hand-made inputs. The whole-plan versions are in
``test_plan_scenarios``.

The parameters are spelled out here (the values of ``params/*.yaml`` today) so that each
expected number can be worked out by hand from them:

* held score = 0.5 x confidence + 0.5 x clip((momentum - 0) / 0.10, 0, 1);
* the swap margin is 0.15, at most 1 swap a session;
* the cap is min($300, 30% of equity); the buffer is $100; 4 slots; dust is below 0.5 x $50 = $25;
* add-funds amounts are rounded up to $50.
"""

from __future__ import annotations

import datetime as dt
import json

import hypothesis.strategies as st
import pandas as pd
import pytest
from hypothesis import given

from algotrading.config import CashParams, RankingParams
from algotrading.decisions.cash import (
    CashAnalysis,
    Consolidation,
    LiquidationCandidate,
    Swap,
    analyze,
    consolidation,
    held_score,
    liquidation_order,
    propose_swaps,
)
from algotrading.decisions.safety import ACCEPTED, REJECTED, RESIZED, BuyDecision, PlannedSell, Step
from algotrading.portfolio import Portfolio, Position

from .planning import SEED_SAFETY

SESSION = dt.date(2025, 12, 31)
SAFETY = SEED_SAFETY  # tests/planning.py: the seed's $1K limits
CASH = CashParams(
    swap_margin=0.15, max_swaps_per_session=1, unknown_confidence=0.5, funds_round_to=50, dust_fraction=0.5
)
RANKING = RankingParams(
    momentum_lookback_days=90,
    min_momentum_threshold=0.0,
    confidence_weight=0.5,
    momentum_weight=0.5,
    max_correlation=0.8,
    momentum_full_score=0.10,
)
# momentum scores: mean_reversion 0.05 / 0.10 = 0.5; golden_cross 0.12 / 0.10 -> clipped to 1; dual_momentum < 0 -> 0
MOMENTUM = pd.Series({"mean_reversion": 0.05, "golden_cross": 0.12, "dual_momentum": -0.02}, dtype="float64")


def cash_params(**changes) -> CashParams:
    return CASH.model_copy(update=changes)


def held(
    symbol: str,
    qty: float = 2.0,
    price: float = 100.0,
    entry: float | None = None,
    strategy: str | None = "mean_reversion",
    confidence: float | None = 0.6,
) -> Position:
    """A holding worth ``qty`` x ``price`` (exact in binary for the values used here)."""
    return Position(symbol, qty, entry if entry is not None else price, price, strategy, None, None, None, confidence)


def book(cash: float, *positions: Position) -> Portfolio:
    return Portfolio(SESSION, cash, tuple(positions))


def ranked(*rows: tuple[str, str, float]) -> pd.DataFrame:
    """The ranking's selected signals, best first: (symbol, strategy, score)."""
    return pd.DataFrame(list(rows), columns=["symbol", "strategy", "score"])


def bought(symbol: str, notional: float, score: float = 0.6, decision: str = ACCEPTED) -> BuyDecision:
    return BuyDecision(
        symbol,
        "mean_reversion",
        score,
        100.0,
        notional,
        notional,
        None,
        decision,
        "sized",
        False,
        (Step("size", notional, "sized"),),
    )


def refused(symbol: str, control: str, score: float = 0.6) -> BuyDecision:
    return BuyDecision(
        symbol,
        "mean_reversion",
        score,
        100.0,
        0.0,
        0.0,
        None,
        REJECTED,
        f"{control}: no",
        False,
        (Step(control, 0.0, "no"),),
    )


def run(selected, buys, portfolio, sells=(), cash=CASH, swaps=None) -> CashAnalysis:
    return analyze(selected, list(buys), portfolio, list(sells), MOMENTUM, SAFETY, cash, RANKING, swaps)


# ----------------------------------------------------------------------------- held score


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (held("A", confidence=0.6), 0.55),  # 0.5 x 0.6 + 0.5 x 0.5
        (held("B", strategy="golden_cross", confidence=0.3), 0.65),  # 0.5 x 0.3 + 0.5 x min(1.2, 1)
        (held("C", strategy="dual_momentum", confidence=0.8), 0.40),  # 0.5 x 0.8 + 0.5 x 0 (negative momentum)
        (held("D", confidence=None), 0.50),  # unknown confidence 0.5: 0.5 x 0.5 + 0.5 x 0.5
        (held("E", strategy=None, confidence=0.9), 0.45),  # no strategy: momentum score 0 -> 0.5 x 0.9
        (held("F", strategy="sector_rotation", confidence=0.9), 0.45),  # strategy without momentum: score 0
    ],
)
def test_held_score_is_what_the_position_signal_would_score_today(position, expected):
    assert held_score(position, MOMENTUM, RANKING, CASH) == pytest.approx(expected, abs=1e-12)


def test_held_score_uses_the_unknown_confidence_parameter():
    # 0.5 x 0.2 + 0.5 x 0.5 = 0.35 (not the 0.50 of the default unknown_confidence)
    score = held_score(held("D", confidence=None), MOMENTUM, RANKING, cash_params(unknown_confidence=0.2))
    assert score == pytest.approx(0.35, abs=1e-12)


# ----------------------------------------------------------------------------- liquidation order

LIQUIDATION_BOOK = book(
    100.0,
    # held score 0.5 x 0.9 + 0.5 x 1 = 0.95, P&L (110 - 100) / 100 = +10%: strong, but the plan sells it
    held("EXIT", price=110.0, entry=100.0, strategy="golden_cross", confidence=0.9),
    # 0.5 x 0.7 + 0 = 0.35, P&L +0%: sold by the plan (a stop), weaker than EXIT so listed before it
    held("STOP", strategy="dual_momentum", confidence=0.7),
    # 0.5 x 0.8 + 0.5 x 1 = 0.90, P&L (70 - 100) / 100 = -30%: the worst P&L, but the strongest holding
    held("STRONG", price=70.0, entry=100.0, strategy="golden_cross", confidence=0.8),
    # 0.5 x 0.1 + 0.5 x 0.5 = 0.30, P&L (105 - 100) / 100 = +5%: the weakest holding
    held("WEAK", price=105.0, entry=100.0, confidence=0.1),
    # both 0.5 x 0.4 + 0.5 x 0.5 = 0.45; P&L (95 - 100) / 100 = -5% and (90 - 100) / 100 = -10%: worst P&L first
    held("TIE_A", price=95.0, entry=100.0, confidence=0.4),
    held("TIE_B", price=90.0, entry=100.0, confidence=0.4),
)


def test_liquidation_order_is_plan_sells_then_weakest_score_then_worst_pnl():
    order = liquidation_order(LIQUIDATION_BOOK, {"EXIT", "STOP"}, MOMENTUM, RANKING, CASH)
    assert [(c.symbol, c.priority) for c in order] == [
        ("STOP", 1),
        ("EXIT", 1),
        ("WEAK", 2),
        ("TIE_B", 2),
        ("TIE_A", 2),
        ("STRONG", 2),
    ]
    assert [c.held_score for c in order] == pytest.approx([0.35, 0.95, 0.30, 0.45, 0.45, 0.90], abs=1e-12)
    assert [c.unrealized_pl_pct for c in order] == pytest.approx([0.0, 0.10, 0.05, -0.10, -0.05, -0.30], abs=1e-12)
    # market value = qty 2 x price
    assert [c.market_value for c in order] == [200.0, 220.0, 210.0, 180.0, 190.0, 140.0]


def test_liquidation_candidates_carry_their_notes():
    order = {c.symbol: c for c in liquidation_order(LIQUIDATION_BOOK, {"EXIT"}, MOMENTUM, RANKING, CASH)}
    # P&L (220 - 200) / 200 = 0.1, held score 0.95 (rounded to 6 places)
    assert order["EXIT"] == LiquidationCandidate("EXIT", "golden_cross", 220.0, 0.1, 0.95, 1, "sold by today's plan")
    assert order["STOP"].priority == 2  # not in the plan's sells this time
    assert order["STOP"].note == "held score 0.350, P&L +0.0%"
    assert order["WEAK"].note == "held score 0.300, P&L +5.0%"
    assert order["TIE_B"].note == "held score 0.450, P&L -10.0%"
    assert order["STRONG"].note == "held score 0.900, P&L -30.0%"


def test_liquidation_ties_on_score_and_pnl_go_by_symbol():
    # both 0.5 x 0.6 + 0.25 = 0.55 and P&L 0%: alphabetical
    order = liquidation_order(book(0.0, held("ZZZ"), held("AAA")), set(), MOMENTUM, RANKING, CASH)
    assert [c.symbol for c in order] == ["AAA", "ZZZ"]


# ----------------------------------------------------------------------------- swaps


def candidates(*scores: tuple[str, float]) -> list[LiquidationCandidate]:
    return [LiquidationCandidate(s, "mean_reversion", 200.0, 0.0, score, 2, "") for s, score in scores]


@pytest.mark.parametrize(
    ("held_at", "new"),
    [
        (0.30, 0.45),  # 0.30 + 0.15 = 0.45 (in floats 0.44999999999999996 <= 0.45)
        (0.25, 0.40),  # 0.25 + 0.15 = 0.40 exactly, in floats too
        (0.55, 0.70),  # 0.55 + 0.15 = 0.70 (in floats 0.7000000000000001 > 0.7: the rule's 1e-9 tolerance counts)
    ],
)
def test_a_swap_is_made_when_the_new_score_beats_the_held_one_by_exactly_the_margin(held_at, new):
    (swap,) = propose_swaps(ranked(("NEW", "golden_cross", new)), candidates(("WEAK", held_at)), CASH)
    assert swap == Swap("WEAK", "mean_reversion", held_at, "NEW", "golden_cross", new, 0.15)


def test_no_swap_just_below_the_margin():
    # 0.449 < 0.30 + 0.15 = 0.45: too small a difference to churn
    assert propose_swaps(ranked(("NEW", "golden_cross", 0.449)), candidates(("WEAK", 0.30)), CASH) == []


def test_the_margin_comes_from_the_params():
    # with a 0.10 margin, 0.449 >= 0.30 + 0.10 = 0.40 does swap, and the swap records 0.10
    (swap,) = propose_swaps(
        ranked(("NEW", "golden_cross", 0.449)), candidates(("WEAK", 0.30)), cash_params(swap_margin=0.10)
    )
    assert (swap.sell_symbol, swap.buy_symbol, swap.margin) == ("WEAK", "NEW", 0.10)


def test_swap_reason_text():
    swap = Swap("WEAK", "mean_reversion", 0.3, "NEW", "golden_cross", 0.6, 0.15)
    assert swap.reason == (
        "swap: sell WEAK (held score 0.300) for NEW (score 0.600), which beats it by at least the 0.15 margin"
    )


def test_swaps_skip_positions_the_plan_already_sells():
    liquidation = [LiquidationCandidate("SOLD", "mean_reversion", 200.0, 0.0, 0.10, 1, "sold by today's plan")]
    liquidation += candidates(("WEAK", 0.30))
    (swap,) = propose_swaps(ranked(("NEW", "golden_cross", 0.60)), liquidation, CASH)
    assert swap.sell_symbol == "WEAK"  # SOLD (0.10, priority 1) already frees its money and slot


def test_swaps_are_limited_per_session():
    unfunded = ranked(("N1", "golden_cross", 0.90), ("N2", "golden_cross", 0.80))
    held_ = candidates(("W1", 0.30), ("W2", 0.40))
    # both pairs beat the margin: 0.90 >= 0.30 + 0.15 and 0.80 >= 0.40 + 0.15; max 1 a session
    assert [(s.sell_symbol, s.buy_symbol) for s in propose_swaps(unfunded, held_, CASH)] == [("W1", "N1")]
    # best unfunded with weakest holding, second best with second weakest
    two = propose_swaps(unfunded, held_, cash_params(max_swaps_per_session=2))
    assert [(s.sell_symbol, s.buy_symbol) for s in two] == [("W1", "N1"), ("W2", "N2")]
    assert propose_swaps(unfunded, held_, cash_params(max_swaps_per_session=0)) == []


def test_swaps_stop_at_the_first_pair_that_misses_the_margin():
    # N1 0.90 >= 0.30 + 0.15 swaps; N2 0.50 < 0.40 + 0.15 = 0.55 does not, and N3 is not tried
    unfunded = ranked(("N1", "golden_cross", 0.90), ("N2", "golden_cross", 0.50), ("N3", "golden_cross", 0.49))
    swaps = propose_swaps(
        unfunded, candidates(("W1", 0.30), ("W2", 0.40), ("W3", 0.05)), cash_params(max_swaps_per_session=3)
    )
    assert [(s.sell_symbol, s.buy_symbol) for s in swaps] == [("W1", "N1")]


# ----------------------------------------------------------------------------- analysis


def test_not_applicable_when_cash_funds_every_signal():
    selected = ranked(("AAA", "mean_reversion", 0.7), ("BBB", "mean_reversion", 0.6))
    a = run(selected, [bought("AAA", 225.0), bought("BBB", 225.0)], book(1000.0))
    # available = $1,000 - $100 buffer = $900; committed $450; $450 left
    assert (a.applicable, a.cash, a.buffer, a.sell_proceeds, a.available, a.committed) == (
        False,
        1000.0,
        100.0,
        0,
        900.0,
        450.0,
    )
    assert (a.unfunded, a.limited_by, a.liquidation, a.swaps, a.recommendation, a.add_funds) == (
        (),
        "none",
        (),
        (),
        "none",
        0.0,
    )
    assert (
        a.message == "Cash covers the plan: $450.00 left to invest after today's buys, and the $100.00 buffer is kept."
    )


def test_rejections_for_the_asset_or_a_resize_are_not_unfunded():
    selected = ranked(("BAD", "mean_reversion", 0.8), ("WHOLE", "mean_reversion", 0.7))
    buys = [refused("BAD", "tradable"), bought("WHOLE", 190.0, decision=RESIZED)]
    a = run(selected, buys, book(400.0))
    # $400 - $100 = $300 available, $190 committed: $110 left
    assert not a.applicable and a.unfunded == () and a.limited_by == "none"
    assert a.message.startswith("Cash covers the plan: $110.00 left to invest")


def test_available_is_cash_plus_sell_proceeds_minus_buffer():
    portfolio = book(120.0, held("OLD", qty=1.0, price=230.0))
    a = run(ranked(("AAA", "mean_reversion", 0.7)), [bought("AAA", 225.0)], portfolio, [PlannedSell("OLD", 230.0)])
    # $120 cash + $230 sale - $100 buffer = $250; $225 committed; $25 left
    assert (a.cash, a.sell_proceeds, a.available, a.committed) == (120.0, 230.0, 250.0, 225.0)
    assert a.message.startswith("Cash covers the plan: $25.00 left to invest after today's buys")


def test_unfunded_signals_are_the_cash_and_slot_rejections_in_rank_order():
    selected = ranked(
        ("S1", "golden_cross", 0.50),
        ("S2", "mean_reversion", 0.45),
        ("S3", "golden_cross", 0.40),
        ("S4", "mean_reversion", 0.35),
    )
    buys = [refused("S3", "slots"), bought("S2", 60.0), refused("S4", "tradable"), refused("S1", "size")]
    strong = held("H", strategy="golden_cross", confidence=0.9)  # 0.45 + 0.5 = 0.95: nothing beats it by 0.15
    a = run(selected, buys, book(300.0, strong))
    assert a.applicable
    assert a.unfunded == ("S1", "S3")  # in the ranking's order, not the buys'; S4 (tradable) is not short of money
    assert a.limited_by == "cash and slots"
    assert a.swaps == ()


def test_add_funds_buys_the_unfunded_signals_at_the_cap():
    # equity = $130 + $400 + $370 = $900 -> cap min($300, 30% x $900 = $270) = $270
    # available $130 - $100 = $30, nothing committed: needed 2 x $270 - $30 = $510 -> rounded up to $550
    portfolio = book(
        130.0,
        held("A", qty=1.0, price=400.0, strategy="golden_cross", confidence=0.9),  # held score 0.95
        held("B", qty=1.0, price=370.0, strategy="golden_cross", confidence=0.8),  # held score 0.90
    )
    selected = ranked(("NEW1", "mean_reversion", 0.60), ("NEW2", "mean_reversion", 0.55))
    a = run(selected, [refused("NEW1", "size", 0.60), refused("NEW2", "size", 0.55)], portfolio)
    assert (a.applicable, a.limited_by, a.unfunded) == (True, "cash", ("NEW1", "NEW2"))
    assert a.swaps == ()  # 0.60 < 0.90 + 0.15
    assert (a.recommendation, a.add_funds) == ("add_funds", 550.0)
    assert a.message == (
        "Add $550 to buy the 2 unfunded signal(s) (NEW1, NEW2) at up to $270.00 each; "
        "no holding is weak enough to swap (margin 0.15)."
    )
    assert [c.symbol for c in a.liquidation] == ["B", "A"]  # weakest first: 0.90 then 0.95


def test_add_funds_counts_what_is_left_after_todays_buys():
    # equity $400 + $500 = $900 -> cap $270; available $300, X takes $270, $30 left
    # needed 1 x $270 - $30 = $240 -> rounded up to $250
    portfolio = book(400.0, held("A", qty=5.0, strategy="golden_cross", confidence=0.9))
    selected = ranked(("X", "mean_reversion", 0.7), ("Y", "mean_reversion", 0.6))
    a = run(selected, [bought("X", 270.0), refused("Y", "size")], portfolio)
    assert (a.available, a.committed, a.unfunded, a.add_funds) == (300.0, 270.0, ("Y",), 250.0)
    assert a.message.startswith("Add $250 to buy the 1 unfunded signal(s) (Y) at up to $270.00 each;")


def test_add_funds_already_a_multiple_of_the_rounding_is_not_rounded_up():
    # equity $150 + $850 = $1,000 -> cap min($300, $300) = $300; available $50: needed $300 - $50 = $250 exactly
    portfolio = book(150.0, held("A", qty=8.5, strategy="golden_cross", confidence=0.9))
    a = run(ranked(("Y", "mean_reversion", 0.6)), [refused("Y", "size")], portfolio)
    assert a.add_funds == 250.0
    # with $100 rounding, $250 -> $300
    hundreds = run(
        ranked(("Y", "mean_reversion", 0.6)), [refused("Y", "size")], portfolio, cash=cash_params(funds_round_to=100)
    )
    assert hundreds.add_funds == 300.0


FULL_BOOK = (
    held("H1", strategy="golden_cross", confidence=0.9),  # 0.45 + 0.5 = 0.95
    held("H2", strategy="golden_cross", confidence=0.8),  # 0.40 + 0.5 = 0.90
    held("H3", confidence=0.8),  # 0.40 + 0.25 = 0.65
    held("WEAK", confidence=0.1),  # 0.05 + 0.25 = 0.30
)


def test_full_slots_without_a_strong_enough_signal_say_consolidate_or_wait():
    # NEW 0.449 < WEAK 0.30 + 0.15
    a = run(ranked(("NEW", "golden_cross", 0.449)), [refused("NEW", "slots", 0.449)], book(100.0, *FULL_BOOK))
    assert (a.applicable, a.limited_by, a.recommendation, a.add_funds, a.swaps) == (
        True,
        "slots",
        "consolidate_or_wait",
        0.0,
        (),
    )
    assert a.message == (
        "All 4 slots are held and NEW does not beat the weakest holding by the 0.15 margin: "
        "wait for an exit, or consolidate small positions."
    )
    two = run(
        ranked(("N1", "golden_cross", 0.40), ("N2", "golden_cross", 0.35)),
        [refused("N1", "slots", 0.40), refused("N2", "slots", 0.35)],
        book(100.0, *FULL_BOOK),
    )
    assert two.message.startswith("All 4 slots are held and N1, N2 do not beat the weakest holding")


def test_full_slots_and_a_strong_signal_swap_out_the_weakest_holding():
    # NEW 0.45 >= WEAK 0.30 + 0.15: swap; N2 0.44 is still unfunded (1 swap a session)
    selected = ranked(("NEW", "golden_cross", 0.45), ("N2", "golden_cross", 0.44))
    a = run(selected, [refused("NEW", "slots", 0.45), refused("N2", "slots", 0.44)], book(100.0, *FULL_BOOK))
    assert a.recommendation == "swap" and a.add_funds == 0.0
    assert a.swaps == (Swap("WEAK", "mean_reversion", 0.30, "NEW", "golden_cross", 0.45, 0.15),)
    assert a.unfunded == ("NEW", "N2")
    assert [c.symbol for c in a.liquidation] == ["WEAK", "H3", "H2", "H1"]  # 0.30, 0.65, 0.90, 0.95
    assert a.message == (
        "swap: sell WEAK (held score 0.300) for NEW (score 0.450), which beats it by at least the 0.15 margin"
        ". Still unfunded: N2."
    )


def test_the_second_pass_with_the_swaps_in_the_plan_stays_a_swap():
    # the plan sells WEAK ($200) and now buys NEW: nothing is unfunded, but the analysis keeps the swap
    swap = Swap("WEAK", "mean_reversion", 0.30, "NEW", "golden_cross", 0.45, 0.15)
    buys, sells = [bought("NEW", 200.0, 0.45)], [PlannedSell("WEAK", 200.0)]
    a = run(ranked(("NEW", "golden_cross", 0.45)), buys, book(100.0, *FULL_BOOK), sells, swaps=[swap])
    assert (a.applicable, a.recommendation, a.swaps, a.unfunded) == (True, "swap", (swap,), ())
    # $100 + $200 - $100 = $200 available, all committed
    assert (a.available, a.committed) == (200.0, 200.0)
    assert [(c.symbol, c.priority) for c in a.liquidation][:2] == [("WEAK", 1), ("H3", 2)]
    assert a.message == swap.reason


def test_the_analysis_survives_json():
    selected = ranked(("NEW", "golden_cross", 0.45), ("N2", "golden_cross", 0.44))
    # $20 of dust, held score 0.5 x 0.1 + 0.25 = 0.30: NEW 0.45 swaps it out
    portfolio = book(100.0, *FULL_BOOK[:3], held("DUST", qty=0.2, confidence=0.1))
    a = run(selected, [refused("NEW", "slots", 0.45), refused("N2", "slots", 0.44)], portfolio)
    assert [s.sell_symbol for s in a.swaps] == ["DUST"]
    doc = json.loads(json.dumps(a.to_json()))
    assert doc["swaps"][0]["reason"] == a.swaps[0].reason
    assert doc["unfunded"] == ["NEW", "N2"] and doc["consolidation"][0]["symbol"] == "DUST"
    assert CashAnalysis.from_json(doc) == a


# ----------------------------------------------------------------------------- consolidation


def test_dust_is_below_half_the_minimum_position():
    # dust below 0.5 x $50 = $25; 3 positions of 4 slots, so small but not dust is fine
    portfolio = book(500.0, held("DUST", qty=1.0, price=24.99), held("EDGE", qty=1.0, price=25.0), held("BIG"))
    assert consolidation(portfolio, set(), SAFETY, CASH) == [
        Consolidation("DUST", 24.99, "dust: $24.99 < 0.5 x MIN_POSITION_SIZE; close it")
    ]


def test_too_many_small_positions_when_every_slot_is_used():
    # 4 positions kept = MAX_POSITIONS: those below $50 hold a slot; smallest first; $50.00 itself is fine
    portfolio = book(
        100.0,
        held("SMALL", qty=1.0, price=40.0),
        held("TINY", qty=1.0, price=10.0),
        held("EDGE", qty=1.0, price=50.0),
        held("BIG"),
    )
    assert consolidation(portfolio, set(), SAFETY, CASH) == [
        Consolidation("TINY", 10.0, "dust: $10.00 < 0.5 x MIN_POSITION_SIZE; close it"),
        Consolidation(
            "SMALL", 40.0, "$40.00 holds one of the 4 slots while below MIN_POSITION_SIZE $50.00; consolidate it"
        ),
    ]
    # once the plan sells BIG, a slot is free: only the dust is left to consolidate
    assert [c.symbol for c in consolidation(portfolio, {"BIG"}, SAFETY, CASH)] == ["TINY"]
    # and a position the plan sells is not listed at all
    assert [c.symbol for c in consolidation(portfolio, {"TINY"}, SAFETY, CASH)] == []


def test_consolidation_is_reported_even_when_cash_covers_the_plan():
    a = run(ranked(), [], book(900.0, held("DUST", qty=0.12, price=100.0)))
    assert not a.applicable
    ((symbol, value, reason),) = [(c.symbol, c.market_value, c.reason) for c in a.consolidation]
    # 0.12 x $100 = $12 < $25
    assert (symbol, value) == ("DUST", 12.0) and reason.startswith("dust: $12.00 < 0.5 x MIN_POSITION_SIZE")


# ----------------------------------------------------------------------------- properties

SYMBOLS = [f"H{i}" for i in range(8)]
STRATEGIES = ["mean_reversion", "golden_cross", "dual_momentum", "sector_rotation", None]


@st.composite
def holdings(draw):
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), unique=True, max_size=8))
    return [
        Position(
            s,
            draw(st.floats(0.01, 20.0)),
            draw(st.floats(1.0, 500.0)),
            draw(st.floats(1.0, 500.0)),
            draw(st.sampled_from(STRATEGIES)),
            None,
            None,
            None,
            draw(st.none() | st.floats(0, 1)),
        )
        for s in symbols
    ]


@given(
    positions=holdings(),
    sold=st.sets(st.sampled_from(SYMBOLS)),
    scores=st.lists(st.floats(0, 1), max_size=6),
    margin=st.floats(0, 1),
    max_swaps=st.integers(0, 10),
)
def test_liquidation_and_swaps_invariants(positions, sold, scores, margin, max_swaps):
    cash = cash_params(swap_margin=margin, max_swaps_per_session=max_swaps)
    order = liquidation_order(book(0.0, *positions), sold, MOMENTUM, RANKING, cash)
    # the candidates are exactly the held positions, each once; the plan's sells first, then weakest first
    assert sorted(c.symbol for c in order) == sorted(p.symbol for p in positions)
    assert [c.priority for c in order] == sorted(c.priority for c in order)
    assert {c.symbol for c in order if c.priority == 1} == sold & {p.symbol for p in positions}
    for a, b in zip(order, order[1:], strict=False):
        if a.priority == b.priority:
            assert (a.held_score, a.unrealized_pl_pct) <= (b.held_score, b.unrealized_pl_pct)

    unfunded = ranked(*((f"N{i}", "golden_cross", s) for i, s in enumerate(sorted(scores, reverse=True))))
    swaps = propose_swaps(unfunded, order, cash)
    assert len(swaps) <= max_swaps
    held_ = {c.symbol: c for c in order if c.priority == 2}
    assert len({s.sell_symbol for s in swaps}) == len(swaps) and len({s.buy_symbol for s in swaps}) == len(swaps)
    for s in swaps:
        assert s.sell_symbol in held_  # never a position the plan already sells, never one not held
        assert s.sell_score == held_[s.sell_symbol].held_score
        assert s.buy_score >= s.sell_score + margin - 1e-6  # never sells to buy a weaker signal (or one within margin)


def test_a_day_without_buys_says_so_instead_of_counting_what_today_s_buys_left():
    a = run(ranked(), [], book(1000.0))
    assert a.message == "No buy today: $900.00 is ready to invest, above the $100.00 buffer."
    refused_only = run(ranked(("BAD", "mean_reversion", 0.8)), [refused("BAD", "tradable")], book(1000.0))
    assert refused_only.message.startswith("No buy today: $900.00 is ready to invest")
