"""A paper twin beside a live account (issue 18 point 2): what live trading costs
against paper.

A paper account of ``params/accounts.yaml`` declared ``twin_of: <live account>`` gets the
same signals as the live one (the run's shared strategies step). This module compares the
two from their own state, read only (the twin's ledger is opened in SQLite's read-only
mode; the live account's own store is only read): the orders each side's plans made and
their fate, the fills, the slippage of the live fills against the paper ones, and the
drift of the two accounts' equity.

The sizes may differ (the live ramp, or other limits in the file), so nothing is compared
in dollars of position: fills per share (slippage in $ per share and basis points of the
paper price; its total in $ for the live quantity), equity as each account's return since
the first session both recorded.

What the comparison written on the evening of session D covers (the twin runs right
before its live account, see :meth:`~algotrading.daily.accounts.AccountsFile.run_order`):

- the plan for the next open: both plans of D side by side (the live orders go out after
  the report, so only the amounts are compared);
- the fills: the orders of every earlier plan since the pair started, as both accounts'
  ledgers have them after that evening's reconcile (the fills at D's open and the morning
  ``--pending`` buys included);
- the equity of every session since the pair started, through D.

Nothing missing is dropped: a twin without state, a session one side did not run, an order
in one plan only, an order filled on one side only: each is a row or a note saying so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from algotrading.daily import artifacts
from algotrading.decisions.plan import Plan, PlanOrder
from algotrading.execution.outcomes import QTY_EPS, fate_of, planned_words
from algotrading.storage.store import FILE_NAME, Store, StoreError, open_store


@dataclass(frozen=True)
class Twin:
    """A live account's paper twin: its name and where it keeps its state and reports."""

    live: str  # the live account's name
    name: str  # the paper twin's name
    state_dir: Path
    reports_dir: Path


@dataclass(frozen=True)
class Side:
    """One account's part of an order: what its plan asked for and what became of it."""

    planned: str | None  # "$225.00", "3 shares"; None: not in this account's plan
    fate: str  # an order fate (execution.outcomes), or planned | not_planned | no_plan | not_sent
    filled_qty: float
    avg_price: float | None
    detail: str  # the fate in words

    @property
    def filled(self) -> bool:
        return self.filled_qty > QTY_EPS and self.avg_price is not None


@dataclass(frozen=True)
class OrderPair:
    """One order of one session's plans (a symbol and side), on both accounts. The
    slippage is the live fill's cost against the paper fill: per share (positive: live
    paid more for a buy, or got less for a sell), in basis points of the paper price, and
    in dollars for the live quantity; None unless both sides filled."""

    session: str
    symbol: str
    side: str  # buy | sell
    live: Side
    paper: Side
    slippage_per_share: float | None = None
    slippage_bps: float | None = None
    slippage_total: float | None = None
    note: str = ""  # what is missing or partial, in words ("" when both sides filled in full)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> OrderPair:
        return cls(**{**doc, "live": Side(**doc["live"]), "paper": Side(**doc["paper"])})


@dataclass(frozen=True)
class DriftRow:
    """One session's equity on both accounts and their returns since the pair started;
    None where an account recorded no equity that session."""

    session: str
    live_equity: float | None
    paper_equity: float | None
    live_return: float | None  # a fraction: 0.0123 is +1.23%
    paper_return: float | None
    drift: float | None  # live_return - paper_return (a fraction: percentage points / 100)


