"""A versioned SQLite file that fails closed: the base of the state store and of the
simulated broker's ledger.

Opening checks the file's integrity and schema version. A damaged or empty file, a file
with tables but no version, or one written by a newer version raises
:class:`StoreError` and is left untouched: these files hold money history, and starting
afresh would silently lose it. An older version is migrated step by step, each step in
one transaction.
"""

from __future__ import annotations

import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar


class StoreError(RuntimeError):
    """A database cannot be used; the message says why and what to do."""


class Database:
    """Subclasses set ``label``, ``steps`` (version -> SQL script; 1 is the initial schema),
    ``consequence`` (what a reset would lose) and ``missing_hint``."""

    label: ClassVar[str] = "database"
    #: ``PRAGMA synchronous`` for new connections. FULL (each commit reaches the disk)
    #: for real state; only :func:`scratch_files` lowers it, for throw-away state.
    synchronous: ClassVar[str] = "FULL"
    steps: ClassVar[dict[int, str]] = {}
    consequence: ClassVar[str] = "its history"
    missing_hint: ClassVar[str] = "it is created on first use"

    def __init__(self, path: Path, create: bool = True, read_only: bool = False) -> None:
        """``read_only``: open an existing file without any write (SQLite's ``mode=ro``:
        no migration either), e.g. another account's state; a file of an older schema
        then raises :class:`StoreError` (its own next run upgrades it)."""
        self.path = path
        kept = _kept.get(path) if _kept is not None and not read_only else None
        if kept is not None:  # in scratch_files: checked when first opened in the block
            self.conn = kept
            return
        latest = max(self.steps)
        existed = path.exists()
        if not existed and (read_only or not create):
            raise StoreError(f"{self.label} {path} does not exist yet: {self.missing_hint}")
        if existed and path.stat().st_size == 0:
            raise StoreError(self._damaged("the file is empty"))
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if read_only:
                uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            else:
                self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
                self.conn.execute(f"PRAGMA synchronous = {Database.synchronous}")
                if _kept is not None:
                    _scratch_pragmas(self.conn)
            check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(self._damaged(f"integrity check: {check}"))
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as exc:
            raise StoreError(self.explain(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._damaged(str(exc))) from exc
        if version > latest:
            self.conn.close()
            raise StoreError(
                f"{self.label} {path} has schema version {version}, newer than this AlgoTrading's {latest}: it was "
                "written by a newer version. Upgrade AlgoTrading (git pull), or point ALGOTRADING_STATE_DIR "
                "elsewhere; the file is left untouched."
            )
        if version == 0 and existed and tables - {"sqlite_sequence"}:
            self.conn.close()
            raise StoreError(self._damaged(f"it holds tables {sorted(tables)} but no schema version"))
        if read_only and version < latest:
            self.conn.close()
            raise StoreError(
                f"{self.label} {path} has schema version {version}, older than this AlgoTrading's {latest}; it is "
                "read here without changing it, so it is not upgraded: its own next run upgrades it"
            )
        for target in range(version + 1, latest + 1):
            self._apply(self.steps[target], target)
        present = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted(self._expected_tables() - present)
        if missing:
            self.conn.close()
            raise StoreError(self._damaged(f"table(s) {', '.join(missing)} missing"))
        if _kept is not None and not read_only:
            _kept[path] = self.conn

    def _expected_tables(self) -> set[str]:
        """Every table the schema steps create and none drops."""
        made: set[str] = set()
        for version in sorted(self.steps):
            script = self.steps[version]
            made |= set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", script, flags=re.IGNORECASE))
            made -= set(re.findall(r"DROP TABLE (?:IF EXISTS )?(\w+)", script, flags=re.IGNORECASE))
        return made

    def _apply(self, script: str, version: int) -> None:
        """Run one schema step and set its version, all in one transaction."""
        with self._tx() as c:
            for statement in filter(str.strip, script.split(";")):
                c.execute(statement)
            c.execute(f"PRAGMA user_version = {version}")

    def _damaged(self, detail: str) -> str:
        return (
            f"{self.label} {self.path} is damaged ({detail}). The run stopped rather than start from scratch, which "
            f"would erase {self.consequence}. Restore the file from a backup, or, knowing that history is lost, "
            "move it aside and run again."
        )

    def close(self) -> None:
        if _kept is not None and _kept.get(self.path) is self.conn:
            return  # kept open until scratch_files ends
        self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; a SQLite failure becomes a :class:`StoreError` naming the
        cause and the fix (a full disk, a read-only file or folder)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:  # SQLite may have rolled back itself (a full disk does)
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(self.explain(exc)) from exc

    def explain(self, exc: sqlite3.Error) -> str:
        """What a SQLite error means for this file, and what to do."""
        text = str(exc)
        if "disk is full" in text or "disk I/O error" in text:
            return (
                f"disk full: {self.label} {self.path} could not be written ({text}); nothing of this change was "
                f"kept. Free space on the disk holding {self.path.parent} and run again."
            )
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return (
                f"{self.label} {self.path} cannot be written ({text}): make the file and {self.path.parent} "
                "writable for this user (an immutable file: `lsattr`, `chattr -i`; a read-only filesystem: "
                "remount it), or set ALGOTRADING_STATE_DIR to a writable folder, then run again."
            )
        if "no such table" in text:
            return self._damaged(text)
        return f"{self.label} {self.path}: {text}"


#: What :func:`scratch_files` also sets on the one connection of each file: the rollback
#: journal in memory (not a file created and deleted at every commit) and the file's
#: lock held until the connection closes (not taken, and the file's change counter read
#: again, at every statement). About 100 us saved per commit and 7 us per query, which a
#: ten-year replay makes about 20,000 and 80,000 times. Only this process then reads or
#: writes the file, as only the replay uses its scratch state.
SCRATCH_PRAGMAS = ("PRAGMA journal_mode = MEMORY", "PRAGMA locking_mode = EXCLUSIVE")


def _scratch_pragmas(conn: sqlite3.Connection) -> None:
    """Set :data:`SCRATCH_PRAGMAS` on a scratch file's connection."""
    for pragma in SCRATCH_PRAGMAS:
        conn.execute(pragma).fetchall()


#: In :func:`scratch_files`: each file's one connection (path -> connection), reused by
#: every later open of the same path in the block; None outside.
_kept: dict[Path, sqlite3.Connection] | None = None


@contextmanager
def scratch_files() -> Iterator[None]:
    """Within the block, databases opened skip the wait for the disk on each commit
    (``PRAGMA synchronous = OFF``): for state that is thrown away if the machine stops,
    such as a replay's (hundreds of commits per simulated year). Each file is also opened
    and checked once, when first asked: later opens in the block share that connection
    (closed when the block ends), since the replay made these files and reopens them every
    session (its state folder is new, see ``replay._check_out_dir``); that connection keeps
    its journal in memory and holds the file's lock (:data:`SCRATCH_PRAGMAS`) until the
    block ends. Never for a daily run."""
    global _kept
    before = Database.synchronous, _kept
    Database.synchronous, _kept = "OFF", {}
    try:
        yield
    finally:
        opened, _kept = _kept, before[1]
        Database.synchronous = before[0]
        for conn in opened.values():
            conn.close()
