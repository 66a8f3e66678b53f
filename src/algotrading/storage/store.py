"""Persistent state in SQLite (``ALGOTRADING_STATE_DIR/algotrading.sqlite3``): equity
history (hence the drawdown peak), risk state changes with their reasons, and the run
ledger.

The database is never reset by the program: a damaged file, an empty file that should
hold history, or one written by a newer version stops the run with a clear error,
because starting afresh would silently erase the drawdown peak and a HALTED or
EMERGENCY STOP state. Every write is one transaction (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from algotrading.decisions.risk import RiskState, RiskStatus
from algotrading.storage.sqlite import Database, StoreError

__all__ = [
    "Alert",
    "FILE_NAME",
    "PositionRecord",
    "RiskState",
    "RiskStatus",
    "Store",
    "StoreError",
    "is_sent",
    "open_store",
]

SCHEMA_VERSION = 5
FILE_NAME = "algotrading.sqlite3"

SCHEMA = """
CREATE TABLE equity_history (
    session_date TEXT PRIMARY KEY,
    equity REAL NOT NULL CHECK (equity >= 0),
    cash REAL NOT NULL,
    source TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE risk_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    session_date TEXT,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL CHECK (actor IN ('auto', 'user'))
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    session_date TEXT NOT NULL,
    mode TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    failed_step TEXT,
    error TEXT,
    report_dir TEXT
);
CREATE INDEX runs_by_session ON runs (session_date);
"""

#: Changes from one schema version to the next, applied in one transaction each.
MIGRATIONS: dict[int, str] = {
    2: """
CREATE TABLE order_intents (
    client_order_id TEXT PRIMARY KEY,
    session_date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    notional REAL,
    qty REAL,
    kind TEXT NOT NULL,
    strategy TEXT,
    after_sells_fill INTEGER NOT NULL DEFAULT 0,
    stop_price REAL,
    target_price REAL,
    confidence REAL,
    status TEXT NOT NULL,
    broker_order_id TEXT,
    filled_qty REAL,
    filled_avg_price REAL,
    detail TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX intents_by_session ON order_intents (session_date);
CREATE TABLE position_records (
    symbol TEXT PRIMARY KEY,
    qty REAL NOT NULL,
    strategy TEXT,
    entry_session TEXT,
    entry_price REAL,
    stop_price REAL,
    target_price REAL,
    entry_confidence REAL,
    updated_at TEXT NOT NULL
);
""",
    3: """
CREATE TABLE emails (
    id TEXT PRIMARY KEY,
    session_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'outbox')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
""",
    4: """
ALTER TABLE runs ADD COLUMN duration_seconds REAL;
ALTER TABLE runs ADD COLUMN steps TEXT;
CREATE TABLE alerts (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'urgent')),
    session_date TEXT NOT NULL,
    message TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    resolved_at TEXT,
    notified_at TEXT
);
CREATE TABLE data_exclusions (
    session_date TEXT NOT NULL,
    symbol TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (session_date, symbol)
);
""",
    5: """
