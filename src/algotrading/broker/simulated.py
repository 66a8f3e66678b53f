"""The simulated broker of demo mode and replay: a cash account in a SQLite ledger
(``ALGOTRADING_STATE_DIR/simulated_account.sqlite3``), filled from bar data.

It behaves like Alpaca for what the plan uses:

* DAY market orders, by ``notional`` (fractional shares) or ``qty``; a client order id is
  accepted once (a repeat is reported as a duplicate, nothing new is created);
* an order sent after a session's close fills at the next session's open; one sent
  during a session (the morning run of "after sells fill" buys) fills at that session's
  open. Sells fill before buys at the same open. Fill prices move against the order by
  ``slippage_pct``; ``fees_pct`` of the value is charged (``params/backtest.yaml``, the
  same costs as the backtests). An order whose symbol does not trade that day expires;
* buying power is cash minus open buy orders (a 1x cash account): a buy beyond it is
  rejected at submission, as Alpaca does; a sell beyond the shares held is rejected;
* positions use average cost; the account is marked at each session's close.

Every order and every cash movement is kept. The ledger is time-indexed: it can show the
account as of any session, but refuses to act on a session before its latest activity.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.broker.base import (
    AccountInfo,
    BrokerPosition,
    BrokerSession,
    MarketClock,
    OrderRequest,
    OrderStatus,
    SubmitResult,
)
from algotrading.data.market import MarketData
from algotrading.portfolio import Asset
from algotrading.storage.sqlite import Database, StoreError

FILE_NAME = "simulated_account.sqlite3"
FUNDED = "1900-01-01"  # the deposit predates every session
EPS = 1e-9

LEDGER_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    notional REAL,
    qty REAL,
    submitted_session TEXT NOT NULL,
    fill_session TEXT NOT NULL,
    status TEXT NOT NULL,
    filled_qty REAL NOT NULL DEFAULT 0,
    filled_avg_price REAL,
    fee REAL NOT NULL DEFAULT 0,
    reason TEXT,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE cash_moves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    amount REAL NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT
);
"""


class Ledger(Database):
    label = "simulated account ledger"
    steps = {1: LEDGER_SCHEMA}
    consequence = "the demo account's cash, positions and every fill"
    missing_hint = "it is created by the first daily run in demo mode"


@dataclass(frozen=True)
class Fill:
    client_order_id: str
    symbol: str
    side: str
    session: dt.date
    qty: float
    price: float
    fee: float


#: A check of the filled orders up to a session: their number and the totals of their
#: sequence numbers, quantities and prices. Fills only ever add orders after the last one
#: (a fill is never changed), so an equal check says a fold up to that session still holds.
FOLDED_CHECK = (
    "SELECT COUNT(*), TOTAL(seq), TOTAL(filled_qty), TOTAL(filled_avg_price) FROM orders "
    "WHERE status = 'filled' AND fill_session <= ?"
)
#: How many ledgers' folds are kept (a replay uses one; the tests, many).
FOLDS_KEPT = 8


@dataclass(frozen=True)
class _Fold:
    """The holdings summed over a ledger's filled orders up to the session ``upto`` (ISO
    date), positions closed to float noise included (the next fill of the symbol adds to
    that noise, as a sum from the first fill does), and the :data:`FOLDED_CHECK` of those
    orders.

    A broker is made for every session, and summing every fill of the account's life for
    each grew with the years (a seventh of a ten-year replay's account work); the fold of
    the session before is carried on and the session's new fills added to it, in the same
    order, so the sums are the same to the last bit."""

    upto: str
    held: dict[str, tuple[float, float]]
    check: tuple[object, ...]


#: Each ledger's latest fold, by its path.
_FOLDS: dict[Path, _Fold] = {}


