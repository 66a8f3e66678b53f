"""$1K account safety limits (Requirement 2.1, DESIGN §5): the dollar size of each buy.

Candidates are sized one by one in rank order. :func:`size_buys` passes each buy through
``CONTROLS``, six small functions applied in this order; each one either hands the buy on
(a :class:`Buy`, with the :class:`Step` it recorded, if any) or refuses it (a
:class:`Rejection`), and the first refusal ends that candidate:

:func:`tradable`      the broker must allow trading the symbol, and the session must have
                      a price for it;
:func:`slots`         open positions after the plan (holdings not being sold + buys) stay
                      <= ``MAX_POSITIONS``;
:func:`size`          the target is the buy's share of the money left for buys, capped at
                      ``MAX_POSITION_SIZE`` and ``max_position_pct`` of current equity.
                      Money for buys = cash + proceeds of the plan's sells -
                      ``MIN_CASH_BUFFER``; buys still possible = min(free slots, candidates
                      left, money / ``MIN_POSITION_SIZE``), so small accounts make fewer,
                      valid buys instead of many too-small ones. The share is 1 / buys
                      still possible (``allocation: equal``), or (``performance``, seed 3.2)
                      the buy's strategy weight over the weights of the buys still possible
                      (this one and the next ones in rank order), at least
                      ``MIN_POSITION_SIZE``: better strategies get more dollars;
:func:`whole_shares`  a non-fractionable asset is bought in whole shares (rounded down);
                      one share above the target means no buy;
:func:`minimum`       a buy below ``MIN_POSITION_SIZE`` is rejected;
:func:`min_trade`     no order below ``min_trade_size`` (closing a whole position is the only
                      exception, and that is a sell).

Every control has the signature ``(candidate, state, buy, params) -> Buy | Rejection``:
``candidate`` is the symbol with its price and broker facts (:class:`Candidate`), ``state``
the running :class:`SizingState` (money for buys, money already spent, open positions,
the cap, ...), which only an accepted buy advances.

A buy that needs the proceeds of today's sells is marked ``after_sells_fill``: the
broker checks buying power when an order arrives, so it waits for the sells.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from algotrading.config import SafetyParams
from algotrading.decisions.rows import rows as table_rows
from algotrading.portfolio import Asset, AssetBook, Portfolio, cents_down

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


@dataclass(frozen=True)
class Candidate:
    """One ranked candidate as the controls see it: the session's price (NaN when there is
    none) and what the broker says about the symbol."""

    symbol: str
    strategy: str
    score: float
    price: float
    asset: Asset


@dataclass(frozen=True)
class SizingState:
    """The running state of one sizing pass, before candidate number ``index`` (0-based)
    of ``candidates``: every money field is in dollars."""

    cash: float  # the account's cash
    proceeds: float  # what the plan's sells bring in
    budget: float  # money for buys: cash + proceeds - MIN_CASH_BUFFER (may be negative)
    cash_only: float  # money for buys without the sells' proceeds, >= 0
    spent: float  # already given to accepted buys
    open_after: int  # open positions after the plan so far (kept holdings + accepted buys)
    cap: float  # the largest single buy, floored to cents
    equity: float  # the account's equity, which the cap is a percent of
    candidates: int  # how many candidates this pass sizes
    index: int = 0  # the candidate being sized
    weights: tuple[float, ...] = ()  # each candidate's strategy weight (performance allocation), else ()

    @classmethod
    def start(
        cls,
        portfolio: Portfolio,
        sells: list[PlannedSell],
        params: SafetyParams,
        candidates: int,
        weights: tuple[float, ...] = (),
    ) -> SizingState:
        """The state before the first candidate: sells that close a position free its slot."""
        equity = portfolio.equity
        proceeds = sum(s.proceeds for s in sells)
        closing = {s.symbol for s in sells if s.closes_position}
        return cls(
            cash=portfolio.cash,
            proceeds=proceeds,
            budget=portfolio.cash + proceeds - params.min_cash_buffer,
            cash_only=max(0.0, portfolio.cash - params.min_cash_buffer),
            spent=0.0,
            open_after=len([p for p in portfolio.positions if p.symbol not in closing]),
            cap=cents_down(position_cap(params, equity)),
            equity=equity,
            candidates=candidates,
            weights=weights,
        )

    @property
    def left(self) -> float:
        """Money for buys not yet spent (negative when the buffer is already short)."""
        return self.budget - self.spent

    def at(self, index: int) -> SizingState:
        return replace(self, index=index)

    def bought(self, amount: float) -> SizingState:
        """The state after an accepted buy of ``amount`` dollars: one more open position."""
        return replace(self, spent=self.spent + amount, open_after=self.open_after + 1)

    @property
    def after_sells_fill(self) -> bool:
        """Whether what is spent so far needs the proceeds of today's sells."""
        return self.spent > self.cash_only + CENT


