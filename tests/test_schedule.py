"""The crontab schedule on a real server's cron: Debian's cron fires in the host's zone and
ignores CRON_TZ, so the block has a line per host time the New York time can be, and
``--at`` lets only the right one work. Fire times are computed with Debian cron's rules."""

from __future__ import annotations

import datetime as dt
import os
import stat
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from algotrading import calendar as cal
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.ops import schedule

from .conftest import ROOT

UTC = ZoneInfo("UTC")
NY = schedule.NEW_YORK


@pytest.fixture
def utc_host(monkeypatch):
    """A host whose clock and cron run in UTC, whatever this machine says."""
    monkeypatch.setenv("ALGOTRADING_HOST_TZ", "UTC")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def job_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]


def test_the_block_has_a_line_per_host_time_and_no_cron_tz(workdirs, utc_host, capsys):
    assert main(["schedule", "print"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == schedule.BEGIN and lines[-1] == schedule.END
    assert not any(line.startswith("CRON_TZ") for line in lines)  # Debian's cron would ignore it
    jobs = job_lines(out)
    # 16:30 New York is 21:30 UTC in winter (EST, UTC-5) and 20:30 UTC in summer (EDT, UTC-4)
    assert [j.split(" cd ")[0] for j in jobs] == ["30 20 * * 1-5", "30 21 * * 1-5"]
    for job in jobs:
        assert job.endswith("./run_daily.sh --at 16:30 >> " + str(workdirs["reports"] / "cron.log") + " 2>&1")
        assert f"cd {ROOT} && " in job


def test_the_time_comes_from_daily_execution_time_and_paper_submits_have_a_morning_run(workdirs, utc_host, monkeypatch):
    monkeypatch.setenv("DAILY_EXECUTION_TIME", "17:05")
    monkeypatch.setenv("ALPACA_API_KEY", "PKXXXXXXXX")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secretxxxxxxxx")
    text = schedule.cron_text(load_settings(), submit=True, year=2026)
    assert "\n5 21 * * 1-5 " in text and "\n5 22 * * 1-5 " in text
    assert "./run_daily.sh --at 17:05 --submit >> " in text
    assert "\n45 13 * * 1-5 " in text and "\n45 14 * * 1-5 " in text  # 09:45 EDT and EST
    assert "./run_daily.sh --at 09:45 --submit --pending >> " in text
    units = schedule.systemd_units(load_settings(), submit=True)
    assert "OnCalendar=Mon..Fri *-*-* 17:05:00 America/New_York" in units["algotrading-daily.timer"]
    assert "ExecStart=" + str(ROOT / "run_daily.sh") + " --submit --pending" in units["algotrading-pending.service"]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", ["30 16 * * 1-5"]),
        ("America/Los_Angeles", ["30 13 * * 1-5"]),  # same DST dates: one line
        ("Europe/Berlin", ["30 21 * * 1-5", "30 22 * * 1-5"]),  # Europe changes DST on other dates
        ("Asia/Tokyo", ["30 5 * * 2-6", "30 6 * * 2-6"]),  # the next morning there: Tuesday to Saturday
        ("Australia/Sydney", ["30 6 * * 2-6", "30 7 * * 2-6", "30 8 * * 2-6"]),  # its DST is the other way round
    ],
)
def test_host_times_in_other_zones(zone, expected):
    assert [s.fields() for s in schedule.host_slots("16:30", ZoneInfo(zone), 2026)] == expected


def working(block: str, day: dt.date, zone: ZoneInfo = UTC, daemon: str = "cron") -> list[str]:
    """The New York times at which a job of ``block`` does something on New York's ``day``."""
    fired = [
        f
        for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1))
        for f in schedule.fire_times(block, zone, d, daemon)
    ]
    return [f"{f.at:%H:%M %Z}{' pending' if f.pending else ''}" for f in fired if f.at.date() == day and f.works]


@pytest.mark.parametrize(
    ("day", "expected", "why"),
    [
        (dt.date(2026, 1, 15), ["09:45 EST pending", "16:30 EST"], "winter (EST)"),
        (dt.date(2026, 7, 15), ["09:45 EDT pending", "16:30 EDT"], "summer (EDT)"),
        (dt.date(2026, 3, 8), [], "the Sunday clocks go forward: no session"),
        (dt.date(2026, 3, 9), ["09:45 EDT pending", "16:30 EDT"], "the first session after it"),
        (dt.date(2026, 11, 1), [], "the Sunday clocks go back"),
        (dt.date(2026, 11, 2), ["09:45 EST pending", "16:30 EST"], "the first session after it"),
        (dt.date(2026, 11, 27), ["09:45 EST pending", "16:30 EST"], "early close at 13:00"),
    ],
)
def test_fire_times_on_a_utc_host_with_debian_cron(workdirs, utc_host, monkeypatch, day, expected, why):
    monkeypatch.setenv("ALPACA_API_KEY", "PKXXXXXXXX")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secretxxxxxxxx")
    block = schedule.cron_text(load_settings(), submit=True, year=2026)
    assert working(block, day) == expected, why
    for text in expected:
        if "pending" not in text:  # the daily run: after the bar is final, before 18:00
            at = dt.datetime.combine(day, dt.time(*map(int, text[:5].split(":"))), NY)
            assert cal.bar_final_at(day) <= at < dt.datetime.combine(day, dt.time(18), NY)