@dataclass(frozen=True)
class TwinComparison:
    """The comparison of a live account with its paper twin on ``session``."""

    live: str
    twin: str
    session: str
    state: str  # ok | missing (the twin has no state yet) | unreadable | failed (the comparison itself)
    start: str | None = None  # the first session both accounts recorded equity: returns count from there
    twin_ran: bool = False  # the twin ran successfully for ``session``
    plan: list[OrderPair] = field(default_factory=list)  # the plans of ``session`` side by side
    orders: list[OrderPair] = field(default_factory=list)  # the earlier plans' orders since ``start``
    drift: list[DriftRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what is missing, in words

    # -- what the report says first --------------------------------------------------------
    @property
    def fills_session(self) -> str | None:
        """The latest earlier plan with orders on either side (usually the session before)."""
        return self.orders[-1].session if self.orders else None

    @property
    def latest_fills(self) -> list[OrderPair]:
        return [o for o in self.orders if o.session == self.fills_session]

    @property
    def compared(self) -> list[OrderPair]:
        """The orders filled on both sides since ``start`` (each has its slippage)."""
        return [o for o in self.orders if o.slippage_total is not None]

    @property
    def slippage_total(self) -> float:
        return sum(o.slippage_total or 0.0 for o in self.compared)

    @property
    def slippage_bps(self) -> float | None:
        """The total slippage in basis points of what the live quantities cost at the
        paper prices (None before the first order filled on both sides)."""
        base = sum(o.live.filled_qty * (o.paper.avg_price or 0.0) for o in self.compared)
        return self.slippage_total / base * 10_000 if base > 0 else None

    @property
    def latest_drift(self) -> DriftRow | None:
        return self.drift[-1] if self.drift else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TwinComparison:
        return cls(
            **{
                **doc,
                "plan": [OrderPair.from_json(o) for o in doc.get("plan", [])],
                "orders": [OrderPair.from_json(o) for o in doc.get("orders", [])],
                "drift": [DriftRow(**d) for d in doc.get("drift", [])],
                "notes": list(doc.get("notes", [])),
            }
        )


def failed(twin: Twin, session: dt.date, error: str) -> TwinComparison:
    """What the report shows when the comparison itself could not be made."""
    note = f"The comparison with the paper twin '{twin.name}' could not be made: {error}"
    return TwinComparison(twin.live, twin.name, session.isoformat(), "failed", notes=[note])


def compare(live_store: Store, live_reports: Path, twin: Twin, session: dt.date, live_plan: Plan) -> TwinComparison:
    """Compare the live account (its store, only read, and its reports folder) with its
    paper ``twin`` on ``session``, whose live plan is ``live_plan``."""
    if not (twin.state_dir / FILE_NAME).is_file():
        note = (
            f"The paper twin '{twin.name}' has no state yet ({twin.state_dir / FILE_NAME} does not exist): its first "
            "run creates it, and the comparison starts with the first session both accounts record."
        )
        return TwinComparison(twin.live, twin.name, session.isoformat(), "missing", notes=[note])
    try:
        with open_store(twin.state_dir, read_only=True) as paper_store:
            return _compare(live_store, live_reports, paper_store, twin, session, live_plan)
    except StoreError as exc:
        note = f"The paper twin's state could not be read: {exc}"
        return TwinComparison(twin.live, twin.name, session.isoformat(), "unreadable", notes=[note])


def _compare(
    live_store: Store,
    live_reports: Path,
    paper_store: Store,
    twin: Twin,
    session: dt.date,
    live_plan: Plan,
) -> TwinComparison:
    notes: list[str] = []
    twin_ran = paper_store.successful_run(session) is not None
    plans = {"live": _Plans(live_reports), "paper": _Plans(twin.reports_dir)}
    paper_plan = plans["paper"](session) if twin_ran else None
    if not twin_ran:
        notes.append(
            f"The paper twin '{twin.name}' has no successful run for {session} (it failed or has not run yet: see its "
            "line in the run's summary): its plan for the next open, its equity of the day and the fills only its "
            "run follows are missing below."
        )
    today = _plan_pairs(session, live_plan, paper_plan)
    drift, start = _drift(live_store.equity_history(), paper_store.equity_history(), session, notes)
    orders: list[OrderPair] = []
    if start is not None:
        orders = _order_pairs(live_store, paper_store, plans, dt.date.fromisoformat(start), session)
    else:
        notes.append(
            f"The two accounts have no session with equity recorded on both sides yet (the twin '{twin.name}' "
            "records its first when it first runs): returns, fills and slippage start from that session."
        )
    return TwinComparison(twin.live, twin.name, session.isoformat(), "ok", start, twin_ran, today, orders, drift, notes)


class _Plans:
    """An account's plan of each session (``reports/<account>/<D>/plan.json``), read once;
    None for a session without one (no successful run, or a damaged file)."""

    def __init__(self, reports_dir: Path) -> None:
        self.reports_dir = reports_dir
        self.read: dict[dt.date, Plan | None] = {}

    def __call__(self, session: dt.date) -> Plan | None:
        if session not in self.read:
            try:
                self.read[session] = artifacts.read_plan(self.reports_dir / session.isoformat())
            except (OSError, artifacts.DamagedArtifact):
                self.read[session] = None
        return self.read[session]


# -- the orders ----------------------------------------------------------------------------

Key = tuple[str, str]  # (symbol, side)


def _order_words(o: PlanOrder) -> str:
    return f"{o.qty:g} shares" if o.qty is not None else f"${o.est_value:,.2f}"


def _plan_side(plan: Plan | None, symbol: str, side: str, when: str) -> Side:
    """A side with no order recorded for (``symbol``, ``side``): why, from its plan."""
    if plan is None:
        return Side(
            None,
            "no_plan",
            0.0,
            None,
            f"no plan of {when} recorded (no successful run that session, or its plan.json cannot be read)",
        )
    order = next((o for o in plan.orders if o.symbol == symbol and o.side == side), None)
    if order is not None:
        return Side(_order_words(order), "not_sent", 0.0, None, "in its plan but never sent (a run without --submit)")
    return Side(None, "not_planned", 0.0, None, "not in its plan: " + _why_not(plan, symbol, side))


def _why_not(plan: Plan, symbol: str, side: str) -> str:
    """Why a plan has no order for ``symbol``/``side``: its signal's decision, or the
    position it did (not) hold."""
    held = any(p.symbol == symbol for p in plan.portfolio.positions)
    if side == "sell":
        return "not held on this side" if not held else "no exit fired on this side"
    if held:
        return f"{symbol} is held already on this side"
    decided = [s for s in plan.signals if s["symbol"] == symbol and s["action"] == "BUY"]
    if decided:
        s = decided[0]
        reasons = "; ".join(str(r) for r in s.get("reasons", [])) or "no reason recorded"
        return f"{s['decision']}: {reasons}"
    return "no BUY signal for it on this side"


def _plan_pairs(session: dt.date, live: Plan, paper: Plan | None) -> list[OrderPair]:
    """The two plans of ``session`` side by side, by symbol and side."""
    when = session.isoformat()
    live_orders = {(o.symbol, o.side): o for o in live.orders}
    paper_orders = {(o.symbol, o.side): o for o in paper.orders} if paper is not None else {}
    pairs = []
    for key in _ordered(set(live_orders) | set(paper_orders)):
        symbol, side = key
        sides = []
        for orders, plan in ((live_orders, live), (paper_orders, paper)):
            o = orders.get(key)
            sides.append(
                Side(_order_words(o), "planned", 0.0, None, f"planned ({o.assumed})")
                if o is not None
                else _plan_side(plan, symbol, side, when)
            )
        note = ""
        if sides[0].planned is None or sides[1].planned is None:
            only, other, missing = (
                ("paper", "live", sides[0]) if sides[0].planned is None else ("live", "paper", sides[1])
            )
            note = f"in the {only} plan only; {other}: {missing.detail}"
        pairs.append(OrderPair(when, symbol, side, sides[0], sides[1], note=note))
    return pairs


def _ordered(keys: set[Key]) -> list[Key]:
    """Sells first (as the plans send them), then by symbol."""
    return sorted(keys, key=lambda k: (k[1] != "sell", k[0]))


def _intent_side(intents: list[dict[str, Any]]) -> Side:
    """One side of an order from its intents (one, or more after a re-plan): the filled
    quantities added, their average price weighted by quantity, the fates in words."""
    fates = [fate_of(i) for i in intents]
    fills = [(float(i["filled_qty"] or 0.0), float(i["filled_avg_price"])) for i in intents if i["filled_avg_price"]]
    fills = [(q, p) for q, p in fills if q > QTY_EPS]
    qty = sum(q for q, _ in fills)
    price = fills[0][1] if len(fills) == 1 else (sum(q * p for q, p in fills) / qty if fills else None)
    kinds = sorted({f for f, _ in fates})
    return Side(
        " + ".join(planned_words(i) for i in intents),
        kinds[0] if len(kinds) == 1 else "+".join(kinds),
        qty,
        price,
        "; ".join(words for _, words in fates),
    )


def _grouped(store: Store, start: dt.date, session: dt.date) -> dict[tuple[str, Key], list[dict[str, Any]]]:
    """The intents of the plans from ``start`` to before ``session``, by session and order."""
    out: dict[tuple[str, Key], list[dict[str, Any]]] = {}
    for i in store.intents():
        day = str(i["session_date"])
        if start.isoformat() <= day < session.isoformat():
            out.setdefault((day, (str(i["symbol"]), str(i["side"]))), []).append(i)
    return out


def _order_pairs(
    live_store: Store,
    paper_store: Store,
    plans: Mapping[str, Callable[[dt.date], Plan | None]],
    start: dt.date,
    session: dt.date,
) -> list[OrderPair]:
    """Every order of the plans from ``start`` to before ``session`` that either account
    recorded (sent, or planned for sending), paired, with the slippage where both filled."""
    live, paper = _grouped(live_store, start, session), _grouped(paper_store, start, session)
    days = sorted({day for day, _ in live} | {day for day, _ in paper})
    pairs = []
    for day in days:
        keys = {k for d, k in live if d == day} | {k for d, k in paper if d == day}
        when = dt.date.fromisoformat(day)
        for key in _ordered(keys):
            symbol, side = key
            sides = [
                _intent_side(recorded[(day, key)])
                if (day, key) in recorded
                else _plan_side(plans[name](when), symbol, side, day)
                for recorded, name in ((live, "live"), (paper, "paper"))
            ]
            pairs.append(_pair(day, symbol, side, sides[0], sides[1]))
    return pairs


def _pair(day: str, symbol: str, side: str, live: Side, paper: Side) -> OrderPair:
    """An order on both sides, with the slippage of the live fill against the paper one."""
    if not (live.filled and paper.filled):
        if live.filled:
            note = f"filled on the live side only; paper: {paper.detail}"
        elif paper.filled:
            note = f"filled on the paper side only; live: {live.detail}"
        else:
            note = f"filled on neither side; live: {live.detail}; paper: {paper.detail}"
        return OrderPair(day, symbol, side, live, paper, note=note)
    assert live.avg_price is not None and paper.avg_price is not None
    sign = 1.0 if side == "buy" else -1.0
    per_share = sign * (live.avg_price - paper.avg_price)
    partial = [
        f"{name} {s.fate.replace('_', ' ')}" for name, s in (("live", live), ("paper", paper)) if s.fate != "filled"
    ]
    note = f"{', '.join(partial)}: compared over the shares filled so far" if partial else ""
    return OrderPair(
        day,
        symbol,
        side,
        live,
        paper,
        slippage_per_share=round(per_share, 6),
        slippage_bps=round(per_share / paper.avg_price * 10_000, 6),
        slippage_total=round(per_share * live.filled_qty, 6),
        note=note,
    )


# -- equity --------------------------------------------------------------------------------


def _equity(history: pd.DataFrame, session: dt.date) -> dict[str, float]:
    """session (ISO) -> equity, up to ``session``."""
    return {
        ts.date().isoformat(): float(eq)
        for ts, eq in zip(history["session_date"], history["equity"], strict=True)
        if ts.date() <= session
    }


def _drift(
    live_history: pd.DataFrame, paper_history: pd.DataFrame, session: dt.date, notes: list[str]
) -> tuple[list[DriftRow], str | None]:
    """Each account's return since the first session both recorded equity, and their
    difference; a session recorded on one side only is a row with the other side None
    (and a note). Returns the rows and that first session (None: there is none yet)."""
    live, paper = _equity(live_history, session), _equity(paper_history, session)
    common = sorted(set(live) & set(paper))
    if not common:
        return [], None
    start = common[0]
    rows = []
    one_sided: dict[str, list[str]] = {"live": [], "paper": []}
    for day in sorted(d for d in set(live) | set(paper) if d >= start):
        lr = live[day] / live[start] - 1 if day in live and live[start] > 0 else None
        pr = paper[day] / paper[start] - 1 if day in paper and paper[start] > 0 else None
        if day not in paper:
            one_sided["live"].append(day)
        if day not in live:
            one_sided["paper"].append(day)
        rows.append(
            DriftRow(
                day,
                live.get(day),
                paper.get(day),
                lr,
                pr,
                lr - pr if lr is not None and pr is not None else None,
            )
        )
    for has, lacks in (("live", "paper twin"), ("paper", "live account")):
        if one_sided[has]:
            notes.append(
                f"No equity recorded by the {lacks} on {', '.join(one_sided[has])} (no run that session): "
                "no drift for that session."
            )
    return rows, start
