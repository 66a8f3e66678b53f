"""NYSE sessions from exchange-calendars (XNYS): holidays, early closes, and when a
session's daily bar is final.

Dates are session labels (``datetime.date``); instants are timezone-aware. A daily bar
is treated as final ``settle_minutes`` after the session's close (4:00 PM ET, or 1:00 PM
on early-close days), which is also when the free Alpaca data plan serves it (DESIGN §8).
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd

NY = ZoneInfo("America/New_York")
DEFAULT_SETTLE_MINUTES = 15
#: Calendar bounds: wider than any date the product queries (DESIGN §9).
FIRST_DATE = dt.date(2000, 1, 1)
#: The answers kept by the session functions below (pure functions of their date): a
#: replay asks each of them several times per session, and exchange-calendars' lookups
#: cost more than everything else its planning does with the answer.
SESSION_CACHE = 16384


class CalendarRangeError(ValueError):
    """A date outside the span the calendar was built for."""


@lru_cache(maxsize=1)
def _xnys() -> xcals.ExchangeCalendar:
    """exchange-calendars' XNYS from :data:`FIRST_DATE` to two years ahead. Building it
    computes every holiday rule over those years, 0.15-0.2 s; the built calendar is kept
    in the user's cache folder (:func:`_cache_file`) and read back in 0.01 s by the day's
    later processes (each command, each test process)."""
    end = dt.date.today() + dt.timedelta(days=2 * 366)
    path = _cache_file(end)
    if path is not None:
        try:
            kept = pickle.loads(path.read_bytes())
            if isinstance(kept, xcals.ExchangeCalendar):
                return kept
        except Exception:  # absent, unreadable or from other versions: build it again
            pass
    built = xcals.get_calendar("XNYS", start=FIRST_DATE.isoformat(), end=end.isoformat())
    if path is not None:
        _keep(path, built)
    return built


def _cache_file(end: dt.date) -> Path | None:
    """Where the calendar built up to ``end`` is kept: ``$XDG_CACHE_HOME/algotrading`` (else
    ``~/.cache/algotrading``), named by everything it depends on (exchange-calendars' and
    pandas' versions, the bounds), so another version or day builds its own. None without
    a home folder."""
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home folder to cache in
        return None
    name = f"xnys-{xcals.__version__}-pandas{pd.__version__}-{FIRST_DATE}-{end}.pickle"
    return base / "algotrading" / name


def _keep(path: Path, calendar: xcals.ExchangeCalendar) -> None:
    """Write ``calendar`` to ``path`` whole or not at all (a temporary file renamed over
    it), and remove the calendars kept for other days or versions. Nothing here stops a
    command: a folder that cannot be written only means the next process builds it again."""
    tmp: str | None = None
    try:
        payload = pickle.dumps(calendar, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".xnys-", suffix=".tmp", delete=False) as out:
            tmp = out.name
            out.write(payload)
        os.replace(tmp, path)
        tmp = None
        for old in path.parent.glob("xnys-*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except Exception:  # a cache: see above
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _label(day: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(day)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(NY).tz_localize(None)
    ts = ts.normalize()
    cal = _xnys()
    if not cal.first_session <= ts <= cal.last_session:
        raise CalendarRangeError(
            f"{ts.date()} is outside the NYSE calendar's range "
            f"({cal.first_session.date()} .. {cal.last_session.date()})"
        )
    return ts


def to_date(day: dt.date | str | pd.Timestamp) -> dt.date:
    """Parse ``YYYY-MM-DD`` (or a date/timestamp) into a ``date``."""
    return pd.Timestamp(day).date()


def first_session() -> dt.date:
    """The first session the calendar knows."""
    return _xnys().first_session.date()


@lru_cache(maxsize=SESSION_CACHE)
def is_session(day: dt.date | str) -> bool:
    """True when the NYSE trades on ``day``."""
    return bool(_xnys().is_session(_label(day)))


@lru_cache(maxsize=SESSION_CACHE)
def previous_session(day: dt.date | str) -> dt.date:
    """The last session strictly before ``day`` (any date, session or not)."""
    return _xnys().date_to_session(_label(day) - pd.Timedelta(days=1), direction="previous").date()


@lru_cache(maxsize=SESSION_CACHE)
def next_session(day: dt.date | str) -> dt.date:
    """The first session strictly after ``day``."""
    return _xnys().date_to_session(_label(day) + pd.Timedelta(days=1), direction="next").date()


def sessions_between(start: dt.date | str, end: dt.date | str) -> list[dt.date]:
    """Sessions in ``[start, end]``, both inclusive."""
    labels = _xnys().sessions_in_range(_label(start), _label(end))
    return [d.date() for d in labels]


def sessions_index(start: dt.date | str, end: dt.date | str) -> pd.DatetimeIndex:
    """Sessions in ``[start, end]`` as a tz-naive ``DatetimeIndex`` (for frame alignment)."""
    return pd.DatetimeIndex(_xnys().sessions_in_range(_label(start), _label(end)))


def session_window(end: dt.date | str, count: int) -> list[dt.date]:
    """The ``count`` sessions ending with ``end`` (``end`` itself must be a session)."""
    start, idx = _window_bounds(end, count)
    return [d.date() for d in _xnys().sessions[start : idx + 1]]


def window_start(end: dt.date | str, count: int) -> dt.date:
    """The first of the ``count`` sessions ending with ``end`` (``session_window(...)[0]``)."""
    start, _ = _window_bounds(end, count)
    return _xnys().sessions[start].date()


def _window_bounds(end: dt.date | str, count: int) -> tuple[int, int]:
    label = _label(end)
    cal = _xnys()
    if not cal.is_session(label):
        raise ValueError(f"{label.date()} is not an NYSE session")
    idx = cal.sessions.get_loc(label)
    return max(0, idx - count + 1), idx


def session_numbers(dates: pd.DatetimeIndex) -> pd.Series:
    """Each session's position in the NYSE calendar (consecutive sessions differ by 1),
    so schedules like "every 21 sessions from an anchor" do not depend on which rows a
    frame happens to start with. Raises ``ValueError`` for a date that is not a session."""
    positions = _xnys().sessions.get_indexer(pd.DatetimeIndex(dates).normalize())
    if (positions < 0).any():
        bad = pd.DatetimeIndex(dates)[positions < 0][0]
        raise ValueError(f"{bad.date()} is not an NYSE session")
    return pd.Series(positions, index=dates)


@lru_cache(maxsize=SESSION_CACHE)
def session_open(day: dt.date | str) -> dt.datetime:
    """The session's open in America/New_York (9:30)."""
    label = _label(day)
    if not _xnys().is_session(label):
        raise ValueError(f"{label.date()} is not an NYSE session")
    return _xnys().session_open(label).tz_convert(NY).to_pydatetime()


@lru_cache(maxsize=SESSION_CACHE)
def session_close(day: dt.date | str) -> dt.datetime:
    """The session's close in America/New_York (16:00, or 13:00 on early-close days)."""
    label = _label(day)
    if not _xnys().is_session(label):
        raise ValueError(f"{label.date()} is not an NYSE session")
    return _xnys().session_close(label).tz_convert(NY).to_pydatetime()


def is_early_close(day: dt.date | str) -> bool:
    """True on sessions that close before 4:00 PM ET (e.g. the day after Thanksgiving)."""
    return session_close(day).time() < dt.time(16, 0)


def bar_final_at(day: dt.date | str, settle_minutes: int = DEFAULT_SETTLE_MINUTES) -> dt.datetime:
    """When the session's daily bar may be used: its close plus ``settle_minutes``."""
    return session_close(day) + dt.timedelta(minutes=settle_minutes)


def is_bar_final(day: dt.date | str, now: dt.datetime, settle_minutes: int = DEFAULT_SETTLE_MINUTES) -> bool:
    """True once ``now`` (timezone-aware) has reached :func:`bar_final_at` for ``day``."""
    return _aware(now) >= bar_final_at(day, settle_minutes)


def latest_completed_session(now: dt.datetime, settle_minutes: int = DEFAULT_SETTLE_MINUTES) -> dt.date:
    """The most recent session whose bar is final at ``now`` (timezone-aware).

    Before 4:15 PM ET on a session day (1:15 PM on an early close) that is the previous
    session; on a weekend or holiday it is the last session before it.
    """
    now = _aware(now)
    today = now.astimezone(NY).date()
    if is_session(today) and is_bar_final(today, now, settle_minutes):
        return today
    return previous_session(today)


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("'now' must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return now