def test_a_year_of_sessions_has_exactly_one_daily_run_after_the_close_in_every_zone():
    settings_like = "16:30"
    for zone in ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata"):
        z = ZoneInfo(zone)
        block = "\n".join(
            f"{s.fields()} cd /x && ./run_daily.sh --at {settings_like}"
            for s in schedule.host_slots(settings_like, z, 2026)
        )
        assert schedule.schedule_problems(block, z, "cron", dt.date(2026, 1, 1), 365) == [], zone


OLD_BLOCK = """CRON_TZ=America/New_York
30 16 * * 1-5 cd /x && ./run_daily.sh --submit >> /x/cron.log 2>&1
45 9 * * 1-5 cd /x && ./run_daily.sh --submit --pending >> /x/cron.log 2>&1
"""


def test_the_old_cron_tz_block_fires_during_trading_on_debian_cron():
    """What the earlier install wrote: on a UTC host Debian's cron runs it at 16:30 UTC."""
    assert working(OLD_BLOCK, dt.date(2026, 1, 15)) == ["04:45 EST pending", "11:30 EST"]
    assert working(OLD_BLOCK, dt.date(2026, 7, 15)) == ["05:45 EDT pending", "12:30 EDT"]
    problems = schedule.schedule_problems(OLD_BLOCK, UTC, "cron", dt.date(2026, 1, 12), 5)
    assert problems[0] == (
        "2026-01-12: the daily run would start at 11:30 New York time, while the market is open or before the "
        "bar is final (close 16:00)"
    )
    # cronie honours CRON_TZ: there the same block is right
    assert working(OLD_BLOCK, dt.date(2026, 1, 15), daemon="crond") == ["09:45 EST pending", "16:30 EST"]
    assert schedule.schedule_problems(OLD_BLOCK, UTC, "crond", dt.date(2026, 1, 1), 365) == []


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (dt.datetime(2026, 1, 15, 16, 30, tzinfo=NY), True),
        (dt.datetime(2026, 1, 15, 16, 49, 59, tzinfo=NY), True),
        (dt.datetime(2026, 1, 15, 16, 50, tzinfo=NY), False),
        (dt.datetime(2026, 1, 15, 16, 29, 59, tzinfo=NY), False),
        (dt.datetime(2026, 1, 15, 20, 30, tzinfo=UTC), False),  # 15:30 EST: the summer line in winter
        (dt.datetime(2026, 7, 15, 20, 30, tzinfo=UTC), True),  # 16:30 EDT
    ],
)
def test_at_is_due_only_in_its_window(now, due):
    assert schedule.is_due("16:30", now) is due


def test_the_run_at_the_wrong_host_time_does_nothing(workdirs, capsys):
    with time_machine.travel(dt.datetime(2026, 1, 15, 20, 30, tzinfo=UTC), tick=False):  # 15:30 in New York
        assert main(["daily", "--at", "16:30"]) == 0
    assert "scheduled for 16:30 New York time; it is 15:30 there now (outside 16:30 + 20 min): nothing to do" in (
        capsys.readouterr().out
    )
    assert not workdirs["reports"].exists() and not workdirs["state"].exists()


def test_the_run_at_the_right_host_time_goes_on(workdirs, caplog):
    with time_machine.travel(dt.datetime(2026, 12, 25, 21, 30, tzinfo=UTC), tick=False):  # 16:30 in New York
        assert main(["daily", "--at", "16:30", "--date", "2025-12-25"]) == 0
    assert "market closed: 2025-12-25 is not an NYSE session (Christmas)" in caplog.text


def test_a_bad_at_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["daily", "--at", "4:30pm"])
    assert exit_info.value.code == 2
    assert "'4:30pm' is not a time: use HH:MM on a 24-hour clock, e.g. 16:30" in capsys.readouterr().err


def test_install_merges_into_an_existing_crontab_and_is_idempotent(workdirs, utc_host, monkeypatch, tmp_path):
    """`crontab` (not installed on this machine) is stood in for by a script keeping a file."""
    table = tmp_path / "crontab.txt"
    table.write_text("MAILTO=me@example.com\n0 3 * * * /usr/bin/backup\n")
    fake = tmp_path / "crontab"
    fake.write_text(f'#!/bin/sh\nif [ "$1" = "-l" ]; then cat {table}; else cat > {table}; fi\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ALGOTRADING_CRONTAB_CMD", str(fake))
    assert main(["schedule", "install"]) == 0
    assert main(["schedule", "install"]) == 0
    text = table.read_text()
    assert text.startswith("MAILTO=me@example.com\n0 3 * * * /usr/bin/backup\n\n")
    assert text.count(schedule.BEGIN) == 1 and text.count("./run_daily.sh --at 16:30 >>") == 2
    assert schedule.installed_block() == text[text.index(schedule.BEGIN) :].rstrip("\n")


def test_install_without_crontab_says_what_to_do(workdirs, monkeypatch, capsys):
    monkeypatch.setenv("ALGOTRADING_CRONTAB_CMD", "/nonexistent/crontab")
    assert main(["schedule", "install"]) == 1
    assert (
        "install cron (Debian: apt-get install cron), or use `algotrading schedule install --systemd`"
        in capsys.readouterr().err
    )


def test_the_host_zone_is_the_systems_not_the_shells(monkeypatch):
    monkeypatch.delenv("ALGOTRADING_HOST_TZ", raising=False)
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a user's shell setting: cron does not see it
    zone = schedule.host_zone()
    link = os.path.realpath("/etc/localtime").partition("zoneinfo/")[2]
    assert zone.key in {link, open("/etc/timezone").read().strip() if os.path.exists("/etc/timezone") else link}
    monkeypatch.setenv("ALGOTRADING_HOST_TZ", "Europe/Berlin")
    assert schedule.host_zone().key == "Europe/Berlin"
