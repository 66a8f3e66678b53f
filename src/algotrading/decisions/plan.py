"""The Next Day Trading Plan (DESIGN §5, §11): from ranked signals, the portfolio, the
safety limits, cash depletion and the risk rules to ordered orders with a reason for
every decision.

Three steps, each a pure function of the session's inputs, run one per notebook by the
daily run (20 ranking, 30 safety, 40 risk) and all at once by :func:`make_plan` (replay):

1. :func:`rank` - the BUY signals ranked (``ranking``);
2. :func:`size` - position exits (stops, targets, holding time, the owning strategy's
   exit), dollar sizes under the safety limits, the cash-depletion analysis and any
   swap it proposes (sized again with the swap's sale);
3. :func:`finalize` - the circuit breaker and the account's risk state decide what may
   be sent; sells first, then buys, as DAY market orders for the next open, each with a
   deterministic ``client_order_id``; every signal gets accepted, resized or rejected
   and the reasons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from algotrading.config import Settings
from algotrading.decisions import cash as cash_mod
from algotrading.decisions.at_broker import SentOrder, counted, replan_note
from algotrading.decisions.cash import CashAnalysis, Swap
from algotrading.decisions.ranking import SELECTED, Ranking, rank_signals
from algotrading.decisions.risk import (
    CircuitBreaker,
    Permissions,
    PositionExit,
    RiskStatus,
    circuit_breaker,
    permissions,
    position_exits,
)
from algotrading.decisions.rows import rows
from algotrading.decisions.safety import (
    ACCEPTED,
    REJECTED,
    RESIZED,
    BuyDecision,
    PlannedSell,
    Step,
    position_cap,
    size_buys,
)
from algotrading.portfolio import AssetBook, Portfolio

SELL_PRIORITY = {"stop": 0, "target": 1, "max_hold": 2, "exit_signal": 3, "swap": 4}


@dataclass(frozen=True)
class PlanInputs:
    """Everything one session's decisions depend on."""

    session: dt.date
    mode: str
    signals: pd.DataFrame  # strategy_run.SIGNAL_COLUMNS
    momentum: pd.Series  # strategy -> momentum
    weights: pd.Series  # strategy -> capital weight
    correlation: pd.DataFrame
    portfolio: Portfolio
    risk: RiskStatus
    close: pd.DataFrame  # wide closes up to the session, benchmark and volatility index included
    assets: AssetBook
    settings: Settings
    max_hold: dict[str, int | None]  # strategy -> maximum holding sessions
    open_orders: tuple[str, ...] = ()  # symbols with an order still open at the broker: no new order today
    account_notes: tuple[str, ...] = ()  # the reconciliation's findings
    previous_orders: tuple[dict[str, Any], ...] = ()  # the fate of the last plan's orders (execution.outcomes)
    ramp_note: str | None = None  # live ramp: why the position limits in ``settings`` are scaled down today
    at_broker: tuple[SentOrder, ...] = ()  # a re-plan: this session's orders already sent (decisions.at_broker)
    #: ``signals``' rows when already made (:func:`~algotrading.decisions.rows.rows`; the
    #: replay's worker makes them beside the table), else None: made here when first asked
    made_signal_rows: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def signal_rows(self) -> list[Any]:
        """``signals`` as named tuples, made once (ranking, sizing and the plan walk them)."""
        if self.made_signal_rows is not None:
            return list(self.made_signal_rows)
        return rows(self.signals)

    @property
    def busy(self) -> set[str]:
        """Symbols that get no new order today: held, with an open order, or already sent."""
        return set(self.portfolio.symbols) | set(self.open_orders) | {o.symbol for o in self.at_broker}


