"""$1K account safety limits (Requirement 2.1, DESIGN §5): the dollar size of each buy.

Candidates are sized one by one in rank order. Each buy passes these controls, each of
which says what it did:

``tradable``      the broker must allow trading the symbol;
``slots``         open positions after the plan (holdings not being sold + buys) stay
                  <= ``MAX_POSITIONS``;
``size``          the target is the money left for buys divided by the buys still
                  possible, capped at ``MAX_POSITION_SIZE`` and ``max_position_pct`` of
                  current equity. Money for buys = cash + proceeds of the plan's sells -
                  ``MIN_CASH_BUFFER``; buys still possible = min(free slots, candidates
                  left, money / ``MIN_POSITION_SIZE``), so small accounts make fewer,
                  valid buys instead of many too-small ones;
``whole_shares``  a non-fractionable asset is bought in whole shares (rounded down);
                  one share above the target means no buy;
``minimum``       a buy below ``MIN_POSITION_SIZE`` is rejected;
``min_trade``     no order below ``min_trade_size`` (closing a whole position is the only
                  exception, and that is a sell).

A buy that needs the proceeds of today's sells is marked ``after_sells_fill``: the
broker checks buying power when an order arrives, so it waits for the sells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from algotrading.config import SafetyParams
from algotrading.portfolio import AssetBook, Portfolio

ACCEPTED, RESIZED, REJECTED = "accepted", "resized", "rejected"
CENT = 0.01


@dataclass(frozen=True)
class Step:
    """What one control did to a buy."""

    control: str
    amount: float  # dollars after this control (0 = rejected)
    note: str


@dataclass(frozen=True)
class BuyDecision:
    """The safety verdict on one ranked candidate."""

    symbol: str
    strategy: str
    score: float
    price: float
    target: float  # the size rule's amount, before share rounding
    notional: float  # dollars to buy (0 when rejected)
    qty: float | None  # whole shares for a non-fractionable asset, else None (notional order)
    decision: str  # accepted | resized | rejected
    reason: str
    after_sells_fill: bool
    steps: tuple[Step, ...] = field(default=())

    def to_record(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "strategy": self.strategy,
            "score": self.score,
            "price": self.price,
            "target": self.target,
            "notional": self.notional,
            "qty": self.qty,
            "decision": self.decision,
            "reason": self.reason,
            "after_sells_fill": self.after_sells_fill,
            "steps": " | ".join(f"{s.control}: {s.note}" for s in self.steps),
        }


@dataclass(frozen=True)
class PlannedSell:
    """A sell already in the plan: what it frees (a slot when it closes the position)."""

    symbol: str
    proceeds: float
    closes_position: bool = True


def position_cap(params: SafetyParams, equity: float) -> float:
    """The largest single buy: ``MAX_POSITION_SIZE`` or ``max_position_pct`` of equity."""
    return max(0.0, min(params.max_position_size, params.max_position_pct / 100 * equity))


def _cents(x: float) -> float:
    return math.floor(x * 100 + 1e-6) / 100


def size_buys(
    candidates: pd.DataFrame,
    prices: dict[str, float],
    portfolio: Portfolio,
    sells: list[PlannedSell],
    assets: AssetBook,
    params: SafetyParams,
) -> list[BuyDecision]:
    """Size ``candidates`` (rows with ``symbol``, ``strategy``, ``score``, in rank order)."""
    equity = portfolio.equity
    cap = _cents(position_cap(params, equity))
    proceeds = sum(s.proceeds for s in sells)
    closing = {s.symbol for s in sells if s.closes_position}
    open_after = len([p for p in portfolio.positions if p.symbol not in closing])
    budget = portfolio.cash + proceeds - params.min_cash_buffer
    cash_only = max(0.0, portfolio.cash - params.min_cash_buffer)
    spent = 0.0
    out: list[BuyDecision] = []
    rows = list(candidates.itertuples())
    for k, c in enumerate(rows):
        price = float(prices.get(c.symbol, float("nan")))
        steps: list[Step] = []

        def reject(control: str, note: str, target: float = 0.0) -> BuyDecision:
            steps.append(Step(control, 0.0, note))
            return BuyDecision(
                c.symbol,
                c.strategy,
                float(c.score),
                price,
                target,
                0.0,
                None,
                REJECTED,
                f"{control}: {note}",
                False,
                tuple(steps),
            )

        asset = assets.get(c.symbol)
        if not asset.tradable:
            out.append(reject("tradable", f"{c.symbol} is not tradable at the broker"))
            continue
        if not price > 0:
            out.append(reject("tradable", f"no price for {c.symbol} this session"))
            continue
        if open_after >= params.max_positions:
            out.append(
                reject("slots", f"{open_after} positions after today's plan (MAX_POSITIONS {params.max_positions})")
            )
            continue
        left = budget - spent
        possible = min(
            params.max_positions - open_after, len(rows) - k, math.floor(left / params.min_position_size + 1e-9)
        )
        if possible < 1:
            out.append(
                reject(
                    "size",
                    f"${max(left, 0):,.2f} left for buys (cash ${portfolio.cash:,.2f} + sales ${proceeds:,.2f} - buffer "
                    f"${params.min_cash_buffer:,.2f} - buys ${spent:,.2f}) is below MIN_POSITION_SIZE ${params.min_position_size:,.2f}",
                )
            )
            continue
        target = _cents(min(cap, left / possible))
        split = f"${left:,.2f} for buys / {possible} buy(s)"
        steps.append(
            Step(
                "size",
                target,
                (
                    f"{split} = ${target:,.2f} (cap ${cap:,.2f})"
                    if target < cap
                    else f"the cap ${cap:,.2f} (MAX_POSITION_SIZE ${params.max_position_size:,.2f}, {params.max_position_pct:g}% of "
                    f"equity ${equity:,.2f}; {split})"
                ),
            )
        )
        amount, qty, decision = target, None, ACCEPTED
        if not asset.fractionable:
            qty = float(math.floor(target / price + 1e-9))
            if qty < 1:
                out.append(
                    reject(
                        "whole_shares", f"not fractionable and one share costs ${price:,.2f} > ${target:,.2f}", target
                    )
                )
                continue
            amount = round(qty * price, 2)
            if amount < target - CENT:
                decision = RESIZED
                steps.append(
                    Step("whole_shares", amount, f"resized to {qty:g} whole share(s) x ${price:,.2f} = ${amount:,.2f}")
                )
        if amount < params.min_position_size - 1e-9:
            why = f" (the cap: {params.max_position_pct:g}% of equity ${equity:,.2f})" if target >= cap - CENT else ""
            out.append(
                reject(
                    "minimum",
                    f"${amount:,.2f}{why} is below MIN_POSITION_SIZE ${params.min_position_size:,.2f}",
                    target,
                )
            )
            continue
        if amount < params.min_trade_size - 1e-9:
            out.append(
                reject("min_trade", f"${amount:,.2f} is below the minimum trade ${params.min_trade_size:,.2f}", target)
            )
            continue
        spent += amount
        open_after += 1
        after_sells = spent > cash_only + CENT
        reason = steps[-1].note if decision == RESIZED else f"buy ${amount:,.2f}: {steps[0].note}"
        out.append(
            BuyDecision(
                c.symbol,
                c.strategy,
                float(c.score),
                price,
                target,
                amount,
                qty,
                decision,
                reason,
                after_sells,
                tuple(steps),
            )
        )
    return out
