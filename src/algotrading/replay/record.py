"""What a replay keeps of each session, and the files it writes (all atomically, so a
replay interrupted at any point leaves readable outputs):

* ``equity.csv``: one row per session: equity, cash, invested, positions, drawdown, peak,
  risk state, circuit breaker, orders planned;
* ``orders.csv``: every planned order, what submission did with it and how it filled
  (fill session, shares, price, fee) in the simulated account;
* ``events.csv``: risk state changes, circuit breaker on/off, stops, targets, time and
  strategy exits, swaps, rejected orders, data exclusions;
* ``rules.csv``: how often each ranking, safety, cash and risk rule resized, rejected,
  blocked or triggered, and on how many sessions;
* ``positions.csv``: the positions held after the last session, marked at its close;
* ``summary.json``: range, capital, sessions done, complete or interrupted, seconds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from algotrading.broker.simulated import FILE_NAME as LEDGER_FILE
from algotrading.broker.simulated import Ledger
from algotrading.config import Settings
from algotrading.decisions.plan import Plan, Sizing
from algotrading.decisions.ranking import SELECTED, Ranking
from algotrading.decisions.safety import REJECTED, position_cap
from algotrading.execution.account import Account
from algotrading.execution.submit import Outcome
from algotrading.storage.files import atomic_write_json, atomic_write_text

EQUITY, ORDERS, EVENTS, RULES, SUMMARY = "equity.csv", "orders.csv", "events.csv", "rules.csv", "summary.json"
POSITIONS = "positions.csv"
EQUITY_COLUMNS = [
    "session",
    "equity",
    "cash",
    "invested",
    "positions",
    "drawdown",
    "peak_equity",
    "daily_change",
    "risk_state",
    "circuit_breaker",
    "buys_allowed",
    "orders",
    "buys",
    "sells",
    "buy_value",
    "benchmark_close",
]
POSITION_COLUMNS = [
    "symbol",
    "strategy",
    "qty",
    "avg_entry_price",
    "price",
    "market_value",
    "unrealized_pl",
    "entry_date",
]
ORDER_COLUMNS = [
    "session",
    "client_order_id",
    "side",
    "symbol",
    "strategy",
    "kind",
    "notional",
    "qty",
    "est_price",
    "est_value",
    "after_sells_fill",
    "submission",
    "detail",
]
FILL_COLUMNS = ["status", "fill_session", "filled_qty", "fill_price", "fee", "broker_reason"]
EVENT_COLUMNS = ["session", "kind", "symbol", "detail"]
RULE_COLUMNS = ["layer", "rule", "action", "count", "sessions"]
CENT = 0.01


def safety_rules(sizing: Sizing, equity: float, settings: Settings) -> list[tuple[str, str]]:
    """(rule, action) for each buy the safety controls changed: the control that rejected
    it, the size rule when cash or slots made a buy smaller than the cap, whole shares."""
    cap = position_cap(settings.safety, equity)
    out = []
    for b in sizing.buys:
        if b.decision == REJECTED:
            out.append((b.steps[-1].control if b.steps else "other", "rejected"))
            continue
        if b.target < min(cap, settings.safety.max_position_size) - CENT:
            out.append(("size", "resized"))
        if any(s.control == "whole_shares" for s in b.steps):
            out.append(("whole_shares", "resized"))
    return out


class Recorder:
    """Collects one row set per session and writes the replay's files."""

    def __init__(self, out_dir: Path, settings: Settings, first: dt.date, last: dt.date) -> None:
        self.out_dir = out_dir
        self.settings = settings
        self.first, self.last = first, last
        self.equity: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.rule_counts: Counter[tuple[str, str, str]] = Counter()
        self.rule_sessions: defaultdict[tuple[str, str, str], set[dt.date]] = defaultdict(set)
        self.positions: list[dict[str, Any]] = []
        self._breaker = False
        self._excluded: set[str] = set()

    @property
    def final_equity(self) -> float | None:
        return self.equity[-1]["equity"] if self.equity else None

    def _rule(self, session: dt.date, layer: str, rule: str, action: str, n: int = 1) -> None:
        key = (layer, rule, action)
        self.rule_counts[key] += n
        self.rule_sessions[key].add(session)

    def _event(self, session: dt.date, kind: str, symbol: str, detail: str) -> None:
        self.events.append({"session": session.isoformat(), "kind": kind, "symbol": symbol, "detail": detail})

    def _data_events(self, session: dt.date, excluded: dict[str, str]) -> None:
        for symbol in sorted(set(excluded) - self._excluded):
            self._event(session, "data_excluded", symbol, excluded[symbol])
        for symbol in sorted(self._excluded - set(excluded)):
            self._event(session, "data_restored", symbol, "passes every data check again")
        self._excluded = set(excluded)

    def resumed(self, session: dt.date, reason: str) -> None:
        self._event(session, "risk_resumed", "", reason)
        self._rule(session, "risk", "auto_resume", "triggered")

    def skipped(self, session: dt.date, excluded: dict[str, str], why: str) -> None:
        self._data_events(session, excluded)
        self._event(session, "session_skipped", "", why)

    def session(
        self,
        session: dt.date,
        account: Account,
        plan: Plan,
        ranking: Ranking,
        sizing: Sizing,
        outcomes: list[Outcome],
        excluded: dict[str, str],
        benchmark_close: float | None,
    ) -> None:
        p = account.portfolio
        risk = plan.risk
        breaker = bool(risk["circuit_breaker"]["tripped"])
        self.equity.append(
            {
                "session": session.isoformat(),
                "equity": round(p.equity, 4),
                "cash": round(p.cash, 4),
                "invested": round(p.invested, 4),
                "positions": len(p.positions),
                "drawdown": round(p.drawdown, 6),
                "peak_equity": round(max(p.peak_equity or 0.0, p.equity), 4),
                "daily_change": round(p.daily_change, 6) if p.daily_change is not None else None,
                "risk_state": risk["state"],
                "circuit_breaker": breaker,
                "buys_allowed": bool(risk["buys_allowed"]),
                "orders": len(plan.orders),
                "buys": len(plan.buys),
                "sells": len(plan.sells),
                "buy_value": round(sum(o.est_value for o in plan.buys), 2),
                "benchmark_close": benchmark_close,
            }
        )
        self.positions = [
            {
                "symbol": x.symbol,
                "strategy": x.strategy,
                "qty": x.qty,
                "avg_entry_price": x.avg_entry_price,
                "price": x.price,
                "market_value": round(x.market_value, 4),
                "unrealized_pl": round(x.unrealized_pl, 4),
                "entry_date": x.entry_date.isoformat() if x.entry_date else None,
            }
            for x in p.positions
        ]
        self._data_events(session, excluded)
        if account.transition is not None and account.risk.state is account.transition.to_state:
            state = account.transition.to_state.value
            self._event(session, f"risk_{state.lower()}", "", account.transition.reason)
            self._rule(session, "risk", state.lower(), "triggered")
        if breaker != self._breaker:
            detail = "; ".join(risk["circuit_breaker"]["reasons"]) if breaker else "market back inside the limits"
            self._event(session, "circuit_breaker_on" if breaker else "circuit_breaker_off", "", detail)
            self._breaker = breaker
        self._plan_rules(session, plan, ranking, sizing)
        self._order_rows(session, plan, outcomes)

    def _plan_rules(self, session: dt.date, plan: Plan, ranking: Ranking, sizing: Sizing) -> None:
        for row in ranking.rows:
            if row.status != SELECTED:
                self._rule(session, "ranking", str(row.rule), "rejected")
        for rule, action in safety_rules(sizing, plan.portfolio.equity, self.settings):
            self._rule(session, "safety", rule, action)
        cash = sizing.cash
        if cash.applicable and cash.recommendation != "none":
            self._rule(session, "cash", cash.recommendation, "recommended")
        if cash.consolidation:
            self._rule(session, "cash", "consolidate", "recommended", len(cash.consolidation))
        blocked = [b for b in sizing.buys if b.decision != REJECTED] if not plan.risk["buys_allowed"] else []
        if blocked:
            state = plan.risk["state"]
            rule = state.lower() if state != "ACTIVE" else "circuit_breaker"
            self._rule(session, "risk", rule, "blocked", len(blocked))
        for note in plan.notes:
            if note.startswith("not sold"):
                self._rule(session, "risk", "emergency_stop", "blocked")

    def _order_rows(self, session: dt.date, plan: Plan, outcomes: list[Outcome]) -> None:
        by_id = {o.client_order_id: o for o in outcomes}
        for o in plan.orders:
            outcome = by_id.get(o.client_order_id)
            submission = outcome.result if outcome else ("waiting" if o.after_sells_fill else "not_sent")
            self.orders.append(
                {
                    "session": session.isoformat(),
                    "client_order_id": o.client_order_id,
                    "side": o.side,
                    "symbol": o.symbol,
                    "strategy": o.strategy,
                    "kind": o.kind,
                    "notional": o.notional,
                    "qty": o.qty,
                    "est_price": round(o.est_price, 4),
                    "est_value": o.est_value,
                    "after_sells_fill": o.after_sells_fill,
                    "submission": submission,
                    "detail": outcome.detail if outcome else "",
                }
            )
            if o.side == "sell":
                self._event(session, o.kind, o.symbol, o.reason)
                self._rule(session, "exits", o.kind, "triggered")
            if outcome is not None and outcome.result == "rejected":
                self._event(session, "order_rejected", o.symbol, outcome.detail)

    # ------------------------------------------------------------------ writing

    def _fills(self) -> pd.DataFrame:
        path = self.settings.paths.state_dir / LEDGER_FILE
        if not path.exists():
            return pd.DataFrame(columns=["client_order_id", *FILL_COLUMNS])
        ledger = Ledger(path)
        try:
            return pd.read_sql_query(
                "SELECT client_order_id, status, fill_session, filled_qty, filled_avg_price AS fill_price, fee, "
                "reason AS broker_reason FROM orders",
                ledger.conn,
            )
        finally:
            ledger.close()

    def orders_frame(self) -> pd.DataFrame:
        planned = pd.DataFrame(self.orders, columns=ORDER_COLUMNS)
        return planned.merge(self._fills(), on="client_order_id", how="left")

    def rules_frame(self) -> pd.DataFrame:
        rows = [
            {"layer": k[0], "rule": k[1], "action": k[2], "count": n, "sessions": len(self.rule_sessions[k])}
            for k, n in sorted(self.rule_counts.items())
        ]
        return pd.DataFrame(rows, columns=RULE_COLUMNS)

    def write(self, complete: bool, seconds: float | None = None, error: str | None = None) -> None:
        """(Re)write every output file for the sessions recorded so far."""
        frames = {
            EQUITY: pd.DataFrame(self.equity, columns=EQUITY_COLUMNS),
            ORDERS: self.orders_frame(),
            EVENTS: pd.DataFrame(self.events, columns=EVENT_COLUMNS),
            RULES: self.rules_frame(),
            POSITIONS: pd.DataFrame(self.positions, columns=POSITION_COLUMNS),
        }
        for name, frame in frames.items():
            atomic_write_text(self.out_dir / name, frame.to_csv(index=False))
        sf = self.settings.safety
        atomic_write_json(
            self.out_dir / SUMMARY,
            {
                "start": self.first.isoformat(),
                "end": self.last.isoformat(),
                "capital": sf.portfolio_size,
                "sessions_done": len(self.equity),
                "last_session": self.equity[-1]["session"] if self.equity else None,
                "complete": complete,
                "error": error,
                "final_equity": self.final_equity,
                "seconds": round(seconds, 1) if seconds is not None else None,
                "benchmark": self.settings.universe.benchmark,
                "fees_pct": self.settings.backtest.fees_pct,
                "slippage_pct": self.settings.backtest.slippage_pct,
                "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "settings": json.loads(json.dumps(self.settings.redacted(), default=str)),
            },
        )
