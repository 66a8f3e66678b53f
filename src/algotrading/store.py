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
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pandas as pd

SCHEMA_VERSION = 1
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


class StoreError(RuntimeError):
    """The state database cannot be used; the message says why and what to do."""


class RiskState(StrEnum):
    ACTIVE = "ACTIVE"
    HALTED = "HALTED"
    EMERGENCY_STOP = "EMERGENCY_STOP"


@dataclass(frozen=True)
class RiskStatus:
    """The persisted risk state and the event that set it."""

    state: RiskState
    since: str | None = None
    reason: str | None = None
    session_date: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """The state database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        existed = path.exists()
        if not existed and not create:
            raise StoreError(f"state database {path} does not exist yet: run `algotrading daily` first")
        if existed and path.stat().st_size == 0:
            raise StoreError(self._damaged("the file is empty"))
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(self._damaged(f"integrity check: {check}"))
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._damaged(str(exc))) from exc
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise StoreError(
                f"state database {path} has schema version {version}, newer than this AlgoTrading's "
                f"{SCHEMA_VERSION}: it was written by a newer version. Upgrade AlgoTrading (git pull), "
                "or point ALGOTRADING_STATE_DIR elsewhere; the file is left untouched."
            )
        if version == 0:
            if existed and tables - {"sqlite_sequence"}:
                self.conn.close()
                raise StoreError(self._damaged(f"it holds tables {sorted(tables)} but no schema version"))
            with self._tx() as c:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _damaged(self, detail: str) -> str:
        return (
            f"state database {self.path} is damaged ({detail}). The run stopped rather than start from "
            "scratch, which would erase the drawdown peak and any HALTED/EMERGENCY STOP state. Restore the "
            "file from a backup, or, knowing that history is lost, move it aside and run again."
        )

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

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
        """The highest recorded equity (on or before ``upto``)."""
        sql, args = "SELECT MAX(equity) FROM equity_history", ()
        if upto is not None:
            sql, args = sql + " WHERE session_date <= ?", (upto.isoformat(),)
        return self.conn.execute(sql, args).fetchone()[0]

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
                "INSERT INTO risk_events (at, session_date, from_state, to_state, reason, actor) VALUES (?, ?, ?, ?, ?, ?)",
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
        self, run_id: str, status: str, failed_step: str | None = None, error: str | None = None, report_dir: str | None = None
    ) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET finished_at = ?, status = ?, failed_step = ?, error = ?, report_dir = ? WHERE run_id = ?",
                (_now(), status, failed_step, error, report_dir, run_id),
            )

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY started_at", self.conn)


def open_store(state_dir: Path, create: bool = True) -> Store:
    return Store(state_dir / FILE_NAME, create=create)