@dataclass(frozen=True)
class Buy:
    """A buy on its way through the controls."""

    target: float = 0.0  # the size rule's amount, before share rounding
    amount: float = 0.0  # dollars to buy
    qty: float | None = None  # whole shares for a non-fractionable asset
    decision: str = ACCEPTED  # accepted | resized
    steps: tuple[Step, ...] = ()  # what the controls recorded, in order


@dataclass(frozen=True)
class Rejection:
    """A control's refusal of a buy: no order."""

    control: str
    note: str
    target: float = 0.0  # the size rule's amount when the refusal came after it


Control = Callable[[Candidate, SizingState, Buy, SafetyParams], Buy | Rejection]


def tradable(candidate: Candidate, state: SizingState, buy: Buy, params: SafetyParams) -> Buy | Rejection:
    """The broker must allow trading the symbol, and the session must have a price for it."""
    if not candidate.asset.tradable:
        return Rejection("tradable", f"{candidate.symbol} is not tradable at the broker")
    if not candidate.price > 0:
        return Rejection("tradable", f"no price for {candidate.symbol} this session")
    return buy


def slots(candidate: Candidate, state: SizingState, buy: Buy, params: SafetyParams) -> Buy | Rejection:
    """A free slot: the open positions after the plan must stay below ``MAX_POSITIONS``."""
    if state.open_after >= params.max_positions:
        return Rejection(
            "slots", f"{state.open_after} positions after today's plan (MAX_POSITIONS {params.max_positions})"
        )
    return buy


def size(candidate: Candidate, state: SizingState, buy: Buy, params: SafetyParams) -> Buy | Rejection:
    """The target: the buy's share of the money left for buys (:func:`share`), floored to
    cents and capped at ``state.cap``; no buy when the money left is below
    ``MIN_POSITION_SIZE``."""
    left = state.left
    possible = min(
        params.max_positions - state.open_after,
        state.candidates - state.index,
        math.floor(left / params.min_position_size + 1e-9),
    )
    if possible < 1:
        return Rejection(
            "size",
            f"${max(left, 0):,.2f} left for buys (cash ${state.cash:,.2f} + sales ${state.proceeds:,.2f} - buffer "
            f"${params.min_cash_buffer:,.2f} - buys ${state.spent:,.2f}) is below MIN_POSITION_SIZE "
            f"${params.min_position_size:,.2f}",
        )
    cap = state.cap
    amount, split = share(candidate, state, possible, params)
    target = cents_down(min(cap, amount))
    note = (
        f"{split} = ${target:,.2f} (cap ${cap:,.2f})"
        if target < cap
        else f"the cap ${cap:,.2f} (MAX_POSITION_SIZE ${params.max_position_size:,.2f}, "
        f"{params.max_position_pct:g}% of equity ${state.equity:,.2f}; {split})"
    )
    return replace(buy, target=target, amount=target, steps=(*buy.steps, Step("size", target, note)))


def share(candidate: Candidate, state: SizingState, possible: int, params: SafetyParams) -> tuple[float, str]:
    """This buy's dollars before the cap, and the sizing line that says how.

    Equal: the money left over the buys still possible. Performance: the money left x this
    buy's strategy weight / the weights of the ``possible`` buys from this one on (with
    equal weights, the equal split), raised to ``MIN_POSITION_SIZE`` when the weight
    gives less (``possible`` guarantees that much is left)."""
    left = state.left
    ahead = state.weights[state.index : state.index + possible]
    total = sum(ahead)
    if not ahead or not total > 0:
        return left / possible, f"${left:,.2f} for buys / {possible} buy(s)"
    amount = left * ahead[0] / total
    line = (
        f"${left:,.2f} for buys x {candidate.strategy}'s weight {ahead[0]:.2f} / {total:.2f} "
        f"(the weights of the {possible} buy(s) still possible)"
    )
    if amount < params.min_position_size:
        return params.min_position_size, f"{line} = ${amount:,.2f}, raised to MIN_POSITION_SIZE"
    return amount, line


