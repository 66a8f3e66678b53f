"""Shared test setup.

The environment is scrubbed at import time, before any test (or nbval's kernel, which
inherits it) reads a setting: a developer's own keys or ``.env`` must never leak into
tests, and tests must never reach Alpaca.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# HYPOTHESIS_PROFILE=full (CI): every property test at its full example count (tests/helpers.examples).
hypothesis_settings.register_profile("full", print_blob=True)
hypothesis_settings.register_profile("default", print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_SCRUB_PREFIXES = ("ALPACA_", "EMAIL_", "ALGOTRADING_", "APCA_", "FALLBACK_", "PREFECT_")
_SEED_NAMES = {
    "PORTFOLIO_SIZE",
    "MAX_POSITION_SIZE",
    "MIN_POSITION_SIZE",
    "MIN_CASH_BUFFER",
    "MAX_POSITIONS",
    "MAX_DRAWDOWN_PCT",
    "MOMENTUM_LOOKBACK_DAYS",
    "MIN_MOMENTUM_THRESHOLD",
    "CONFIDENCE_WEIGHT",
    "MOMENTUM_WEIGHT",
    "EMERGENCY_STOP_ENABLED",
    "CIRCUIT_BREAKER_ENABLED",
    "MAX_DAILY_LOSS_PCT",
    "PAPER_TRADING_MODE",
    "PRODUCTION_MODE",
    "DAILY_EXECUTION_TIME",
    "ALERT_WEBHOOK_URL",
}
for _name in list(os.environ):
    if _name.upper().startswith(_SCRUB_PREFIXES) or _name.upper() in _SEED_NAMES:
        del os.environ[_name]
os.environ["ALGOTRADING_ENV_FILE"] = ""  # read no .env unless a test asks for one
# The fallback source (Yahoo) never goes to the internet: FakeAlpaca's environment points
# it at the fake's own port; any other paper-mode settings get a closed local port.
os.environ["FALLBACK_DATA_URL"] = "http://127.0.0.1:9"
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="algotrading-tests-"))
os.environ["ALGOTRADING_REPORTS_DIR"] = str(_SESSION_TMP / "reports")
os.environ["ALGOTRADING_STATE_DIR"] = str(_SESSION_TMP / "state")
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / "state" / "numba-cache"))
# Prefect (tests/test_orchestrator.py): its home in the session's folder, not ~/.prefect, and no usage statistics.
os.environ.update(
    PREFECT_HOME=str(_SESSION_TMP / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1"
)
# The daily runs of tests whose subject is not the notebooks run the notebooks in the test's
# process (src/algotrading/report/inprocess.py). Tests that prove the notebooks' real path
# (papermill, a kernel each) use the real_kernels fixture (or REAL_KERNELS in a
# module-scoped fixture).
IN_PROCESS = {"ALGOTRADING_NOTEBOOKS_IN_PROCESS": "1"}
REAL_KERNELS = {"ALGOTRADING_NOTEBOOKS_IN_PROCESS": "0"}
os.environ.update(IN_PROCESS)
# Every kernel jupyter_client starts in the tests (nbval's too) is forked from the warm
# server the daily run's kernels come from (src/algotrading/report/kernel_forks.py, the
# entry point in pyproject.toml): the stack is imported once per test process, not once
# per kernel. A kernel from scratch is tested in tests/test_kernels.py.
os.environ["JUPYTER_DEFAULT_PROVISIONER_NAME"] = "algotrading-forked"


@pytest.fixture
def workdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fresh reports/state folders and a private copy of params/ for one test."""
    params = tmp_path / "params"
    shutil.copytree(ROOT / "params", params)
    dirs = {"params": params, "reports": tmp_path / "reports", "state": tmp_path / "state"}
    monkeypatch.setenv("ALGOTRADING_PARAMS_DIR", str(params))
    monkeypatch.setenv("ALGOTRADING_REPORTS_DIR", str(dirs["reports"]))
    monkeypatch.setenv("ALGOTRADING_STATE_DIR", str(dirs["state"]))
    return dirs


@pytest.fixture
def real_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every daily notebook of this test's runs in a kernel of its own through papermill."""
    for name, value in REAL_KERNELS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def crontab(tmp_path, monkeypatch):
    """A stand-in ``crontab`` keeping its table in a file (cron is not installed here)."""
    table = tmp_path / "crontab.txt"
    fake = tmp_path / "crontab"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {table} 2>/dev/null || exit 1; else cat > {table}; fi\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ALGOTRADING_CRONTAB_CMD", str(fake))
    (tmp_path / "home").mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no systemd units of the developer's
    monkeypatch.setenv("ALGOTRADING_CRON_DAEMON", "cron")  # Debian's cron, as if it ran here
    monkeypatch.setenv("ALGOTRADING_HOST_TZ", "UTC")
    return table


@pytest.fixture
def smtp(tmp_path: Path):  # noqa: ANN201
    """A started local SMTP server (STARTTLS and AUTH, tests/smtp_server.py), stopped after the test."""
    from .smtp_server import SmtpServer

    server = SmtpServer(tmp_path).start()
    yield server
    server.stop()


#: Seconds each of the heaviest test files took (``--durations=0``, 2026-12-07 16:06, a quiet
#: hour of the 2-core machine, two workers: 472 s of worker time in all, after the kernels
#: became forks of a warm server). The workers (``--dist loadfile --no-loadscope-reorder``,
#: run_tests.sh) take whole files in collection order, so the longest start first and the
#: short ones fill in at the end; a file not listed counts 0 and keeps its place. Without
#: this, xdist starts the files with the most tests first, and one worker ran
#: test_submit_e2e (370 s) alone at the end.
HEAVIEST_FILES = {
    "tests/test_orchestrator.py": 50,
    "tests/test_daily_run.py": 45,
    "tests/test_submit_clock.py": 41,
    "tests/test_twin.py": 39,
    "tests/test_schedule_and_robustness.py": 31,
    "tests/test_replay.py": 26,
    "tests/test_email.py": 22,
    "tests/test_accounts.py": 21,
    "tests/test_submit_e2e.py": 19,
    "tests/test_monitoring.py": 19,
    "tests/test_backtrader_engine.py": 17,
    "tests/test_crash_delivery.py": 16,
    "tests/test_crash.py": 16,
    "tests/test_grid.py": 14,
    "tests/test_kernels.py": 14,
    "tests/test_backtest.py": 11,
    "tests/test_alpaca_broker.py": 9,
    "tests/test_plan_properties.py": 9,
    "tests/test_validate.py": 6,
    "tests/test_safety.py": 5,
    "notebooks/research/backtest_explorer.ipynb": 5,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The heaviest files first (:data:`HEAVIEST_FILES`), each file's tests in their order."""
    weight = {item: HEAVIEST_FILES.get(Path(item.path).relative_to(ROOT).as_posix(), 0) for item in items}
    items.sort(key=lambda item: -weight[item])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)
