"""The SQLite state: survives restarts, `risk resume` records why, and a damaged,
empty or newer database fails closed and is never reset."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys

import pytest

from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.decisions.risk import RiskState
from algotrading.jobs.daily import run_daily
from algotrading.storage.sqlite import scratch_files
from algotrading.storage.store import FILE_NAME, SCHEMA_VERSION, Store, StoreError, open_store

D1, D2 = dt.date(2025, 12, 30), dt.date(2025, 12, 31)


def test_equity_and_risk_state_survive_a_restart(tmp_path):
    with open_store(tmp_path) as store:
        store.record_equity(D1, 1000.0, 1000.0, "demo")
        store.record_equity(D2, 840.0, 840.0, "demo")
        store.set_risk_state(RiskState.HALTED, "drawdown 16%", "auto", D2)
    # a new process opens the same file
    code = (
        "import sys; from pathlib import Path; from algotrading.storage.store import open_store;"
        f"s = open_store(Path({str(tmp_path)!r}), create=False);"
        "st = s.risk_status(); "
        "print(st.state.value, s.peak_equity(), s.previous_equity(__import__('datetime').date(2025, 12, 31)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["HALTED", "1000.0", "1000.0"]


def test_a_rerun_of_a_session_replaces_its_equity_and_the_peak_is_derived(tmp_path):
    with open_store(tmp_path) as store:
        store.record_equity(D1, 1000.0, 1000.0, "demo")
        store.record_equity(D1, 1010.0, 1010.0, "demo")
        assert store.peak_equity() == 1010.0
        assert len(store.equity_history()) == 1


def test_risk_resume_clears_the_state_and_records_the_reason(workdirs, capsys):
    with open_store(workdirs["state"]) as store:
        store.set_risk_state(RiskState.EMERGENCY_STOP, "one-day loss -11%", "auto", D2)
    assert main(["risk", "resume", "--reason", "checked the broker statement; loss was a data glitch"]) == 0
    assert "EMERGENCY_STOP -> ACTIVE" in capsys.readouterr().out
    with open_store(workdirs["state"], create=False) as store:
        events = store.risk_events()
        assert store.risk_status().state is RiskState.ACTIVE
    assert events["actor"].tolist() == ["auto", "user"]
    assert events["reason"].iloc[-1] == "checked the broker statement; loss was a data glitch"
    assert main(["risk", "resume", "--reason", "again"]) == 0
    assert "already ACTIVE" in capsys.readouterr().out
    assert main(["risk", "show"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("risk state: ACTIVE since ") and "EMERGENCY_STOP -> ACTIVE  [user]" in out


def test_after_a_resume_the_drawdown_is_measured_from_the_equity_at_the_resume(workdirs):
    """Halted at -16% from a $1,000 peak; resumed; the next run at $835 (-0.6% since the
    resume) does not halt again, and a new 15% fall from $840 would."""
    from algotrading.config import load_settings
    from algotrading.decisions.risk import account_transition
    from algotrading.portfolio import Portfolio

    D0, D3 = dt.date(2025, 12, 29), dt.date(2026, 1, 2)
    with open_store(workdirs["state"]) as store:
        store.record_equity(D0, 1000.0, 1000.0, "demo")
        store.record_equity(D1, 900.0, 900.0, "demo")
        store.record_equity(D2, 840.0, 840.0, "demo")
        store.set_risk_state(RiskState.HALTED, "drawdown 16%", "auto", D2)
        assert store.peak_equity(D2) == 1000.0
    assert main(["risk", "resume", "--reason", "reviewed the positions"]) == 0
    risk = load_settings().risk
    with open_store(workdirs["state"], create=False) as store:
        store.record_equity(D3, 835.0, 835.0, "demo")
        assert store.peak_equity(D3) == 840.0  # the peak restarts at the resume session (D2)
        assert store.peak_equity(D1) == 1000.0  # history before the resume keeps its peak
        status = store.risk_status()
        fell_a_little = Portfolio(D3, 835.0).with_history(store.peak_equity(D3), store.previous_equity(D3))
        assert account_transition(status, fell_a_little, risk) is None
        fell_15 = Portfolio(D3, 714.0).with_history(840.0, 760.0)  # over several sessions
        assert account_transition(status, fell_15, risk).to_state is RiskState.HALTED


def test_risk_commands_need_a_store(workdirs, capsys):
    assert main(["risk", "resume", "--reason", "x"]) == 1
    assert "does not exist yet" in capsys.readouterr().err
    assert main(["risk", "resume", "--reason", "  "]) == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a database" * 50, "is damaged (file is not a database)"),
        (b"", "is damaged (the file is empty)"),
    ],
)
def test_a_damaged_store_fails_closed_and_is_left_untouched(workdirs, content, expected):
    path = workdirs["state"] / FILE_NAME
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StoreError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        Store(path)
    from algotrading.jobs.control import RunError

    with pytest.raises(RunError, match="drawdown peak"):
        run_daily(load_settings(), D2)
    assert path.read_bytes() == content  # never reset
    assert not (workdirs["reports"] / "2025-12-31").exists()


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / FILE_NAME
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=f"schema version 99, newer than this AlgoTrading's {SCHEMA_VERSION}"):
        Store(path)


def test_tables_without_a_version_are_not_taken_over(tmp_path):
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something (x)")
    with pytest.raises(StoreError, match="holds tables"):
        Store(path)


def test_a_state_change_needs_a_reason(tmp_path):
    with open_store(tmp_path) as store, pytest.raises(ValueError, match="needs a reason"):
        store.set_risk_state(RiskState.HALTED, " ", "auto")


def test_a_version_1_store_is_migrated_keeping_its_history(tmp_path):
    from algotrading.storage.store import MIGRATIONS, SCHEMA

    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:  # a database as version 1 of AlgoTrading left it
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO equity_history VALUES ('2025-12-30', 950.0, 950.0, 'demo', 'x')")
        conn.execute(
            "INSERT INTO risk_events (at, from_state, to_state, reason, actor) "
            "VALUES ('x', 'ACTIVE', 'HALTED', 'dd', 'auto')"
        )
        conn.execute("PRAGMA user_version = 1")
    with Store(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == max(MIGRATIONS)
        assert store.peak_equity() == 950.0 and store.risk_status().state is RiskState.HALTED
        assert store.intents() == [] and store.emails() == []


# --- SQLite failures name their cause and fix (issue 15) -----------------------------


def test_a_full_disk_says_disk_full_not_cannot_rollback(tmp_path):
    """SQLite's own SQLITE_FULL, reached with max_page_count: it used to surface as
    "cannot rollback - no transaction is active", hiding the full disk."""
    from algotrading.storage.sqlite import StoreError
    from algotrading.storage.store import open_store

    with open_store(tmp_path) as store:
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page
        with pytest.raises(StoreError) as info:
            for k in range(200):
                store.start_run(f"run-{k}-" + "x" * 2000, dt.date(2025, 12, 31), "demo")
        message = str(info.value)
        assert message.startswith(f"disk full: state database {tmp_path / 'algotrading.sqlite3'} could not be written")
        assert "Free space on the disk holding" in message and "cannot rollback" not in message
        assert not store.conn.in_transaction  # rolled back: the store is usable again
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        store.start_run("after", dt.date(2025, 12, 31), "demo")
        assert "after" in set(store.runs()["run_id"])


def test_a_read_only_state_file_names_the_fix(tmp_path):
    """A read-only connection (what an immutable file or a read-only mount gives; chmod
    does not stop root, so the test opens the file read-only itself)."""
    from algotrading.storage.sqlite import StoreError
    from algotrading.storage.store import open_store

    with open_store(tmp_path) as store:
        path = tmp_path / "algotrading.sqlite3"
        store.conn.close()
        store.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        with pytest.raises(StoreError) as info:
            store.start_run("r1", dt.date(2025, 12, 31), "demo")
    message = str(info.value)
    assert message.startswith(f"state database {path} cannot be written (attempt to write a readonly database)")
    assert "chattr -i" in message and "ALGOTRADING_STATE_DIR" in message


def test_a_dropped_table_is_damage_found_at_open(tmp_path):
    from algotrading.storage.sqlite import StoreError
    from algotrading.storage.store import open_store

    with open_store(tmp_path) as store:
        store.conn.execute("DROP TABLE runs")
    with pytest.raises(StoreError, match=r"is damaged \(table\(s\) runs missing\)\. The run stopped"):
        open_store(tmp_path)


def test_in_scratch_files_a_store_is_opened_and_checked_once_and_closed_when_the_block_ends(tmp_path):
    """A replay reopens its own scratch store every session: inside ``scratch_files`` the
    later opens share the first connection (what one wrote, the next reads), commits skip
    the disk wait, and the block's end closes it; outside, every open is its own again."""
    with scratch_files():
        with open_store(tmp_path) as first:
            first.record_equity(dt.date(2024, 1, 2), 1000.0, 1000.0, "demo")
            conn = first.conn
        with open_store(tmp_path) as second:
            assert second.conn is conn  # the same connection, still open after the first's close
            assert second.conn.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
            assert second.conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
            assert second.conn.execute("PRAGMA locking_mode").fetchone()[0] == "exclusive"
            assert second.latest_equity_session() == dt.date(2024, 1, 2)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")  # closed by the block's end
    with open_store(tmp_path) as third, open_store(tmp_path) as fourth:
        assert third.conn is not fourth.conn
        assert third.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
        assert third.conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert third.conn.execute("PRAGMA locking_mode").fetchone()[0] == "normal"
        assert fourth.latest_equity_session() == dt.date(2024, 1, 2)


def test_another_accounts_state_is_opened_read_only(tmp_path):
    """A paper twin's ledger, read by its live account's run: no write, no migration."""
    with pytest.raises(StoreError, match="does not exist yet"):
        open_store(tmp_path / "none", read_only=True)
    open_store(tmp_path).close()
    with open_store(tmp_path, read_only=True) as store, pytest.raises(StoreError, match="cannot be written"):
        store.record_equity(dt.date(2024, 1, 2), 1.0, 1.0, "test")
    conn = sqlite3.connect(tmp_path / FILE_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.close()
    with pytest.raises(StoreError, match=f"older than this AlgoTrading's {SCHEMA_VERSION}; it is read here without"):
        open_store(tmp_path, read_only=True)
