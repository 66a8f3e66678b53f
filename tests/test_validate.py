"""``algotrading validate`` (Requirement 4.1): every check passes on the demo setup and
fails, naming the fix, on a setup crafted to break it. The Alpaca checks run alpaca-py
against the local Alpaca server; the SMTP check logs in to a real aiosmtpd."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest
import yaml

from algotrading.cli import main
from algotrading.config import ConfigError, load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.ops import schedule
from algotrading.ops.validate import CHECK_NAMES, Level, validate

from .alpaca_server import FakeAlpaca
from .smtp_server import PASSWORD, USER, SmtpServer

# 2025-12-31 17:00 New York: the last bundled session's bar is final
AFTER_LAST_SESSION = dt.datetime(2025, 12, 31, 22, 0, tzinfo=dt.UTC)


def levels(result) -> dict[str, str]:
    """name -> level; a check listed twice (two configuration problems) keeps the worst."""
    order = {"PASS": 0, "SKIP": 1, "WARN": 2, "FAIL": 3}
    out: dict[str, str] = {}
    for c in result.checks:
        if order[c.level.value] >= order.get(out.get(c.name, "PASS"), 0):
            out[c.name] = c.level.value
    return out


def check(result, name: str):
    (found,) = [c for c in result.checks if c.name == name]
    return found


@pytest.fixture
def alpaca(workdirs, monkeypatch):
    bars = BundledBarsProvider().get_bars(["SPY", "^VIX"], dt.date(2025, 11, 1), dt.date(2025, 12, 31))
    fake = FakeAlpaca(bars=bars).start()
    for key, value in fake.environment().items():
        monkeypatch.setenv(key, value)
    yield fake
    fake.stop()


def test_the_demo_setup_passes_with_only_the_schedule_to_do(workdirs, crontab, capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "PASSED with 1 warning(s)" in out and "fix: run `algotrading schedule install`" in out
    result = validate(load_settings())
    assert [c.name for c in result.checks] == list(CHECK_NAMES)
    assert {n: lv for n, lv in levels(result).items() if lv != "PASS"} == {"schedule": "WARN"}
    assert main(["schedule", "install"]) == 0
    assert levels(validate(load_settings()))["schedule"] == "PASS"


def test_a_dotenv_others_can_read_warns_on_paper_and_fails_live(workdirs, monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_POSITION_SIZE=250\n")
    env_file.chmod(0o644)  # what an editor or `cp .env.example .env` leaves under umask 022
    monkeypatch.setenv("ALGOTRADING_ENV_FILE", str(env_file))
    paper = {c.name: c for c in validate(load_settings()).checks}["secrets_at_rest"]
    assert paper.level is Level.WARN and paper.fix == f"chmod 600 {env_file}"
    assert paper.detail == (
        f"{env_file} (mode 644) can be read by its group and every user; it holds the API keys and SMTP password"
    )
    live = {c.name: c for c in validate(load_settings(), live=True).checks}["secrets_at_rest"]
    assert live.level is Level.FAIL
    env_file.chmod(0o640)
    assert (
        "can be read by its group;" in {c.name: c for c in validate(load_settings()).checks}["secrets_at_rest"].detail
    )
    env_file.chmod(0o600)
    fixed = {c.name: c for c in validate(load_settings(), live=True).checks}["secrets_at_rest"]
    assert (fixed.level, fixed.detail) == (Level.PASS, f"{env_file}: mode 600, its owner's only")


def test_json_output(workdirs, crontab, capsys):
    assert main(["validate", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True and doc["mode"] == "demo" and len(doc["checks"]) == len(CHECK_NAMES)
    assert {"name", "level", "detail", "fix"} <= set(doc["checks"][0])


def test_min_position_400_fails_naming_the_fix(workdirs, monkeypatch, capsys):
    monkeypatch.setenv("MIN_POSITION_SIZE", "400")
    assert main(["validate"]) == 2
    out = capsys.readouterr().out
    assert "FAIL  safety_limits    MIN_POSITION_SIZE ($400) is larger than MAX_POSITION_SIZE ($300)" in out
    assert "Lower MIN_POSITION_SIZE or raise MAX_POSITION_SIZE" in out
    assert "FAIL  configuration" in out and "SKIP  smtp" in out


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"MAX_DRAWDOWN_PCT": "150"}, "risk_parameters"),
        ({"PAPER_TRADING_MODE": "false"}, "trading_mode"),
        ({"ALPACA_API_KEY": "PKONLYONE"}, "environment"),
        ({"CONFIDENCE_WEIGHT": "0.9"}, "configuration"),
    ],
)
def test_a_refused_configuration_fails_under_its_check(workdirs, monkeypatch, env, name):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as err:
        load_settings()
    result = validate(None, config_error=err.value)
    assert levels(result)[name] == "FAIL" and not result.passed and result.mode is None
    assert all(c.fix for c in result.failures)


def test_loose_or_disabled_risk_controls(workdirs, monkeypatch):
    monkeypatch.setenv("EMERGENCY_STOP_ENABLED", "false")
    c = check(validate(load_settings()), "risk_parameters")
    assert c.level is Level.WARN and c.fix == "set EMERGENCY_STOP_ENABLED=true"
    assert check(validate(load_settings(), live=True), "risk_parameters").level is Level.FAIL
    monkeypatch.setenv("EMERGENCY_STOP_ENABLED", "true")
    monkeypatch.setenv("MAX_DRAWDOWN_PCT", "40")
    assert "looser than a $1K account" in check(validate(load_settings()), "risk_parameters").detail


def test_limits_that_leave_most_money_idle_warn(workdirs, monkeypatch):
    monkeypatch.setenv("MAX_POSITION_SIZE", "60")
    c = check(validate(load_settings()), "safety_limits")
    assert c.level is Level.WARN and "4 x $60 invests under half of $900" in c.detail


def test_paper_and_production_together_warn(workdirs, monkeypatch):
    monkeypatch.setenv("PRODUCTION_MODE", "true")
    assert check(validate(load_settings()), "trading_mode").level is Level.WARN


def test_live_checks_fail_on_the_demo_setup(workdirs, crontab, capsys):
    assert main(["validate", "--live"]) == 1
    result = validate(load_settings(), live=True)
    assert {n for n, lv in levels(result).items() if lv == "FAIL"} == {
        "environment",
        "trading_mode",
        "alpaca_account",
        "paper_sessions",
        "smtp",
        "schedule",
    }


def test_a_paper_account_passes_its_checks_and_is_named(alpaca):
    result = validate(load_settings(), now=AFTER_LAST_SESSION)
    assert check(result, "alpaca_account").detail == "paper account ****CCT1: ACTIVE, equity $1,000.00"
    assert check(result, "alpaca_account").level is Level.PASS
    assert check(result, "market_data").level is Level.PASS
    assert check(result, "market_data").detail == (
        "SPY bar of 2025-12-31 (the latest completed session) present, from alpaca-sip; ^VIX from yahoo"
    )
    assert check(result, "environment").level is Level.WARN  # paper without email
    assert check(validate(load_settings(), live=True, now=AFTER_LAST_SESSION), "alpaca_account").level is Level.FAIL


def test_no_vix_from_the_fallback_warns_that_the_breakers_vix_part_is_off(alpaca, monkeypatch):
    alpaca.yahoo.missing = {"^VIX"}
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "market_data")
    assert c.level is Level.WARN
    assert c.detail.startswith("SPY bar of 2025-12-31 (the latest completed session) present, from alpaca-sip; no ^VIX")
    assert "alpaca-sip: an index: Alpaca's stock data does not offer it" in c.detail
    assert "yahoo failed" in c.detail and c.detail.endswith("the circuit breaker's ^VIX part is off")
    assert "data.fallback.source: yahoo" in c.fix


def test_sip_refused_is_served_by_iex_and_named(alpaca):
    alpaca.sip_allowed = False
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "market_data")
    assert c.level is Level.PASS
    assert "present, from alpaca-iex (alpaca-sip refused: Alpaca refused SIP bars (HTTP 403" in c.detail


def test_a_blocked_account_fails(alpaca):
    alpaca.blocked = True
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "alpaca_account")
    assert c.level is Level.FAIL and "blocked" in c.detail and "Alpaca dashboard" in c.fix


def test_live_configuration_with_a_paper_account_fails(alpaca, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_MODE", "false")
    monkeypatch.setenv("PRODUCTION_MODE", "true")
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "alpaca_account")
    assert c.level is Level.FAIL and "but live trading is configured" in c.detail
    alpaca.account_number = "3LIVEACCT99"
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "alpaca_account")
    assert (c.level, c.detail) == (Level.PASS, "LIVE account ****CT99: ACTIVE, equity $1,000.00")


def test_wrong_keys_or_no_server_fail(alpaca, monkeypatch, workdirs):
    for name, changes in {  # each read still retried, without the real waits (20 s of sleeping)
        "data.yaml": {
            "alpaca": {"retry_wait_seconds": 0.01, "retry_max_wait_seconds": 0.01},
            "fallback": {"retry_attempts": 1},
        },
        "broker.yaml": {"retry_wait_seconds": 0.01, "retry_max_wait_seconds": 0.01},
    }.items():
        doc = yaml.safe_load((workdirs["params"] / name).read_text())
        for key, value in changes.items():
            doc[key] = doc[key] | value if isinstance(value, dict) else value
        (workdirs["params"] / name).write_text(yaml.safe_dump(doc))
    alpaca.stop()
    monkeypatch.setenv("ALPACA_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "alpaca_account")
    assert c.level is Level.FAIL and "not reachable" in c.detail and "ALPACA_API_KEY" in c.fix


def test_an_account_far_from_portfolio_size_warns(alpaca):
    alpaca.cash = 1500.0
    c = check(validate(load_settings(), now=AFTER_LAST_SESSION), "account_size")
    assert c.level is Level.WARN and "50% apart" in c.detail and c.fix.startswith("set PORTFOLIO_SIZE=1500")
    alpaca.cash = 1150.0
    assert check(validate(load_settings(), now=AFTER_LAST_SESSION), "account_size").level is Level.PASS


def test_stale_market_data_fails(alpaca):
    later = dt.datetime(2026, 1, 6, 23, 0, tzinfo=dt.UTC)  # the fake has bars to 2025-12-31 only
    c = check(validate(load_settings(), now=later), "market_data")
    assert c.level is Level.FAIL and "the latest SPY bar is 2025-12-31" in c.detail and "2026-01-06" in c.detail


def _smtp_env(monkeypatch, workdirs, server, password):
    path = workdirs["params"] / "email.yaml"
    doc = yaml.safe_load(path.read_text()) | {"tls_ca_file": str(server.cert), "timeout_seconds": 5}
    path.write_text(yaml.safe_dump(doc))
    for key, value in {
        "EMAIL_SMTP_SERVER": "127.0.0.1",
        "EMAIL_SMTP_PORT": str(server.port),
        "EMAIL_USERNAME": USER,
        "EMAIL_PASSWORD": password,
        "EMAIL_TO": "trader@example.com",
    }.items():
        monkeypatch.setenv(key, value)


def test_smtp_login_is_checked_without_sending(workdirs, monkeypatch, tmp_path):
    server = SmtpServer(tmp_path).start()
    try:
        _smtp_env(monkeypatch, workdirs, server, PASSWORD)
        c = check(validate(load_settings()), "smtp")
        assert c.level is Level.PASS and f"login of {USER} accepted (nothing sent)" in c.detail
        _smtp_env(monkeypatch, workdirs, server, "wrong-password")
        c = check(validate(load_settings()), "smtp")
        assert c.level is Level.FAIL and "refused the login" in c.detail
    finally:
        server.stop()
    logins = server.recorder.logins  # smtplib tries each AUTH mechanism the server offers once
    assert (
        server.messages == []
        and logins[0] == (USER, True)
        and [ok for _, ok in logins[1:]] == [False] * (len(logins) - 1)
    )


def test_smtp_server_down_fails(workdirs, monkeypatch, tmp_path):
    server = SmtpServer(tmp_path).start()
    server.stop()
    _smtp_env(monkeypatch, workdirs, server, PASSWORD)
    c = check(validate(load_settings()), "smtp")
    assert c.level is Level.FAIL and "cannot reach the SMTP server" in c.detail


def test_a_damaged_or_newer_state_database_fails(workdirs):
    workdirs["state"].mkdir(parents=True)
    db = workdirs["state"] / "algotrading.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    c = check(validate(load_settings()), "state_database")
    assert c.level is Level.FAIL and "restore it from a backup" in c.fix
    db.unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
        conn.execute("CREATE TABLE x (a)")
    c = check(validate(load_settings()), "state_database")
    assert c.level is Level.FAIL and "newer than this version's" in c.detail and "git pull" in c.fix
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"  # left as it was


def test_an_unusable_reports_folder_fails(workdirs, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("ALGOTRADING_REPORTS_DIR", str(blocker / "reports"))
    c = check(validate(load_settings()), "reports_folder")
    assert c.level is Level.FAIL and "ALGOTRADING_REPORTS_DIR" in c.fix
    monkeypatch.setenv("ALGOTRADING_REPORTS_DIR", str(workdirs["reports"]))
    path = workdirs["params"] / "schedule.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(path.read_text()) | {"min_free_disk_mb": 10**9}))
    c = check(validate(load_settings()), "reports_folder")
    assert c.level is Level.FAIL and "MB free" in c.detail


def test_systemd_units_count_as_scheduled(workdirs, crontab, tmp_path):
    assert check(validate(load_settings()), "schedule").level is Level.WARN
    schedule.install_systemd(load_settings(), schedule.systemd_user_dir())
    assert check(validate(load_settings()), "schedule").detail.startswith("the daily run is scheduled (systemd)")


def test_a_run_an_orchestrators_schedule_started_counts_as_scheduled(workdirs, crontab, monkeypatch):
    """examples/prefect_flow.py's scheduled runs name their deployment to the command: a live
    submission they start is not refused for want of a crontab or systemd timer."""
    assert check(validate(load_settings(), live=True), "schedule").level is Level.FAIL
    monkeypatch.setenv(schedule.SCHEDULED_BY, "Prefect deployment algotrading-daily/after-the-close")
    c = check(validate(load_settings(), live=True), "schedule")
    assert c.level is Level.PASS
    assert c.detail == (
        "this run was started by a schedule of Prefect deployment algotrading-daily/after-the-close (an orchestrator)"
    )


WINTER = dt.datetime(2026, 1, 12, 22, 0, tzinfo=dt.UTC)


def test_the_installed_block_is_checked_by_when_debian_cron_really_fires_it(workdirs, crontab):
    assert main(["schedule", "install"]) == 0
    c = check(validate(load_settings(), now=WINTER), "schedule")
    assert c.level is Level.PASS
    assert c.detail == (
        "crontab, `cron` ignores CRON_TZ, host zone UTC: the daily run works once per session at 16:30 New York "
        "time over the next 370 days (fires on 2026-01-12: 15:30 (20:30 UTC: does nothing), 16:30 (21:30 UTC))"
    )


def test_an_old_cron_tz_block_fails_live_because_it_fires_during_trading(workdirs, crontab):
    root = str(load_settings().paths.root)
    crontab.write_text(
        f"{schedule.BEGIN}\nCRON_TZ=America/New_York\n30 16 * * 1-5 cd {root} && ./run_daily.sh --submit\n"
        f"{schedule.END}\n"
    )
    c = check(validate(load_settings(), live=True, now=WINTER), "schedule")
    assert c.level is Level.FAIL
    assert c.detail.startswith(
        "crontab, `cron` ignores CRON_TZ, host zone UTC: 2026-01-12: the daily run would start at 11:30 New York "
        "time, while the market is open or before the bar is final (close 16:00) (and "
    )
    assert "run `algotrading schedule install` again" in c.fix
    assert check(validate(load_settings(), now=WINTER), "schedule").level is Level.WARN  # paper/demo: a warning


def test_a_block_no_cron_daemon_runs_is_not_a_schedule(workdirs, crontab, monkeypatch):
    assert main(["schedule", "install"]) == 0
    monkeypatch.setenv("ALGOTRADING_CRON_DAEMON", "")
    c = check(validate(load_settings(), live=True, now=WINTER), "schedule")
    assert c.level is Level.FAIL and "no cron daemon is running: it never fires" in c.detail
    assert "systemctl enable --now cron" in c.fix