def whole_shares(candidate: Candidate, state: SizingState, buy: Buy, params: SafetyParams) -> Buy | Rejection:
    """A non-fractionable asset is bought in whole shares, rounded down: none when one share
    costs more than the target, and a resize step when the shares come a cent or more short."""
    if candidate.asset.fractionable:
        return buy
    price, target = candidate.price, buy.target
    qty = float(math.floor(target / price + 1e-9))
    if qty < 1:
        return Rejection("whole_shares", f"not fractionable and one share costs ${price:,.2f} > ${target:,.2f}", target)
    amount = round(qty * price, 2)
    if amount < target - CENT:
        note = f"resized to {qty:g} whole share(s) x ${price:,.2f} = ${amount:,.2f}"
        return replace(
            buy, amount=amount, qty=qty, decision=RESIZED, steps=(*buy.steps, Step("whole_shares", amount, note))
        )
    return replace(buy, amount=amount, qty=qty)


def minimum(candidate: Candidate, state: SizingState, buy: Buy, params: SafetyParams) -> Buy | Rejection:
    """No buy below ``MIN_POSITION_SIZE`` (the note says when the cap is what made it small)."""
    amount, target = buy.amount, buy.target
    if amount < params.min_position_size - 1e-9:
        capped = target >= state.cap - CENT
        why = f" (the cap: {params.max_position_pct:g}% of equity ${state.equity:,.2f})" if capped else ""
        return Rejection(
            "minimum", f"${amount:,.2f}{why} is below MIN_POSITION_SIZE ${params.min_position_size:,.2f}", target
        )
    return buy


def min_trade(candidate: Candidate, state: SizingState, buy: Buy, params: SafetyParams) -> Buy | Rejection:
    """No order below ``min_trade_size``."""
    if buy.amount < params.min_trade_size - 1e-9:
        return Rejection(
            "min_trade", f"${buy.amount:,.2f} is below the minimum trade ${params.min_trade_size:,.2f}", buy.target
        )
    return buy


CONTROLS: tuple[Control, ...] = (tradable, slots, size, whole_shares, minimum, min_trade)


def _decide(candidate: Candidate, state: SizingState, params: SafetyParams) -> BuyDecision:
    """Apply ``CONTROLS`` in order to one candidate; the first refusal ends it."""
    buy = Buy()
    for control in CONTROLS:
        verdict = control(candidate, state, buy, params)
        if isinstance(verdict, Rejection):
            return BuyDecision(
                candidate.symbol,
                candidate.strategy,
                candidate.score,
                candidate.price,
                verdict.target,
                0.0,
                None,
                REJECTED,
                f"{verdict.control}: {verdict.note}",
                False,
                (*buy.steps, Step(verdict.control, 0.0, verdict.note)),
            )
        buy = verdict
    reason = buy.steps[-1].note if buy.decision == RESIZED else f"buy ${buy.amount:,.2f}: {buy.steps[0].note}"
    return BuyDecision(
        candidate.symbol,
        candidate.strategy,
        candidate.score,
        candidate.price,
        buy.target,
        buy.amount,
        buy.qty,
        buy.decision,
        reason,
        state.bought(buy.amount).after_sells_fill,
        buy.steps,
    )


def size_buys(
    candidates: pd.DataFrame | Sequence[Any],
    prices: dict[str, float],
    portfolio: Portfolio,
    sells: list[PlannedSell],
    assets: AssetBook,
    params: SafetyParams,
    weights: Mapping[str, float] | None = None,
) -> list[BuyDecision]:
    """Size ``candidates`` (a table or its rows, with ``symbol``, ``strategy``, ``score``, in rank order):
    one :class:`BuyDecision` each, in the same order; an accepted buy spends its money and
    takes a slot before the next candidate is sized. ``weights``: each strategy's capital
    weight, used when ``params.allocation`` is "performance" (none known: equal split)."""
    rows = table_rows(candidates)
    by_weight: tuple[float, ...] = ()
    if params.allocation == "performance" and weights is not None:
        by_weight = tuple(max(0.0, float(weights.get(r.strategy, 0.0) or 0.0)) for r in rows)
    state = SizingState.start(portfolio, sells, params, len(rows), by_weight)
    out: list[BuyDecision] = []
    for k, row in enumerate(rows):
        price = float(prices.get(row.symbol, float("nan")))
        candidate = Candidate(row.symbol, row.strategy, float(row.score), price, assets.get(row.symbol))
        state = state.at(k)
        decision = _decide(candidate, state, params)
        if decision.decision != REJECTED:
            state = state.bought(decision.notional)
        out.append(decision)
    return out
