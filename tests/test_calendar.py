"""NYSE calendar: 2026 holidays, the early close after Thanksgiving, DST switch days, and
"latest completed session" around close + 15 minutes (America/New_York)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from algotrading import calendar as cal
from algotrading.daily.session import holiday_name

NY = ZoneInfo("America/New_York")
UTC = dt.UTC
D = dt.date


def ny(y, m, d, hh, mm):
    return dt.datetime(y, m, d, hh, mm, tzinfo=NY)


def test_thanksgiving_2026_is_a_holiday_and_the_next_day_closes_early():
    assert not cal.is_session(D(2026, 11, 26))
    assert holiday_name(D(2026, 11, 26)) == "Thanksgiving"
    assert cal.is_session(D(2026, 11, 27))
    assert cal.is_early_close(D(2026, 11, 27))
    assert cal.session_close(D(2026, 11, 27)) == ny(2026, 11, 27, 13, 0)
    assert not cal.is_early_close(D(2026, 11, 25))
    assert cal.session_close(D(2026, 11, 25)) == ny(2026, 11, 25, 16, 0)


@pytest.mark.parametrize(
    "day",
    [
        D(2026, 1, 1),
        D(2026, 1, 19),
        D(2026, 2, 16),
        D(2026, 4, 3),
        D(2026, 5, 25),
        D(2026, 6, 19),
        D(2026, 7, 3),
        D(2026, 9, 7),
        D(2026, 12, 25),
    ],
)
def test_other_2026_holidays(day):
    assert not cal.is_session(day)
    assert holiday_name(day) is not None


def test_weekend_is_not_a_session_and_has_no_holiday_name():
    assert not cal.is_session(D(2026, 11, 28))
    assert holiday_name(D(2026, 11, 28)) is None


def test_previous_and_next_session_skip_holidays_and_weekends():
    assert cal.next_session(D(2026, 11, 25)) == D(2026, 11, 27)
    assert cal.previous_session(D(2026, 11, 27)) == D(2026, 11, 25)
    assert cal.previous_session(D(2026, 11, 30)) == D(2026, 11, 27)
    assert cal.next_session(D(2026, 11, 26)) == D(2026, 11, 27)  # from a holiday
    assert cal.previous_session(D(2026, 11, 29)) == D(2026, 11, 27)  # from a Sunday


def test_sessions_between_and_window():
    assert cal.sessions_between(D(2026, 11, 23), D(2026, 11, 30)) == [
        D(2026, 11, 23),
        D(2026, 11, 24),
        D(2026, 11, 25),
        D(2026, 11, 27),
        D(2026, 11, 30),
    ]
    assert cal.session_window(D(2026, 11, 30), 3) == [D(2026, 11, 25), D(2026, 11, 27), D(2026, 11, 30)]
    with pytest.raises(ValueError, match="not an NYSE session"):
        cal.session_window(D(2026, 11, 26), 3)


@pytest.mark.parametrize(
    ("before_dst", "after_dst"),
    [
        (D(2026, 3, 6), D(2026, 3, 9)),  # clocks spring forward on Sunday 2026-03-08
        (D(2026, 10, 30), D(2026, 11, 2)),  # and fall back on Sunday 2026-11-01
    ],
)
def test_close_is_4pm_new_york_on_both_sides_of_a_dst_switch(before_dst, after_dst):
    for day in (before_dst, after_dst):
        close = cal.session_close(day)
        assert (close.hour, close.minute) == (16, 0)
    utc_hours = {cal.session_close(d).astimezone(UTC).hour for d in (before_dst, after_dst)}
    assert utc_hours == {20, 21}  # EDT close is 20:00Z, EST close 21:00Z


@pytest.mark.parametrize(
    ("now_utc", "expected"),
    [
        # Monday after the spring switch: EDT, close 20:00Z, bars final 20:15Z
        (dt.datetime(2026, 3, 9, 20, 14, 59, tzinfo=UTC), D(2026, 3, 6)),
        (dt.datetime(2026, 3, 9, 20, 15, tzinfo=UTC), D(2026, 3, 9)),
        # Monday after the autumn switch: EST, close 21:00Z, bars final 21:15Z
        (dt.datetime(2026, 11, 2, 21, 14, tzinfo=UTC), D(2026, 10, 30)),
        (dt.datetime(2026, 11, 2, 21, 15, tzinfo=UTC), D(2026, 11, 2)),
        # an ordinary day, in New York time
        (ny(2026, 11, 25, 16, 14), D(2026, 11, 24)),
        (ny(2026, 11, 25, 16, 15), D(2026, 11, 25)),
        # the holiday itself, all day
        (ny(2026, 11, 26, 18, 0), D(2026, 11, 25)),
        # early close: 1:00 PM + 15 min
        (ny(2026, 11, 27, 13, 14), D(2026, 11, 25)),
        (ny(2026, 11, 27, 13, 15), D(2026, 11, 27)),
        # weekend and early morning
        (ny(2026, 11, 28, 10, 0), D(2026, 11, 27)),
        (ny(2026, 11, 30, 9, 0), D(2026, 11, 27)),
    ],
)
def test_latest_completed_session(now_utc, expected):
    assert cal.latest_completed_session(now_utc) == expected


def test_settle_minutes_are_configurable():
    assert cal.latest_completed_session(ny(2026, 11, 25, 16, 5), settle_minutes=0) == D(2026, 11, 25)
    assert cal.latest_completed_session(ny(2026, 11, 25, 16, 29), settle_minutes=30) == D(2026, 11, 24)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.latest_completed_session(dt.datetime(2026, 11, 25, 17, 0))


def test_dates_outside_the_calendar_are_refused():
    with pytest.raises(cal.CalendarRangeError, match="outside the NYSE calendar"):
        cal.is_session(D(1990, 1, 2))


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """A cache folder of the test's own; the calendar built again before and after."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cal._xnys.cache_clear()
    yield tmp_path / "cache" / "algotrading"
    cal._xnys.cache_clear()


