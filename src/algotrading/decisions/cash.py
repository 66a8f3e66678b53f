"""Cash-depletion analysis and consolidation (Requirement 2.2, DESIGN §5).

It applies when top-ranked signals could not be bought for lack of cash or of a free
position slot. Then:

* **liquidation candidates** are the holdings in the order they should go: those the
  plan already sells (exit, stop or target) first, then the weakest by held score,
  then the worst unrealised P&L. A held position's score is what its signal would score
  today: ``CONFIDENCE_WEIGHT`` x its entry confidence + ``MOMENTUM_WEIGHT`` x its
  strategy's momentum score now;
* a **swap** (sell the weakest holding, buy the best unfunded signal) is proposed only
  when the new signal's score beats the held one's by ``swap_margin``, at most
  ``max_swaps_per_session`` a day, so small score differences never churn the account;
* otherwise the **recommendation** says whether to add funds (how much, to buy the
  unfunded signals at up to ``MAX_POSITION_SIZE`` each) or, when slots are the limit, to
  consolidate or wait.

Consolidation lists dust positions (worth less than ``dust_fraction`` x
``MIN_POSITION_SIZE``) and, when every slot is used, positions below
``MIN_POSITION_SIZE``: recommendations for a person, not orders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

import pandas as pd

from algotrading.config import CashParams, RankingParams, SafetyParams
from algotrading.decisions.ranking import momentum_score
from algotrading.decisions.rows import rows
from algotrading.decisions.safety import REJECTED, BuyDecision, PlannedSell, position_cap
from algotrading.portfolio import Portfolio, Position

#: Buy rejections that mean "no money" or "no slot" (the others are about the asset).
CASH_CONTROLS = ("size",)
SLOT_CONTROLS = ("slots",)


@dataclass(frozen=True)
class LiquidationCandidate:
    symbol: str
    strategy: str | None
    market_value: float
    unrealized_pl_pct: float
    held_score: float
    priority: int  # 1 = already sold by the plan, 2 = held
    note: str


@dataclass(frozen=True)
class Swap:
    sell_symbol: str
    sell_strategy: str | None
    sell_score: float
    buy_symbol: str
    buy_strategy: str
    buy_score: float
    margin: float

    @property
    def reason(self) -> str:
        return (
            f"swap: sell {self.sell_symbol} (held score {self.sell_score:.3f}) for {self.buy_symbol} "
            f"(score {self.buy_score:.3f}), which beats it by at least the {self.margin:.2f} margin"
        )


@dataclass(frozen=True)
class Consolidation:
    symbol: str
    market_value: float
    reason: str


@dataclass(frozen=True)
class CashAnalysis:
    applicable: bool
    cash: float
    buffer: float
    sell_proceeds: float
    available: float  # cash + proceeds - buffer
    committed: float  # planned buys
    unfunded: tuple[str, ...]  # top signals not bought for lack of cash or slots
    limited_by: str  # "none" | "cash" | "slots" | "cash and slots"
    liquidation: tuple[LiquidationCandidate, ...] = ()
    swaps: tuple[Swap, ...] = ()
    recommendation: str = "none"  # none | swap | add_funds | consolidate_or_wait
    add_funds: float = 0.0
    message: str = ""
    consolidation: tuple[Consolidation, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for key in ("cash", "buffer", "sell_proceeds", "available", "committed", "add_funds"):
            doc[key] = round(doc[key], 2)
        doc["unfunded"] = list(self.unfunded)
        doc["liquidation"] = [asdict(c) for c in self.liquidation]
        doc["swaps"] = [asdict(s) | {"reason": s.reason} for s in self.swaps]
        doc["consolidation"] = [asdict(c) for c in self.consolidation]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CashAnalysis:
        doc = dict(doc)
        doc["unfunded"] = tuple(doc["unfunded"])
        doc["liquidation"] = tuple(LiquidationCandidate(**c) for c in doc["liquidation"])
        doc["swaps"] = tuple(Swap(**{k: v for k, v in s.items() if k != "reason"}) for s in doc["swaps"])
        doc["consolidation"] = tuple(Consolidation(**c) for c in doc["consolidation"])
        return cls(**doc)


class _CashTotals(TypedDict):
    """The fields every ``CashAnalysis`` of a sizing pass shares."""

    cash: float
    buffer: float
    sell_proceeds: float
    available: float
    committed: float
    consolidation: tuple[Consolidation, ...]


def held_score(position: Position, momentum: pd.Series, ranking: RankingParams, cash: CashParams) -> float:
    """What the position's signal would score today (see the module docstring)."""
    confidence = position.entry_confidence if position.entry_confidence is not None else cash.unknown_confidence
    m = float(momentum.get(position.strategy, float("nan"))) if position.strategy else float("nan")
    ms = momentum_score(m, ranking.min_momentum_threshold, ranking.momentum_full_score)
    return ranking.confidence_weight * confidence + ranking.momentum_weight * ms