ALTER TABLE order_intents ADD COLUMN est_price REAL;
""",
}


# -- order intents and the local position record ---------------------------------------

INTENT_FIELDS = (
    "client_order_id",
    "session_date",
    "symbol",
    "side",
    "notional",
    "qty",
    "kind",
    "strategy",
    "after_sells_fill",
    "stop_price",
    "target_price",
    "confidence",
    "est_price",
    "status",
    "broker_order_id",
    "filled_qty",
    "filled_avg_price",
    "detail",
    "created_at",
    "updated_at",
)
#: Intent states of an order never placed at the broker, which may still be sent. Every
#: other state (submitted, the broker's own statuses, rejected, unknown, expired) means
#: the order went out, or must not go out any more: it is never sent again.
NOT_SENT = frozenset({"planned", "skipped", "not_found"})


def is_sent(status: object) -> bool:
    return str(status) not in NOT_SENT


@dataclass(frozen=True)
class Alert:
    """A monitoring finding. ``key`` identifies the condition (it is raised once while it
    lasts); ``urgent`` ones are also sent on their own, the rest go into the email banner."""

    key: str
    kind: str
    severity: str  # info | warning | urgent
    message: str


@dataclass(frozen=True)
class PositionRecord:
    """What AlgoTrading knows about a holding that the broker does not: why it was opened."""

    symbol: str
    qty: float
    strategy: str | None
    entry_session: str | None
    entry_price: float | None
    stop_price: float | None
    target_price: float | None
    entry_confidence: float | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Store(Database):
    """The state database. Use as a context manager, or call :meth:`close`."""

    label = "state database"
    steps = {1: SCHEMA, **MIGRATIONS}
    consequence = "the drawdown peak and any HALTED/EMERGENCY STOP state"
    missing_hint = "run `algotrading daily` first"

    def __enter__(self) -> Store:
        return self

    # -- equity ---------------------------------------------------------------------------
    def record_equity(self, session: dt.date, equity: float, cash: float, source: str) -> None:
        """Record (or, on a re-run of the session, replace) the session's equity."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO equity_history (session_date, equity, cash, source, recorded_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (session_date) DO UPDATE SET equity = excluded.equity, cash = excluded.cash, "
                "source = excluded.source, recorded_at = excluded.recorded_at",
                (session.isoformat(), float(equity), float(cash), source, _now()),
            )

    def peak_equity(self, upto: dt.date | None = None) -> float | None:
        """The highest recorded equity (on or before ``upto``) since the latest resume.

        A resume (HALTED or EMERGENCY STOP -> ACTIVE) restarts the peak from the equity
        of the session it was made on: the drawdown is then measured from there. Without
        that, an account resumed below its old peak would be halted again by the very
        next run, and could never trade again.
        """
        upto_text = upto.isoformat() if upto is not None else "9999-12-31"
        row = self.conn.execute(
            "SELECT MAX(session_date) FROM risk_events WHERE to_state = 'ACTIVE' AND session_date IS NOT NULL "
            "AND session_date <= ?",
            (upto_text,),
        ).fetchone()
        since = row[0] if row and row[0] else "0000-01-01"
        return self.conn.execute(
            "SELECT MAX(equity) FROM equity_history WHERE session_date <= ? AND session_date >= ?", (upto_text, since)
        ).fetchone()[0]

    def previous_equity(self, session: dt.date) -> float | None:
        """Equity at the latest recorded session before ``session``."""
        row = self.conn.execute(
            "SELECT equity FROM equity_history WHERE session_date < ? ORDER BY session_date DESC LIMIT 1",
            (session.isoformat(),),
        ).fetchone()
        return row[0] if row else None

    def equity_history(self) -> pd.DataFrame:
        frame = pd.read_sql_query(
            "SELECT session_date, equity, cash, source FROM equity_history ORDER BY session_date", self.conn
        )
        frame["session_date"] = pd.to_datetime(frame["session_date"])
        frame["peak_equity"] = frame["equity"].cummax()
        frame["drawdown"] = 1 - frame["equity"] / frame["peak_equity"]
        return frame

    # -- risk state -----------------------------------------------------------------------
    def risk_status(self) -> RiskStatus:
        row = self.conn.execute(
            "SELECT to_state, at, reason, session_date FROM risk_events ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return RiskStatus(RiskState.ACTIVE)
        return RiskStatus(RiskState(row[0]), row[1], row[2], row[3])

    def set_risk_state(self, state: RiskState, reason: str, actor: str, session: dt.date | None = None) -> RiskStatus:
        """Record a state change (a no-op when the state is already ``state``)."""
        if not reason.strip():
            raise ValueError("a risk state change needs a reason")
        with self._tx() as c:
            current = self.risk_status()
            if current.state is state:
                return current
            c.execute(
                "INSERT INTO risk_events (at, session_date, from_state, to_state, reason, actor) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (_now(), session.isoformat() if session else None, current.state.value, state.value, reason, actor),
            )
        return self.risk_status()

    def risk_events(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT id, at, session_date, from_state, to_state, reason, actor FROM risk_events ORDER BY id", self.conn
        )

    # -- run ledger -----------------------------------------------------------------------
    def start_run(self, run_id: str, session: dt.date, mode: str) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs (run_id, session_date, mode, started_at, status) VALUES (?, ?, ?, ?, 'running')",
                (run_id, session.isoformat(), mode, _now()),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        failed_step: str | None = None,
        error: str | None = None,
        report_dir: str | None = None,
        steps: dict[str, float] | None = None,
        duration_seconds: float | None = None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET finished_at = ?, status = ?, failed_step = ?, error = ?, report_dir = ?, steps = ?, "
                "duration_seconds = ? WHERE run_id = ?",
                (
                    _now(),
                    status,
                    failed_step,
                    error,
                    report_dir,
                    json.dumps(steps) if steps is not None else None,
                    duration_seconds,
                    run_id,
                ),
            )

    def interrupt_runs(self, why: str) -> list[str]:
        """Mark every run still ``running`` as ``interrupted`` (call it holding the run
        lock: no run can really be running then). Returns their run ids."""
        with self._tx() as c:
            ids = [str(r[0]) for r in c.execute("SELECT run_id FROM runs WHERE status = 'running'")]
            c.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE status = 'running'",
                (_now(), why),
            )
        return ids

    def runs(self) -> pd.DataFrame:
        """The run ledger, oldest first; ``steps`` parsed to a dict of seconds."""
        frame = pd.read_sql_query("SELECT * FROM runs ORDER BY started_at, run_id", self.conn)
        frame["steps"] = [json.loads(x) if isinstance(x, str) else {} for x in frame["steps"]]
        return frame

    def successful_run(self, session: dt.date) -> dict[str, object] | None:
        """The latest successful run for ``session``, if any."""
        cur = self.conn.execute(
            "SELECT run_id, finished_at, report_dir FROM runs WHERE session_date = ? AND status = 'ok' "
            "ORDER BY finished_at DESC LIMIT 1",
            (session.isoformat(),),
        )
        row = cur.fetchone()
        return None if row is None else {"run_id": row[0], "finished_at": row[1], "report_dir": row[2]}

    def sessions_run_ok(self, after: dt.date, before: dt.date) -> list[dt.date]:
        """The sessions strictly between ``after`` and ``before`` with a successful run,
        in order (one query, however long the stretch: a replay asks every session)."""
        cur = self.conn.execute(
            "SELECT DISTINCT session_date FROM runs WHERE session_date > ? AND session_date < ? AND status = 'ok' "
            "ORDER BY session_date",
            (after.isoformat(), before.isoformat()),
        )
        return [dt.date.fromisoformat(row[0]) for row in cur.fetchall()]

    # -- order intents and the local position record ----------------------------------
    def add_intents(self, rows: list[dict[str, object]]) -> int:
        """Record planned orders; an id already known keeps its state (never re-planned)."""
        added = 0
        with self._tx() as c:
            for r in rows:
                now = _now()
                cur = c.execute(
                    "INSERT OR IGNORE INTO order_intents (client_order_id, session_date, symbol, side, notional, qty, "
                    "kind, strategy, after_sells_fill, stop_price, target_price, confidence, est_price, status, "
                    "created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?)",
                    (
                        r["client_order_id"],
                        r["session_date"],
                        r["symbol"],
                        r["side"],
                        r.get("notional"),
                        r.get("qty"),
                        r["kind"],
                        r.get("strategy"),
                        int(bool(r.get("after_sells_fill"))),
                        r.get("stop_price"),
                        r.get("target_price"),
                        r.get("confidence"),
                        r.get("est_price"),
                        now,
                        now,
                    ),
                )
                added += cur.rowcount
        return added

    def intents(
        self, session: dt.date | None = None, statuses: tuple[str, ...] | None = None
    ) -> list[dict[str, object]]:
        sql, args = "SELECT * FROM order_intents WHERE 1 = 1", []
        if session is not None:
            sql += " AND session_date = ?"
            args.append(session.isoformat())
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            args += list(statuses)
        cur = self.conn.execute(sql + " ORDER BY session_date, rowid", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def latest_intent_session(self, before: dt.date) -> dt.date | None:
        """The latest session before ``before`` whose plan recorded orders, if any."""
        row = self.conn.execute(
            "SELECT MAX(session_date) FROM order_intents WHERE session_date < ?", (before.isoformat(),)
        ).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def update_intent(self, client_order_id: str, **fields: object) -> None:
        unknown = set(fields) - set(INTENT_FIELDS)
        if unknown:
            raise ValueError(f"unknown intent fields {sorted(unknown)}")
        fields["updated_at"] = _now()
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as c:
            c.execute(
                f"UPDATE order_intents SET {assignments} WHERE client_order_id = ?", [*fields.values(), client_order_id]
            )

    def position_records(self) -> dict[str, PositionRecord]:
        cur = self.conn.execute(
            "SELECT symbol, qty, strategy, entry_session, entry_price, stop_price, target_price, entry_confidence "
            "FROM position_records ORDER BY symbol"
        )
        return {row[0]: PositionRecord(*row) for row in cur.fetchall()}

    def save_position_records(self, records: list[PositionRecord]) -> None:
        """Replace the whole record with ``records`` (one transaction)."""
        with self._tx() as c:
            c.execute("DELETE FROM position_records")
            for r in records:
                c.execute(
                    "INSERT INTO position_records (symbol, qty, strategy, entry_session, entry_price, stop_price, "
                    "target_price, entry_confidence, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.symbol,
                        r.qty,
                        r.strategy,
                        r.entry_session,
                        r.entry_price,
                        r.stop_price,
                        r.target_price,
                        r.entry_confidence,
                        _now(),
                    ),
                )

    # -- emails ---------------------------------------------------------------------------
    def email(self, email_id: str) -> dict[str, object] | None:
        cur = self.conn.execute("SELECT * FROM emails WHERE id = ?", (email_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))

    def emails(self, status: str | None = None) -> list[dict[str, object]]:
        sql = "SELECT * FROM emails"
        args: tuple[str, ...] = ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        cur = self.conn.execute(sql + " ORDER BY created_at, id", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def save_email(self, email_id: str, session: dt.date, kind: str, subject: str, path: str, status: str) -> None:
        """Record a message (a new version of a not-yet-sent one replaces it)."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO emails (id, session_date, kind, subject, path, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, path = excluded.path, "
                "status = excluded.status WHERE emails.status != 'sent'",
                (email_id, session.isoformat(), kind, subject, path, status, _now()),
            )

    def email_attempt(self, email_id: str, status: str, error: str | None = None) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE emails SET status = ?, attempts = attempts + 1, last_error = ?, "
                "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
                (status, error, status, _now(), email_id),
            )

    def note_email(self, email_id: str, note: str) -> None:
        """Set a pending message's note (``last_error``) without counting an attempt: the
        "sending since ..." mark a send puts down before it talks to the server."""
        with self._tx() as c:
            c.execute("UPDATE emails SET last_error = ? WHERE id = ? AND status = 'pending'", (note, email_id))

    # -- alerts and data exclusions (monitoring) ------------------------------------------
    def sync_alerts(self, kinds: Iterable[str], current: Iterable[Alert], session: dt.date) -> list[Alert]:
        """Make the open alerts of ``kinds`` exactly ``current``: new ones (or ones that
        come back after being resolved) are inserted and returned, the ones still true are
        kept (their message refreshed), the rest are resolved. Each condition is thus
        raised once, when it starts, however many runs it lasts."""
        kinds, now, new = tuple(kinds), _now(), []
        current = list(current)
        with self._tx() as c:
            rows = (
                c.execute(
                    f"SELECT key, resolved_at FROM alerts WHERE kind IN ({','.join('?' * len(kinds))})", kinds
                ).fetchall()
                if kinds
                else []
            )
            known = {k: resolved for k, resolved in rows}
            for a in current:
                if a.key not in known or known[a.key] is not None:
                    c.execute(
                        "INSERT INTO alerts (key, kind, severity, session_date, message, raised_at, last_seen) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET severity = excluded.severity, "
                        "session_date = excluded.session_date, message = excluded.message, "
                        "raised_at = excluded.raised_at, last_seen = excluded.last_seen, resolved_at = NULL, "
                        "notified_at = NULL",
                        (a.key, a.kind, a.severity, session.isoformat(), a.message, now, now),
                    )
                    new.append(a)
                else:
                    c.execute("UPDATE alerts SET message = ?, last_seen = ? WHERE key = ?", (a.message, now, a.key))
            keep = {a.key for a in current}
            for key, resolved in known.items():
                if resolved is None and key not in keep:
                    c.execute("UPDATE alerts SET resolved_at = ? WHERE key = ?", (now, key))
        return new

    def open_alerts(self) -> list[dict[str, object]]:
        cur = self.conn.execute("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY raised_at, key")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def alerts(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM alerts ORDER BY raised_at, key", self.conn)

    def mark_notified(self, keys: Iterable[str]) -> None:
        with self._tx() as c:
            for key in keys:
                c.execute("UPDATE alerts SET notified_at = ? WHERE key = ?", (_now(), key))

    def record_exclusions(self, session: dt.date, excluded: dict[str, str]) -> None:
        """The symbols a run of ``session`` excluded (replacing an earlier run's list)."""
        with self._tx() as c:
            c.execute("DELETE FROM data_exclusions WHERE session_date = ?", (session.isoformat(),))
            c.executemany(
                "INSERT INTO data_exclusions (session_date, symbol, reason) VALUES (?, ?, ?)",
                [(session.isoformat(), sym, reason) for sym, reason in excluded.items()],
            )

    def exclusions(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Recorded exclusions of the sessions from ``start`` to ``end``."""
        return pd.read_sql_query(
            "SELECT session_date, symbol, reason FROM data_exclusions WHERE session_date BETWEEN ? AND ? "
            "ORDER BY session_date, symbol",
            self.conn,
            params=(start.isoformat(), end.isoformat()),
        )

    def latest_equity_session(self) -> dt.date | None:
        row = self.conn.execute("SELECT MAX(session_date) FROM equity_history").fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None


def open_store(state_dir: Path, create: bool = True, read_only: bool = False) -> Store:
    """The state database of ``state_dir``; ``read_only``: an existing one, opened without
    any write (another account's state, e.g. a paper twin's)."""
    return Store(state_dir / FILE_NAME, create=create, read_only=read_only)