def _answers(calendar) -> dict[str, object]:  # noqa: ANN001
    """What the package asks of the calendar, over its whole span."""
    return {
        "sessions": list(calendar.sessions),
        "opens": list(calendar.opens),
        "closes": list(calendar.closes),
        "early": list(calendar.early_closes),
        "bounds": (calendar.first_session, calendar.last_session),
    }


_READ_BACK = """
import exchange_calendars
def refuse(*args, **kwargs):
    raise AssertionError("built again")
exchange_calendars.get_calendar = refuse
from algotrading import calendar as cal
print(cal.is_session("2026-11-27"), cal.is_session("2026-11-26"), cal.session_close("2026-11-27").hour)
"""


def test_the_built_calendar_is_kept_and_a_later_process_reads_it_back_the_same(cache_home):
    import pickle
    import subprocess
    import sys

    built = cal._xnys()
    (kept,) = cache_home.glob("xnys-*.pickle")
    assert _answers(pickle.loads(kept.read_bytes())) == _answers(built)
    # a later process answers from the kept calendar: building one fails there
    done = subprocess.run([sys.executable, "-c", _READ_BACK], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "13"]


def test_a_damaged_kept_calendar_is_built_again_and_replaces_the_other_days(cache_home):
    built = cal._xnys()
    (kept,) = cache_home.glob("xnys-*.pickle")
    kept.write_bytes(b"not a calendar")
    older = cache_home / "xnys-4.0-pandas2.0-2000-01-01-2020-01-01.pickle"
    older.write_bytes(b"another day's")
    cal._xnys.cache_clear()
    assert _answers(cal._xnys()) == _answers(built)
    assert list(cache_home.glob("xnys-*.pickle")) == [kept]  # rewritten whole; the other day's removed
    cal._xnys.cache_clear()
    assert _answers(cal._xnys()) == _answers(built)


def test_a_cache_folder_that_cannot_be_written_only_costs_the_build(cache_home, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a folder cannot be made under a file (also as root)
    assert cal.is_session(D(2026, 11, 27)) and cal._xnys().last_session.year >= dt.date.today().year + 1
    assert not list(tmp_path.glob("**/.xnys-*"))