def _add_fills(
    held: dict[str, tuple[float, float]], rows: list[tuple[str, str, float, float]]
) -> dict[str, tuple[float, float]]:
    """``held`` (symbol -> (qty, cost), average cost) after the fills ``rows`` (symbol,
    side, quantity, price; in fill order), as a new dict."""
    out = dict(held)
    for symbol, side, qty, price in rows:
        q, cost = out.get(symbol, (0.0, 0.0))
        if side == "buy":
            q, cost = q + qty, cost + qty * price
        else:
            cost -= cost * (qty / q) if q > EPS else 0.0
            q -= qty
        out[symbol] = (q, cost)
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class SimulatedBroker(BrokerSession):
    """The demo account on ``session``; ``phase`` "after_close" (orders fill at the next
    open) or "open" (orders fill at this session's open)."""

    name = "simulated"

    def __init__(
        self,
        path: Path,
        market: MarketData,
        session: dt.date,
        phase: str = "after_close",
        starting_cash: float = 1000.0,
        fees_pct: float = 0.0,
        slippage_pct: float = 0.0,
    ) -> None:
        if phase not in ("after_close", "open"):
            raise ValueError("phase must be 'after_close' or 'open'")
        self.ledger = Ledger(path)
        self._held: tuple[tuple[object, ...], dict[str, tuple[float, float]]] | None = None  # see _holdings
        self.market = market
        self.session = session
        self.phase = phase
        self.fees = fees_pct / 100
        self.slippage = slippage_pct / 100
        if self._meta("account_number") is None:
            with self.ledger._tx() as c:
                c.execute("INSERT INTO meta VALUES ('account_number', ?)", (f"SIM{uuid.uuid4().int % 10**8:08d}",))
                c.execute("INSERT INTO meta VALUES ('starting_cash', ?)", (str(starting_cash),))
                c.execute(
                    "INSERT INTO cash_moves (session, amount, kind, ref) VALUES (?, ?, 'deposit', 'opening balance')",
                    (FUNDED, float(starting_cash)),
                )

    def close(self) -> None:
        self.ledger.close()

    # -- helpers ----------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self.ledger.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _price(self, field: str, symbol: str, session: dt.date, at_or_before: bool = False) -> float | None:
        frame = getattr(self.market, field)
        if symbol not in frame.columns:
            return None
        values = frame[symbol].to_numpy(dtype="float64")  # by position: asked for every holding every session
        end = int(frame.index.searchsorted(pd.Timestamp(session), side="right"))
        if at_or_before:
            known = np.flatnonzero(~np.isnan(values[:end]))
            return float(values[known[-1]]) if len(known) else None
        if end == 0 or frame.index[end - 1] != pd.Timestamp(session):
            return None
        value = values[end - 1]
        return None if np.isnan(value) else float(value)

    def latest_activity(self) -> dt.date | None:
        row = self.ledger.conn.execute(
            "SELECT MAX(s) FROM (SELECT MAX(submitted_session) AS s FROM orders UNION ALL "
            "SELECT MAX(session) FROM cash_moves WHERE kind != 'deposit')"
        ).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def _check_not_past(self, session: dt.date) -> None:
        latest = self.latest_activity()
        if latest is not None and session < latest:
            raise StoreError(
                f"the simulated account already has activity up to {latest}; it cannot act on the earlier session "
                f"{session}. Run later sessions, or set ALGOTRADING_STATE_DIR to a fresh folder to start over."
            )

    def _holdings(self, upto: dt.date) -> dict[str, tuple[float, float]]:
        """symbol -> (qty, cost) from fills up to ``upto`` (average cost).

        Summed over every fill of the account's life, so it is kept until the ledger
        changes: ``total_changes`` counts this connection's writes, ``data_version``
        another connection's (a re-read after either)."""
        conn = self.ledger.conn
        key = (upto, conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0])
        if self._held is None or self._held[0] != key:
            self._held = (key, self._sum_fills(upto))
        return dict(self._held[1])

    def _sum_fills(self, upto: dt.date) -> dict[str, tuple[float, float]]:
        """The holdings of the filled orders up to ``upto``, from the ledger's last fold
        (:class:`_Fold`) when it still holds: only the fills after it are read and added."""
        conn, day = self.ledger.conn, upto.isoformat()
        fold = _FOLDS.get(self.ledger.path)
        if fold is None or day < fold.upto or conn.execute(FOLDED_CHECK, (fold.upto,)).fetchone() != fold.check:
            fold = _Fold("", {}, (0, 0.0, 0.0, 0.0))  # from the first fill
        if day > fold.upto:
            rows = conn.execute(
                "SELECT symbol, side, filled_qty, filled_avg_price FROM orders "
                "WHERE status = 'filled' AND fill_session > ? AND fill_session <= ? "
                "ORDER BY fill_session, CASE side WHEN 'sell' THEN 0 ELSE 1 END, seq",
                (fold.upto, day),
            ).fetchall()
            fold = _Fold(day, _add_fills(fold.held, rows), conn.execute(FOLDED_CHECK, (day,)).fetchone())
            _FOLDS.pop(self.ledger.path, None)
            _FOLDS[self.ledger.path] = fold
            while len(_FOLDS) > FOLDS_KEPT:  # the oldest ledger first
                del _FOLDS[next(iter(_FOLDS))]
        return {s: v for s, v in fold.held.items() if v[0] > EPS}

    def _cash(self, upto: dt.date) -> float:
        row = self.ledger.conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM cash_moves WHERE session <= ?", (upto.isoformat(),)
        ).fetchone()
        return float(row[0])

    def _open_rows(self) -> list[tuple]:
        return self.ledger.conn.execute(
            "SELECT id, client_order_id, symbol, side, notional, qty, fill_session FROM orders "
            "WHERE status = 'new' ORDER BY seq"
        ).fetchall()

    def _status(self, row: tuple) -> OrderStatus:
        (oid, cid, symbol, side, notional, qty, status, filled_qty, price, reason) = row
        return OrderStatus(oid, cid, symbol, side, status, notional, qty, filled_qty or 0.0, price, reason)

    # -- the Broker protocol ---------------------------------------------------------------
    def clock(self) -> MarketClock:
        """The simulated clock: the session's open (phase "open") or after its close."""
        opens, closes = cal.session_open(self.session), cal.session_close(self.session)
        following = cal.next_session(self.session)
        if self.phase == "open":
            return MarketClock(opens, True, cal.session_open(following), closes)
        return MarketClock(closes, False, cal.session_open(following), cal.session_close(following))

    def account(self) -> AccountInfo:
        cash = self._cash(self.session)
        value = sum(
            q * (self._price("close", s, self.session, at_or_before=True) or cost / q)
            for s, (q, cost) in self._holdings(self.session).items()
        )
        pending = self._pending_buys()
        return AccountInfo(
            account_number=self._meta("account_number") or "SIM",
            status="ACTIVE",
            equity=round(cash + value, 6),
            cash=round(cash, 6),
            buying_power=round(max(cash - pending, 0.0), 6),
            paper=True,
        )

    def _pending_buys(self) -> float:
        total = 0.0
        for _, _, symbol, side, notional, qty, _ in self._open_rows():
            if side == "buy":
                total += (
                    notional
                    if notional is not None
                    else qty * (self._price("close", symbol, self.session, True) or 0.0)
                )
        return total

    def positions(self) -> list[BrokerPosition]:
        out = []
        for symbol, (qty, cost) in sorted(self._holdings(self.session).items()):
            price = self._price("close", symbol, self.session, at_or_before=True) or cost / qty
            out.append(BrokerPosition(symbol, round(qty, 9), cost / qty, price))
        return out

    def asset(self, symbol: str) -> Asset:
        tradable = not symbol.startswith("^") and symbol in self.market.close.columns
        return Asset(symbol, tradable=tradable, fractionable=tradable)

    def get_order(self, client_order_id: str) -> OrderStatus | None:
        row = self.ledger.conn.execute(
            "SELECT id, client_order_id, symbol, side, notional, qty, status, filled_qty, filled_avg_price, reason "
            "FROM orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        return self._status(row) if row else None

    def open_orders(self) -> list[OrderStatus]:
        return [o for o in (self.get_order(r[1]) for r in self._open_rows()) if o is not None]

    def cancel(self, order_id: str) -> None:
        with self.ledger._tx() as c:
            c.execute(
                "UPDATE orders SET status = 'canceled', updated_at = ? WHERE id = ? AND status = 'new'",
                (_now(), order_id),
            )

    def submit(self, order: OrderRequest) -> SubmitResult:
        existing = self.get_order(order.client_order_id)
        if existing is not None:
            return SubmitResult("duplicate", existing, "client_order_id must be unique")
        self._check_not_past(self.session)
        fill_session = cal.next_session(self.session) if self.phase == "after_close" else self.session
        reason = self._refusal(order)
        status = "rejected" if reason else "new"
        oid = str(uuid.uuid4())
        with self.ledger._tx() as c:
            c.execute(
                "INSERT INTO orders (id, client_order_id, symbol, side, notional, qty, submitted_session, "
                "fill_session, "
                "status, reason, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    oid,
                    order.client_order_id,
                    order.symbol,
                    order.side,
                    order.notional,
                    order.qty,
                    self.session.isoformat(),
                    fill_session.isoformat(),
                    status,
                    reason,
                    _now(),
                    _now(),
                ),
            )
        saved = self.get_order(order.client_order_id)
        return SubmitResult("rejected" if reason else "submitted", saved, reason)

    def _refusal(self, order: OrderRequest) -> str | None:
        if not self.asset(order.symbol).tradable:
            return f"asset {order.symbol} is not tradable"
        if order.side == "buy":
            price = self._price("close", order.symbol, self.session, at_or_before=True) or 0.0
            cost = order.notional if order.notional is not None else (order.qty or 0.0) * price
            power = self.account().buying_power
            if cost > power + 1e-6:
                return f"insufficient buying power: ${cost:,.2f} needed, ${power:,.2f} available"
            return None
        held = self._holdings(self.session).get(order.symbol, (0.0, 0.0))[0]
        selling = sum(q or 0.0 for _, _, s, side, _, q, _ in self._open_rows() if s == order.symbol and side == "sell")
        wanted = order.qty if order.qty is not None else 0.0
        if order.qty is None:
            return "sells are placed by quantity"
        if wanted > held - selling + 1e-9:
            return f"insufficient qty available for {order.symbol}: {wanted:g} requested, {held - selling:g} held"
        return None

    # -- simulation ----------------------------------------------------------------------------
    def settle(self, upto: dt.date) -> list[Fill]:
        """Fill every open order whose fill session is on or before ``upto``, in time order,
        sells before buys at the same open."""
        rows = self.ledger.conn.execute(
            "SELECT id, client_order_id, symbol, side, notional, qty, fill_session FROM orders "
            "WHERE status = 'new' AND fill_session <= ? "
            "ORDER BY fill_session, CASE side WHEN 'sell' THEN 0 ELSE 1 END, seq",
            (upto.isoformat(),),
        ).fetchall()
        fills = []
        for oid, cid, symbol, side, notional, qty, fill_session in rows:
            day = dt.date.fromisoformat(fill_session)
            fill = self._fill_one(oid, cid, symbol, side, notional, qty, day)
            if fill is not None:
                fills.append(fill)
        return fills

    def _fill_one(
        self, oid: str, cid: str, symbol: str, side: str, notional: float | None, qty: float | None, day: dt.date
    ) -> Fill | None:
        opened = self._price("open", symbol, day)

        def finish(status: str, **fields: object) -> None:
            sets = ", ".join(f"{k} = ?" for k in fields)
            with self.ledger._tx() as c:
                c.execute(
                    f"UPDATE orders SET status = ?, {sets + ', ' if sets else ''}updated_at = ? WHERE id = ?",
                    (status, *fields.values(), _now(), oid),
                )

        if opened is None:
            finish("expired", reason=f"{symbol} did not trade on {day}: the DAY order expired")
            return None
        cash = self._cash(day)
        if side == "buy":
            price = opened * (1 + self.slippage)
            shares = notional / price if notional is not None else float(qty or 0.0)
            value = shares * price
            fee = value * self.fees
            if value + fee > cash + 1e-6:
                finish(
                    "rejected", reason=f"insufficient cash at the fill: ${value + fee:,.2f} needed, ${cash:,.2f} held"
                )
                return None
            amount = -(value + fee)
        else:
            price = opened * (1 - self.slippage)
            held = self._holdings(day).get(symbol, (0.0, 0.0))[0]
            shares = min(float(qty or 0.0), held)
            if shares <= EPS:
                finish("rejected", reason=f"no {symbol} shares held at the fill")
                return None
            value = shares * price
            fee = value * self.fees
            amount = value - fee
        with self.ledger._tx() as c:
            c.execute(
                "UPDATE orders SET status = 'filled', filled_qty = ?, filled_avg_price = ?, fee = ?, updated_at = ? "
                "WHERE id = ?",
                (round(shares, 9), price, fee, _now(), oid),
            )
            c.execute(
                "INSERT INTO cash_moves (session, amount, kind, ref) VALUES (?, ?, ?, ?)",
                (day.isoformat(), amount, side, cid),
            )
        return Fill(cid, symbol, side, day, round(shares, 9), price, fee)

    def fills(self) -> pd.DataFrame:
        """Every filled order, oldest first."""
        return pd.read_sql_query(
            "SELECT fill_session AS session, client_order_id, symbol, side, filled_qty AS qty, "
            "filled_avg_price AS price, "
            "fee FROM orders WHERE status = 'filled' ORDER BY fill_session, seq",
            self.ledger.conn,
        )

    def orders(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM orders ORDER BY seq", self.ledger.conn)


def simulated_broker(
    state_dir: Path,
    market: MarketData,
    session: dt.date,
    phase: str,
    starting_cash: float,
    fees_pct: float,
    slippage_pct: float,
) -> SimulatedBroker:
    return SimulatedBroker(state_dir / FILE_NAME, market, session, phase, starting_cash, fees_pct, slippage_pct)
