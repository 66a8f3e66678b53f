"""The seed's transition plan (ops/transition): paper sessions before live, then a ramp."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from algotrading import calendar as cal
from algotrading.config import load_settings
from algotrading.daily.inputs import scaled_limits
from algotrading.ops.transition import live_ramp, paper_sessions
from algotrading.ops.validate import Level, check_paper_sessions
from algotrading.storage.store import open_store

FIRST = dt.date(2026, 1, 5)


def sessions(n: int) -> list[dt.date]:
    return cal.sessions_between(FIRST, FIRST + dt.timedelta(days=60))[:n]


def run(store, day: dt.date, mode: str, status: str = "ok") -> None:
    run_id = f"{day}-{mode}"
    store.start_run(run_id, day, mode)
    store.finish_run(run_id, status, report_dir=f"/x/{day}", steps={}, duration_seconds=1.0)


def portfolio(workdirs, day: dt.date, notes: list[str]) -> None:
    folder = workdirs["reports"] / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "portfolio.json").write_text(json.dumps({"reconciliation": notes}))


def test_only_clean_paper_sessions_with_a_delivered_email_count(workdirs):
    days = sessions(5)
    with open_store(workdirs["state"]) as store:
        for day in days:
            run(store, day, "paper", "failed" if day == days[4] else "ok")
            status = "outbox" if day == days[1] else "sent"  # no SMTP that day: not delivered
            store.save_email(f"daily-{day}", day, "daily", "s", "/x", status)
            notes = ["bought 1 MCD at 297.50 (entry, c1, filled)"]
            if day == days[2]:
                notes.append("MSFT: 2 shares at the broker that AlgoTrading did not open (bought elsewhere?); kept")
            portfolio(workdirs, day, notes)
        counted = paper_sessions(load_settings(), store)
    assert counted == [days[0], days[3]]


@pytest.mark.parametrize(
    ("done", "scale", "note"),
    [
        (0, 0.5, "live ramp: live session 1, position limits at 50% (sessions 1-5 of the ramp in params/broker.yaml)"),
        (4, 0.5, "live ramp: live session 5, position limits at 50% (sessions 1-5 of the ramp in params/broker.yaml)"),
        (
            5,
            0.75,
            "live ramp: live session 6, position limits at 75% (sessions 6-10 of the ramp in params/broker.yaml)",
        ),
        (10, 1.0, None),
    ],
)
def test_the_live_ramp_scales_the_first_live_sessions(workdirs, done, scale, note):
    days = sessions(done + 1)
    with open_store(workdirs["state"]) as store:
        for day in days[:done]:
            run(store, day, "live")
        run(store, days[-1], "paper")  # paper runs do not count as live
        ramp = live_ramp(load_settings(), store, days[-1])
    assert (ramp.scale, ramp.note) == (scale, note)


def test_scaled_limits_shrink_the_position_cap_only():
    settings = load_settings()
    half = scaled_limits(settings, 0.5).safety
    assert (half.max_position_size, half.max_position_pct) == (150.0, 15.0)
    assert (half.min_position_size, half.min_cash_buffer, half.max_positions) == (50.0, 100.0, 4)
    assert scaled_limits(settings, 1.0) is settings


def test_validate_counts_the_paper_sessions_and_refuses_live_before_enough(workdirs, monkeypatch):
    for key, value in {
        "ALPACA_API_KEY": "AKLIVEKEY0001",
        "ALPACA_SECRET_KEY": "secretxxxxxxxx",
        "PAPER_TRADING_MODE": "false",
        "PRODUCTION_MODE": "true",
    }.items():
        monkeypatch.setenv(key, value)
    days = sessions(3)
    with open_store(workdirs["state"]) as store:
        for day in days:
            run(store, day, "paper")
            store.save_email(f"daily-{day}", day, "daily", "s", "/x", "sent")
            portfolio(workdirs, day, [])
    now = dt.datetime(2026, 2, 2, 17, 0, tzinfo=cal.NY)
    c = check_paper_sessions(load_settings(), live=True, now=now)
    assert c.level is Level.FAIL
    assert c.detail == "3 of 10 paper sessions so far (run successfully, email delivered, reconciliation explained)"
    assert "for 7 more session(s); live --submit is refused until then" in c.fix
    monkeypatch.setenv("PAPER_VALIDATION_SESSIONS", "3")
    c = check_paper_sessions(load_settings(), live=True, now=now)
    assert c.level is Level.PASS and "live position limits now at 50% (live ramp: live session 1" in c.detail


def test_the_ramp_reaches_the_plan_through_the_run_folder(tmp_path):
    from algotrading.daily import artifacts

    assert artifacts.read_limits(tmp_path) == (1.0, None)  # a folder from before the ramp: full limits
    artifacts.write_limits(tmp_path, 0.75, "live ramp: live session 6, position limits at 75%")
    assert artifacts.read_limits(tmp_path) == (0.75, "live ramp: live session 6, position limits at 75%")
