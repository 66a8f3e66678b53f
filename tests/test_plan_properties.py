"""Property-based tests of the money rules: thousands of random accounts, signals, prices
and limits, and the invariants every plan must keep."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from algotrading.decisions.plan import make_plan
from algotrading.decisions.risk import RiskState
from algotrading.execution.submit import fit_pending
from algotrading.portfolio import Asset, Position

from .helpers import examples
from .planning import STRATEGIES, base_settings, buy, inputs, sell, with_safety

HELD = [f"H{i}" for i in range(8)]
NEW = [f"S{i}" for i in range(12)]
prices = st.floats(min_value=1.0, max_value=2500.0, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def limits(draw):
    min_position = draw(st.floats(10, 120).map(lambda x: round(x, 2)))
    return dict(
        max_positions=draw(st.integers(1, 6)),
        min_position_size=min_position,
        max_position_size=draw(st.floats(min_position, 700).map(lambda x: round(x, 2))),
        min_cash_buffer=draw(st.floats(0, 300).map(lambda x: round(x, 2))),
        max_position_pct=draw(st.floats(5, 60)),
        min_trade_size=draw(st.floats(1, min_position)),
    )


@st.composite
def positions(draw):
    symbols = draw(st.lists(st.sampled_from(HELD), unique=True, max_size=7))
    out = []
    for s in symbols:
        price = draw(prices)
        entry = draw(prices)
        stop = draw(st.none() | st.floats(0.5, 1.0).map(lambda f, e=entry: round(e * f, 2)))
        target = draw(st.none() | st.floats(1.0, 1.6).map(lambda f, e=entry: round(e * f, 2)))
        out.append(
            Position(
                s,
                draw(st.floats(0.01, 40.0)),
                entry,
                price,
                draw(st.sampled_from(STRATEGIES)),
                None,
                stop,
                target,
                draw(st.none() | st.floats(0, 1)),
            )
        )
    return out


@st.composite
def scenario(draw):
    held = draw(positions())
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(NEW + HELD[:3]), st.sampled_from(STRATEGIES)), unique=True, max_size=10)
    )
    price_of = {p.symbol: p.price for p in held}
    signals = []
    for symbol, strategy in pairs:
        price = price_of.setdefault(symbol, draw(prices))
        signals.append(buy(symbol, strategy, draw(st.floats(0, 1)), price))
    for p in held:
        if draw(st.booleans()):
            signals.append(sell(p.symbol, p.strategy or "golden_cross", p.price))
    symbols = sorted(price_of)
    assets = {s: Asset(s, draw(st.booleans()) or True, draw(st.booleans())) for s in symbols}
    return dict(
        signals=signals,
        positions=held,
        cash=draw(st.floats(0, 3000).map(lambda x: round(x, 2))),
        momentum={s: draw(st.floats(-0.1, 0.25)) for s in STRATEGIES},
        assets=assets,
        risk=draw(st.sampled_from([RiskState.ACTIVE] * 4 + [RiskState.HALTED, RiskState.EMERGENCY_STOP])),
        spy_move=draw(st.sampled_from([0.002, 0.002, 0.002, -0.07])),
        limits=draw(limits()),
    )


def build(s: dict) -> object:
    return inputs(
        s["signals"],
        momentum=s["momentum"],
        positions=s["positions"],
        cash=s["cash"],
        assets=s["assets"],
        risk=s["risk"],
        spy_move=s["spy_move"],
        settings=with_safety(base_settings(), **s["limits"]),
    )


@settings(max_examples=examples(2000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_every_plan_keeps_the_safety_limits(s):
    data = build(s)
    plan = make_plan(data, "t")
    lim = data.settings.safety
    portfolio = data.portfolio
    cap = min(lim.max_position_size, lim.max_position_pct / 100 * portfolio.equity)
    sold = {o.symbol for o in plan.sells}

    for o in plan.orders:
        for value in (o.notional, o.qty, o.est_value, o.est_price):
            assert value is None or (math.isfinite(value) and value >= 0), o
    for o in plan.buys:
        assert o.est_value >= lim.min_position_size - 1e-6, o  # never a buy below the minimum
        assert o.est_value <= cap + 1e-6, (o, cap)  # nor above $ max or % of equity
        assert o.notional is None or o.notional == o.est_value
        assert o.qty is None or (o.qty >= 1 and o.qty == int(o.qty))
    if plan.buys:  # exactly, in decimal: the buffer survives to the cent, no tolerance
        sales = sum((dec(p.market_value) for p in portfolio.positions if p.symbol in sold), Decimal(0))
        buys = sum((dec(o.est_value) for o in plan.buys), Decimal(0))
        assert dec(portfolio.cash) + sales - buys >= dec(lim.min_cash_buffer), (portfolio.cash, sales, buys)
        cash_only = [o for o in plan.buys if not o.after_sells_fill]
        if cash_only:  # the buys sent at the close are paid by today's cash alone
            paid = sum((dec(o.est_value) for o in cash_only), Decimal(0))
            assert dec(portfolio.cash) - paid >= dec(lim.min_cash_buffer), (portfolio.cash, paid)
    kept = len(portfolio.positions) - len(sold)
    assert kept + len(plan.buys) <= max(lim.max_positions, kept)
    if kept >= lim.max_positions:
        assert plan.buys == []
    assert len({o.symbol for o in plan.buys}) == len(plan.buys)
    assert not ({o.symbol for o in plan.buys} & set(portfolio.symbols) - sold)  # never adds to a holding

    if not plan.risk["buys_allowed"]:
        assert plan.buys == []
    if plan.risk["protective_only"]:
        assert all(o.kind == "stop" for o in plan.sells)
    if s["spy_move"] < -0.05:
        assert plan.buys == [] and plan.risk["circuit_breaker"]["tripped"]
    # every signal is decided, with a reason
    assert len(plan.signals) == len(data.signals)
    assert all(d["decision"] in ("accepted", "resized", "rejected") and d["reasons"] for d in plan.signals)
    # orders: sells first, then buys
    sides = [o.side for o in plan.orders]
    assert sides == sorted(sides, key=lambda x: x != "sell")


def dec(x: float) -> Decimal:
    """A float as the decimal it is spelled as (Alpaca's money strings, our cent amounts)."""
    return Decimal(repr(float(x)))


cents_amounts = st.integers(0, 300_000).map(lambda c: c / 100)


@settings(max_examples=examples(3000), deadline=None)
@given(
    buying_power=cents_amounts,
    buffer=cents_amounts,
    wants=st.lists(
        st.one_of(
            st.tuples(st.floats(1, 700).map(lambda x: round(x, 2)), st.none(), st.just(0.0)),  # notional
            st.tuples(st.none(), st.integers(1, 20).map(float), prices),  # whole shares at a price
        ),
        max_size=6,
    ),
)
def test_waiting_buys_never_take_a_cent_of_the_buffer(buying_power, buffer, wants):
    """The morning's waiting buys, resized to the buying power the sells left: what they
    spend never exceeds buying power - MIN_CASH_BUFFER, to the cent, and no buy exceeds
    its plan (``fit_pending`` in the order ``submit_pending`` calls it)."""
    available = buying_power - buffer
    spent = Decimal(0)
    for notional, qty, price in wants:
        planned = notional if notional is not None else qty * price
        amount, sent_notional, sent_qty = fit_pending(planned, qty, price, available)
        if sent_notional is not None:
            assert sent_notional == amount and dec(sent_notional) == dec(sent_notional).quantize(Decimal("0.01"))
            assert dec(sent_notional) <= dec(notional)
            spent += dec(sent_notional)
        else:
            assert sent_qty is not None and sent_qty == int(sent_qty) and 0 <= sent_qty <= qty
            spent += dec(price) * int(sent_qty)
        available -= amount
    assert spent <= max(dec(buying_power) - dec(buffer), Decimal(0)), (spent, buying_power, buffer)


def test_a_resized_waiting_buy_rounds_down_to_the_cent():
    # $125.00999... left: the old nearest-cent rounding sent $125.01, a cent of the buffer
    assert fit_pending(300.0, None, 0.0, 225.0 - 99.990001) == (125.0, 125.0, None)
    assert fit_pending(300.0, None, 0.0, 1000.29 - 100.0) == (300.0, 300.0, None)
    assert fit_pending(300.0, None, 0.0, 280.29 - 100.0) == (180.29, 180.29, None)  # 180.29 * 100 = 18028.999...
    assert fit_pending(3 * 99.99, 3.0, 99.99, 250.0) == (2 * 99.99, None, 2.0)  # whole shares, down


@settings(max_examples=examples(600), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_input_order(s, rnd: random.Random):
    first = make_plan(build(s), "t").to_json()
    shuffled = dict(s)
    shuffled["signals"] = rnd.sample(s["signals"], len(s["signals"]))
    shuffled["positions"] = rnd.sample(s["positions"], len(s["positions"]))
    shuffled["assets"] = dict(rnd.sample(list(s["assets"].items()), len(s["assets"])))
    second = make_plan(build(shuffled), "t").to_json()
    # signal decisions are listed in input order; compare them as sets
    key = lambda d: (d["symbol"], d["strategy"], d["action"])  # noqa: E731
    assert sorted(first.pop("signals"), key=key) == sorted(second.pop("signals"), key=key)
    assert first == second


def test_property_inputs_are_realistic():
    """The generator reaches the interesting branches (guards against a vacuous property)."""
    from hypothesis import Phase, find

    def plan_with(cond):
        quick = settings(max_examples=3000, deadline=None, phases=[Phase.generate], database=None)  # no shrinking
        return find(scenario(), lambda s: cond(make_plan(build(s), "t")), settings=quick)

    assert plan_with(lambda p: len(p.buys) >= 3)
    assert plan_with(lambda p: any(o.qty and o.side == "buy" for o in p.orders))  # whole-share buys
    assert plan_with(lambda p: p.cash_analysis.recommendation == "swap")
    assert plan_with(lambda p: any(o.after_sells_fill for o in p.buys))


SENT = [f"Q{i}" for i in range(4)]


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenario(),
    st.lists(
        st.tuples(st.sampled_from(SENT), st.floats(10, 600).map(lambda x: round(x, 2))),
        unique_by=lambda t: t[0],
        max_size=4,
    ),
)
def test_a_replan_never_spends_the_cash_or_slots_of_the_orders_already_at_the_broker(s, at_broker):
    """A re-plan with this session's buys already at the broker: those buys and the new
    ones together keep the buffer to the cent and fit the slots, and none of their
    symbols is ordered again."""
    from dataclasses import replace

    from algotrading.decisions.at_broker import SentOrder

    sent = tuple(SentOrder(f"at-{sym}", sym, "buy", "accepted", v, None, 50.0) for sym, v in at_broker)
    data = replace(build(s), at_broker=sent)
    plan = make_plan(data, "t")
    lim = data.settings.safety
    portfolio = data.portfolio
    sold = {o.symbol for o in plan.sells}
    assert not ({o.symbol for o in plan.orders} & set(SENT))
    if plan.buys:
        sales = sum((dec(p.market_value) for p in portfolio.positions if p.symbol in sold), Decimal(0))
        spent = sum((dec(o.est_value) for o in plan.buys), Decimal(0)) + sum((dec(o.value) for o in sent), Decimal(0))
        assert dec(portfolio.cash) + sales - spent >= dec(lim.min_cash_buffer), (portfolio.cash, sales, spent)
    kept = len(portfolio.positions) - len(sold) + len(sent)
    assert kept + len(plan.buys) <= max(lim.max_positions, kept)