@dataclass(frozen=True)
class Sizing:
    """Step 2's result."""

    exits: tuple[PositionExit, ...]
    swaps: tuple[Swap, ...]
    buys: tuple[BuyDecision, ...]
    cash: CashAnalysis

    def to_json(self) -> dict[str, Any]:
        return {
            "exits": [asdict(e) for e in self.exits],
            "swaps": [asdict(s) for s in self.swaps],
            "buys": [asdict(b) for b in self.buys],
            "cash_analysis": self.cash.to_json(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Sizing:
        def buy(b: dict[str, Any]) -> BuyDecision:
            return BuyDecision(**(b | {"steps": tuple(Step(**s) for s in b["steps"])}))

        return cls(
            exits=tuple(PositionExit(**e) for e in doc["exits"]),
            swaps=tuple(Swap(**s) for s in doc["swaps"]),
            buys=tuple(buy(b) for b in doc["buys"]),
            cash=CashAnalysis.from_json(doc["cash_analysis"]),
        )


@dataclass(frozen=True)
class PlanOrder:
    """One DAY market order for the next open."""

    symbol: str
    side: str  # buy | sell
    notional: float | None  # dollars (fractional buy)
    qty: float | None  # shares (every sell; a whole-share buy)
    strategy: str | None
    client_order_id: str
    kind: str  # entry | stop | target | max_hold | exit_signal | swap
    reason: str
    est_price: float
    est_value: float
    after_sells_fill: bool = False
    stop_price: float | None = None
    target_price: float | None = None
    confidence: float | None = None
    score: float | None = None
    why: str = ""  # the strategy's reason (a buy) or the exit that fired (a sell), with its numbers
    sizing: str = ""  # how the amount was reached
    est_shares: float | None = None  # shares at ``est_price`` (the session's close)

    @property
    def exits_by(self) -> str:
        """What closes a buy without a stop or target."""
        return f"No stop or target: {self.strategy}'s own exit rules decide when it is sold"

    @property
    def assumed(self) -> str:
        """e.g. "about 3.4153 shares at $87.84", the estimate a market order is sized on."""
        est = self.est_shares  # a plan.json from before est_shares existed: from its value
        if est is None:
            est = self.est_value / self.est_price if self.est_price > 0 else 0.0
        shares = f"{est:g}" if self.qty else f"about {est:.4g}"
        return f"{shares} shares at ${self.est_price:,.2f}"


@dataclass(frozen=True)
class Plan:
    session: dt.date
    mode: str
    generated_at: str
    portfolio: Portfolio
    risk: dict[str, Any]
    strategies: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    orders: tuple[PlanOrder, ...]
    top_signals: list[dict[str, Any]]
    cash_analysis: CashAnalysis
    limits: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    reconciliation: list[str] = field(default_factory=list)
    previous_orders: list[dict[str, Any]] = field(default_factory=list)  # "Yesterday's orders"
    at_broker: tuple[SentOrder, ...] = ()  # a re-plan: this session's orders already sent, counted

    @property
    def is_replan(self) -> bool:
        return bool(self.at_broker)

    @property
    def no_orders_reason(self) -> str:
        """Why there is nothing to do tomorrow, in one line."""
        if self.risk["restrictions"]:
            return "; ".join(self.risk["restrictions"])
        eligible = {s["name"] for s in self.strategies if s["eligible"]}
        if not eligible:
            return "no strategy has positive momentum, so none of their signals is considered"
        wanted = [s for s in self.signals if s["action"] == "BUY" and s["strategy"] in eligible]
        if not wanted:
            names = ", ".join(sorted(eligible))
            return f"no BUY signal today from the strategies with positive momentum ({names}), and no exit fired"
        top = wanted[0]
        return (
            f"the {len(wanted)} BUY signal(s) of the strategies with positive momentum were all turned down "
            f"(e.g. {top['symbol']}: {top['reasons'][-1] if top['reasons'] else 'rejected'}), and no exit fired"
        )

    @property
    def buys(self) -> list[PlanOrder]:
        return [o for o in self.orders if o.side == "buy"]

    @property
    def sells(self) -> list[PlanOrder]:
        return [o for o in self.orders if o.side == "sell"]

    def to_json(self) -> dict[str, Any]:
        return {
            "session_date": self.session.isoformat(),
            "mode": self.mode,
            "generated_at": self.generated_at,
            "portfolio": self.portfolio.to_json(),
            "risk": self.risk,
            "strategies": self.strategies,
            "signals": self.signals,
            "orders": [asdict(o) for o in self.orders],
            "top_signals": self.top_signals,
            "cash_analysis": self.cash_analysis.to_json(),
            "consolidation": [asdict(c) for c in self.cash_analysis.consolidation],
            "limits": self.limits,
            "notes": self.notes,
            "broker": {"name": self.portfolio.source, "account": self.portfolio.account},
            "reconciliation": self.reconciliation,
            "previous_orders": self.previous_orders,
            "at_broker": [o.to_json() for o in self.at_broker],
        }


def plan_from_json(doc: dict[str, Any]) -> Plan:
    """Read back what :meth:`Plan.to_json` wrote (the report reads ``plan.json``)."""
    return Plan(
        session=dt.date.fromisoformat(doc["session_date"]),
        mode=doc["mode"],
        generated_at=doc["generated_at"],
        portfolio=Portfolio.from_json(doc["portfolio"]),
        risk=doc["risk"],
        strategies=doc["strategies"],
        signals=doc["signals"],
        orders=tuple(PlanOrder(**o) for o in doc["orders"]),
        top_signals=doc["top_signals"],
        cash_analysis=CashAnalysis.from_json(doc["cash_analysis"]),
        limits=doc["limits"],
        notes=doc.get("notes", []),
        reconciliation=doc.get("reconciliation", []),
        previous_orders=doc.get("previous_orders", []),
        at_broker=tuple(SentOrder.from_json(o) for o in doc.get("at_broker", [])),
    )


def client_order_id(session: dt.date, side: str, symbol: str, strategy: str | None) -> str:
    """Deterministic per session, side, symbol and strategy: a re-run makes the same id,
    which the broker refuses to accept twice (at most 48 characters; Alpaca allows 128)."""
    digest = hashlib.sha1(f"{session}|{side}|{symbol}|{strategy}".encode()).hexdigest()[:10]
    return f"at-{session:%Y%m%d}-{side}-{symbol}-{digest}"


# ----------------------------------------------------------------------------- step 1


def rank(inputs: PlanInputs) -> Ranking:
    s = inputs.settings
    return rank_signals(
        inputs.signal_rows, inputs.momentum, inputs.correlation, inputs.busy, s.ranking, s.safety.max_positions
    )


# ----------------------------------------------------------------------------- step 2


def _sells(
    inputs: PlanInputs, exits: list[PositionExit], swaps: list[Swap], already: list[PlannedSell]
) -> list[PlannedSell]:
    """The plan's sells, after ``already`` (those of the session already at the broker)."""
    symbols = [e.symbol for e in exits] + [w.sell_symbol for w in swaps]
    out = list(already)
    for symbol in symbols:
        position = inputs.portfolio.position(symbol)
        if position is not None:
            out.append(PlannedSell(symbol, position.market_value, True))
    return out


def size(inputs: PlanInputs, ranking: Ranking) -> Sizing:
    s = inputs.settings
    sent = {o.symbol for o in inputs.at_broker}
    sells_signals = [r for r in inputs.signal_rows if r.action == "SELL"]
    exits = [
        e
        for e in position_exits(inputs.portfolio, sells_signals, inputs.max_hold, inputs.session)
        if e.symbol not in set(inputs.open_orders) | sent
    ]
    portfolio, sent_sells = counted(inputs.portfolio, inputs.at_broker)
    prices = last_prices(inputs.close)
    chosen = ranking.selected_rows  # the selected signals' rows, in rank order

    def one_pass(swaps: list[Swap]) -> tuple[list[BuyDecision], CashAnalysis]:
        sells = _sells(inputs, exits, swaps, sent_sells)
        buys = size_buys(chosen, prices, portfolio, sells, inputs.assets, s.safety, inputs.weights)
        analysis = cash_mod.analyze(
            chosen,
            buys,
            portfolio,
            sells,
            inputs.momentum,
            s.safety,
            s.cash,
            s.ranking,
            swaps if swaps else None,
            frozenset(sent),
        )
        return buys, analysis

    buys, analysis = one_pass([])
    swaps = list(analysis.swaps)
    if swaps:
        buys, analysis = one_pass(swaps)
    return Sizing(tuple(exits), tuple(swaps), tuple(buys), analysis)


# ----------------------------------------------------------------------------- step 3


def check_market(inputs: PlanInputs) -> CircuitBreaker:
    s = inputs.settings
    return circuit_breaker(
        inputs.close,
        s.universe.benchmark,
        s.universe.volatility_index,
        s.risk.circuit_breaker,
        s.risk.circuit_breaker_enabled,
    )


def finalize(inputs: PlanInputs, ranking: Ranking, sizing: Sizing, generated_at: str) -> Plan:
    s = inputs.settings
    breaker = check_market(inputs)
    perms = permissions(inputs.risk, breaker)
    session = inputs.session
    notes: list[str] = list(perms.reasons)
    if inputs.at_broker:
        notes.insert(0, replan_note(inputs.at_broker))

    orders: list[PlanOrder] = []
    sold: dict[str, PositionExit | Swap] = {}
    blocked: dict[str, str] = {}
    for e in sorted(sizing.exits, key=lambda e: (SELL_PRIORITY[e.kind], e.symbol)):
        if perms.protective_only and not e.protective:
            blocked[e.symbol] = f"not sold: {e.reason} is not a protective exit during the EMERGENCY STOP"
            continue
        orders.append(_sell_order(inputs, e.symbol, e.strategy, e.kind, e.reason))
        sold[e.symbol] = e
    for w in sizing.swaps:
        if not perms.buys_allowed:
            notes.append(f"swap {w.sell_symbol} -> {w.buy_symbol} not made: new buys are not allowed today")
            continue
        orders.append(_sell_order(inputs, w.sell_symbol, w.sell_strategy, "swap", w.reason))
        sold[w.sell_symbol] = w

    signal_rows = {(r.symbol, r.strategy): r for r in inputs.signal_rows}
    bought: dict[str, BuyDecision] = {}
    for b in sizing.buys:
        if b.decision == REJECTED or not perms.buys_allowed:
            continue
        sig = signal_rows[(b.symbol, b.strategy)]
        why = f"{b.strategy}: {sig.reason}"
        orders.append(
            PlanOrder(
                symbol=b.symbol,
                side="buy",
                notional=None if b.qty else round(b.notional, 2),
                qty=b.qty,
                strategy=b.strategy,
                client_order_id=client_order_id(session, "buy", b.symbol, b.strategy),
                kind="entry",
                reason=f"{why}; {b.reason}",
                est_price=b.price,
                est_value=round(b.notional, 2),
                after_sells_fill=b.after_sells_fill,
                stop_price=_num(sig.stop_price),
                target_price=_num(sig.target_price),
                confidence=float(sig.confidence),
                score=round(b.score, 6),
                why=why,
                sizing=b.reason,
                est_shares=b.qty if b.qty else round(b.notional / b.price, 6) if b.price > 0 else None,
            )
        )
        bought[b.symbol] = b

    momentum, weights = by_name(inputs.momentum), by_name(inputs.weights)
    signals = _signal_decisions(inputs, momentum, ranking, sizing, perms, bought, sold, blocked)
    return Plan(
        session=session,
        mode=inputs.mode,
        generated_at=generated_at,
        portfolio=inputs.portfolio,
        risk=_risk_json(inputs, breaker, perms),
        strategies=[
            {
                "name": n,
                "momentum": _num(momentum[n]),
                "eligible": bool(momentum[n] > s.ranking.min_momentum_threshold),
                "weight": _num(weights.get(n, 0.0)),
            }
            for n in inputs.momentum.index
        ],
        signals=signals,
        orders=tuple(orders),
        top_signals=[_top(r) for r in ranking.rows if r.status == SELECTED],
        cash_analysis=sizing.cash,
        limits=_limits(inputs),
        notes=notes,
        reconciliation=list(inputs.account_notes),
        previous_orders=list(inputs.previous_orders),
        at_broker=inputs.at_broker,
    )


def make_plan(inputs: PlanInputs, generated_at: str) -> Plan:
    """All three steps at once (what the notebooks do one by one)."""
    ranking = rank(inputs)
    return finalize(inputs, ranking, size(inputs, ranking), generated_at)


# ----------------------------------------------------------------------------- helpers


def last_prices(close: pd.DataFrame) -> dict[str, float]:
    """Each symbol's price in the last row of ``close`` (the session), the missing ones
    left out; the row is read as one array (a row of a wide frame made a Series of it)."""
    row = close.to_numpy()[-1]
    return {c: float(v) for c, v in zip(close.columns, row, strict=True) if pd.notna(v)}


def by_name(values: pd.Series) -> Mapping[Any, Any]:
    """``values`` (strategy -> number) as a plain dict, for reading it once per signal:
    ``dict.get`` gives what ``Series.get`` gives for a unique index (as a Python number),
    at a fraction of the cost. With a repeated name, the Series itself (its own lookup)."""
    if not values.index.is_unique:
        return values
    return dict(zip(values.index, values.tolist(), strict=True))


def _num(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _sell_order(inputs: PlanInputs, symbol: str, strategy: str | None, kind: str, reason: str) -> PlanOrder:
    p = inputs.portfolio.position(symbol)
    assert p is not None
    return PlanOrder(
        symbol=symbol,
        side="sell",
        notional=None,
        qty=p.qty,
        strategy=strategy,
        client_order_id=client_order_id(inputs.session, "sell", symbol, strategy),
        kind=kind,
        reason=f"sell the whole position ({p.qty:g} shares): {reason}",
        est_price=p.price,
        est_value=round(p.market_value, 2),
        why=reason,
        sizing=f"the whole position: {p.qty:g} shares x ${p.price:,.2f} = ${p.market_value:,.2f}",
        est_shares=p.qty,
        stop_price=p.stop_price,
        target_price=p.target_price,
    )


def _top(r: Any) -> dict[str, Any]:
    return {
        "rank": int(r.rank),
        "symbol": r.symbol,
        "strategy": r.strategy,
        "confidence": round(r.confidence, 4),
        "momentum": _num(r.momentum),
        "momentum_score": round(r.momentum_score, 4),
        "score": round(r.score, 4),
        "agreeing": r.agreeing,
    }


def _risk_json(inputs: PlanInputs, breaker: CircuitBreaker, perms: Permissions) -> dict[str, Any]:
    p = inputs.portfolio
    return {
        "state": inputs.risk.state.value,
        "since": inputs.risk.since,
        "reason": inputs.risk.reason,
        "drawdown": round(p.drawdown, 6),
        "daily_change": round(p.daily_change, 6) if p.daily_change is not None else None,
        "peak_equity": round(max(p.peak_equity or 0.0, p.equity), 2),
        "circuit_breaker": breaker.to_json(),
        "buys_allowed": perms.buys_allowed,
        "protective_only": perms.protective_only,
        "restrictions": list(perms.reasons),
    }


def _limits(inputs: PlanInputs) -> dict[str, Any]:
    sf, rk = inputs.settings.safety, inputs.settings.risk
    return {
        "portfolio_size": sf.portfolio_size,
        "max_position_size": sf.max_position_size,
        "max_position_pct": sf.max_position_pct,
        "position_cap_today": round(position_cap(sf, inputs.portfolio.equity), 2),
        "min_position_size": sf.min_position_size,
        "min_trade_size": sf.min_trade_size,
        "min_cash_buffer": sf.min_cash_buffer,
        "max_positions": sf.max_positions,
        "max_drawdown_pct": rk.max_drawdown_pct,
        "max_daily_loss_pct": rk.max_daily_loss_pct,
        "min_momentum_threshold": inputs.settings.ranking.min_momentum_threshold,
        "ramp_note": inputs.ramp_note,
    }


def _signal_decisions(
    inputs: PlanInputs,
    momentum: Mapping[Any, Any],
    ranking: Ranking,
    sizing: Sizing,
    perms: Permissions,
    bought: dict[str, BuyDecision],
    sold: dict[str, PositionExit | Swap],
    blocked: dict[str, str],
) -> list[dict[str, Any]]:
    """Every signal of the session with its decision and the reasons; ``momentum`` is
    ``inputs.momentum`` by strategy name (:func:`by_name`, made once by the caller)."""
    ranked = {(r.symbol, r.strategy): r for r in ranking.rows}
    decisions = {b.symbol: b for b in sizing.buys}
    out = []
    for sig in inputs.signal_rows:
        base = {
            "symbol": sig.symbol,
            "strategy": sig.strategy,
            "action": sig.action,
            "confidence": round(float(sig.confidence), 4),
            "momentum": _num(momentum.get(sig.strategy)),
        }
        if sig.action == "BUY":
            r = ranked[(sig.symbol, sig.strategy)]
            base |= {"score": round(float(r.score), 4), "rank": int(r.rank) or None}
            reasons = [r.reason]
            if r.status != SELECTED:
                decision = "rejected"
            elif (b := decisions.get(sig.symbol)) is None or b.strategy != sig.strategy:
                decision, reasons = "rejected", reasons + ["not sized"]
            elif b.decision == REJECTED:
                decision, reasons = "rejected", reasons + [b.reason]
            elif not perms.buys_allowed:
                decision, reasons = (
                    "rejected",
                    reasons + [f"would buy ${b.notional:,.2f}, but new buys are blocked: " + "; ".join(perms.reasons)],
                )
            else:
                decision = RESIZED if b.decision == RESIZED else ACCEPTED
                reasons = (
                    reasons
                    + [b.reason]
                    + (["placed after today's sells fill (needs their proceeds)"] if b.after_sells_fill else [])
                )
            base |= {
                "decision": decision,
                "notional": round(bought[sig.symbol].notional, 2) if sig.symbol in bought else 0.0,
            }
        else:
            position = inputs.portfolio.position(sig.symbol)
            base |= {"score": None, "rank": None, "notional": None}
            if position is None:
                decision, reasons = "rejected", [f"no position in {sig.symbol} to sell"]
            elif sig.symbol in sold:
                decision, reasons = "accepted", [f"sold: {getattr(sold[sig.symbol], 'reason', '')}"]
            elif sig.symbol in blocked:
                decision, reasons = "rejected", [blocked[sig.symbol]]
            else:
                decision, reasons = (
                    "rejected",
                    [
                        f"the position belongs to {position.strategy or 'no known strategy'}; "
                        "its own rules decide when to sell"
                    ],
                )
            base |= {"decision": decision}
        base["reasons"] = [x for x in reasons if x]
        out.append(base)
    return out


__all__ = [
    "Plan",
    "PlanInputs",
    "PlanOrder",
    "Sizing",
    "check_market",
    "client_order_id",
    "finalize",
    "make_plan",
    "rank",
    "size",
]