def liquidation_order(
    portfolio: Portfolio,
    selling: set[str],
    momentum: pd.Series,
    ranking: RankingParams,
    cash: CashParams,
    fixed: frozenset[str] = frozenset(),
) -> list[LiquidationCandidate]:
    """Holdings in the order they should be sold for new opportunities (``fixed``: those
    with an order already at the broker, which are not candidates)."""
    out = []
    for p in portfolio.positions:
        score = held_score(p, momentum, ranking, cash)
        sold = p.symbol in selling or p.symbol in fixed
        note = f"held score {score:.3f}, P&L {p.unrealized_pl_pct:+.1%}"
        if sold:
            note = "order already at the broker" if p.symbol in fixed else "sold by today's plan"
        out.append(
            LiquidationCandidate(
                p.symbol,
                p.strategy,
                round(p.market_value, 2),
                p.unrealized_pl_pct,
                round(score, 6),
                1 if sold else 2,
                note,
            )
        )
    return sorted(out, key=lambda c: (c.priority, c.held_score, c.unrealized_pl_pct, c.symbol))


def propose_swaps(
    unfunded: pd.DataFrame | Sequence[Any], liquidation: list[LiquidationCandidate], cash: CashParams
) -> list[Swap]:
    """Pair the best unfunded signals (a table or its rows, in rank order) with the
    weakest holdings while the margin holds."""
    holdings = [c for c in liquidation if c.priority == 2]
    swaps: list[Swap] = []
    for row, held in zip(rows(unfunded), holdings, strict=False):
        if len(swaps) >= cash.max_swaps_per_session:
            break
        if float(row.score) >= held.held_score + cash.swap_margin - 1e-9:
            swaps.append(
                Swap(
                    held.symbol,
                    held.strategy,
                    held.held_score,
                    row.symbol,
                    row.strategy,
                    round(float(row.score), 6),
                    cash.swap_margin,
                )
            )
        else:
            break  # the next pair is weaker still
    return swaps


def consolidation(
    portfolio: Portfolio, selling: set[str], safety: SafetyParams, cash: CashParams
) -> list[Consolidation]:
    """Dust, and small positions that hold a slot when every slot is used."""
    kept = [p for p in portfolio.positions if p.symbol not in selling]
    full = len(kept) >= safety.max_positions
    out = []
    for p in sorted(kept, key=lambda x: (x.market_value, x.symbol)):
        if p.market_value < cash.dust_fraction * safety.min_position_size:
            out.append(
                Consolidation(
                    p.symbol,
                    round(p.market_value, 2),
                    f"dust: ${p.market_value:,.2f} < {cash.dust_fraction:g} x MIN_POSITION_SIZE; close it",
                )
            )
        elif full and p.market_value < safety.min_position_size:
            out.append(
                Consolidation(
                    p.symbol,
                    round(p.market_value, 2),
                    f"${p.market_value:,.2f} holds one of the {safety.max_positions} slots while below "
                    f"MIN_POSITION_SIZE ${safety.min_position_size:,.2f}; consolidate it",
                )
            )
    return out


def analyze(
    selected: pd.DataFrame | Sequence[Any],
    buys: list[BuyDecision],
    portfolio: Portfolio,
    sells: list[PlannedSell],
    momentum: pd.Series,
    safety: SafetyParams,
    cash: CashParams,
    ranking: RankingParams,
    swaps: list[Swap] | None = None,
    fixed: frozenset[str] = frozenset(),
) -> CashAnalysis:
    """The analysis of one sizing pass. ``selected``: the ranking's selected signals (a
    table, or its rows), in rank order. ``swaps`` are those already put in the plan;
    without them, swaps are proposed here (the plan then sizes again with them).
    ``fixed``: symbols with an order of the session already at the broker, never
    proposed for a swap or consolidation."""
    selling = {s.symbol for s in sells}
    proceeds = sum(s.proceeds for s in sells)
    available = portfolio.cash + proceeds - safety.min_cash_buffer
    committed = sum(b.notional for b in buys)
    cash_short = [b.symbol for b in buys if b.decision == REJECTED and b.steps and b.steps[-1].control in CASH_CONTROLS]
    slot_short = [b.symbol for b in buys if b.decision == REJECTED and b.steps and b.steps[-1].control in SLOT_CONTROLS]
    short = set(cash_short + slot_short)
    unfunded_rows = [r for r in rows(selected) if r.symbol in short]
    limited = " and ".join(x for x, v in (("cash", cash_short), ("slots", slot_short)) if v) or "none"
    dust = consolidation(portfolio, selling | fixed, safety, cash)
    base = _CashTotals(
        cash=portfolio.cash,
        buffer=safety.min_cash_buffer,
        sell_proceeds=proceeds,
        available=available,
        committed=committed,
        consolidation=tuple(dust),
    )
    if not unfunded_rows and not swaps:
        left = available - committed
        return CashAnalysis(
            False,
            unfunded=(),
            limited_by="none",
            message=(
                f"Cash covers the plan: ${max(left, 0):,.2f} left to invest after today's buys, "
                f"and the ${safety.min_cash_buffer:,.2f} buffer is kept."
                if any(b.decision != REJECTED for b in buys)
                else f"No buy today: ${max(left, 0):,.2f} is ready to invest, "
                f"above the ${safety.min_cash_buffer:,.2f} buffer."
            ),
            **base,
        )

    liquidation = liquidation_order(portfolio, selling, momentum, ranking, cash, fixed)
    proposed = list(swaps) if swaps is not None else propose_swaps(unfunded_rows, liquidation, cash)
    swapped_in = {s.buy_symbol for s in proposed}
    still = [r.symbol for r in unfunded_rows if r.symbol not in swapped_in]
    add = 0.0
    if proposed:
        recommendation = "swap"
        message = "; ".join(s.reason for s in proposed)
    elif cash_short:
        cap = position_cap(safety, portfolio.equity)
        needed = len(cash_short) * cap - max(available - committed, 0.0)
        add = math.ceil(max(needed, 0.0) / cash.funds_round_to) * cash.funds_round_to
        recommendation = "add_funds"
        message = (
            f"Add ${add:,.0f} to buy the {len(cash_short)} unfunded signal(s) ({', '.join(cash_short)}) at up to "
            f"${cap:,.2f} each; no holding is weak enough to swap (margin {cash.swap_margin:.2f})."
        )
    else:
        recommendation = "consolidate_or_wait"
        message = (
            f"All {safety.max_positions} slots are held and {', '.join(still)} "
            f"{'does' if len(still) == 1 else 'do'} not beat the weakest holding by the {cash.swap_margin:.2f} margin: "
            "wait for an exit, or consolidate small positions."
        )
    if still and proposed:
        message += f". Still unfunded: {', '.join(still)}."
    return CashAnalysis(
        True,
        unfunded=tuple(r.symbol for r in unfunded_rows),
        limited_by=limited,
        liquidation=tuple(liquidation),
        swaps=tuple(proposed),
        recommendation=recommendation,
        add_funds=add,
        message=message,
        **base,
    )
