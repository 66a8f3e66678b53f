"""Which NYSE session a run is for, and whether it may run now (DESIGN §3 step 1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from algotrading import calendar as cal
from algotrading.config import Mode, Settings, UsageError
from algotrading.data import latest_session
from algotrading.data.bundled import BundledBarsProvider

#: A session of the bundled data whose plan has trades on a fresh demo account (four buys,
#: the ones tests/test_crash.py submits), named when the default demo session plans none.
DEMO_SESSION_WITH_TRADES = dt.date(2024, 1, 2)


@dataclass(frozen=True)
class SessionChoice:
    """The session to run for, or why there is none (market closed)."""

    session_date: dt.date | None
    closed_reason: str | None = None


def holiday_name(day: dt.date) -> str | None:
    """The NYSE holiday's name on ``day``, if it is one."""
    xnys = cal._xnys()
    ts = pd.Timestamp(day)
    names = xnys.regular_holidays.holidays(ts, ts, return_name=True) if xnys.regular_holidays else None
    if names is not None and len(names):
        return str(names.iloc[0])
    if any(pd.Timestamp(d) == ts for d in xnys.adhoc_holidays):
        return "special closure"
    return None


def choose_session(settings: Settings, requested: dt.date | None, now: dt.datetime) -> SessionChoice:
    """Resolve ``--date``: a non-session is "market closed" (not an error); a session whose
    bar is not final yet, or outside the demo data, is a :class:`UsageError`."""
    if requested is None:
        return SessionChoice(latest_session(settings, now))
    try:
        trading = cal.is_session(requested)
    except cal.CalendarRangeError as exc:
        raise UsageError(f"--date {requested}: {exc}") from exc
    if not trading:
        why = holiday_name(requested) or requested.strftime("%A")
        return SessionChoice(None, f"market closed: {requested} is not an NYSE session ({why}); nothing to do")
    settle = settings.schedule.bar_settle_minutes
    if not cal.is_bar_final(requested, now, settle):
        final_at = cal.bar_final_at(requested, settle)
        raise UsageError(
            f"--date {requested}: the session's bars are not final until {final_at:%Y-%m-%d %H:%M} ET "
            f"(close + {settle} min). Run after that, or pass an earlier --date."
        )
    if settings.mode is Mode.DEMO:
        bundled = BundledBarsProvider()
        first, last = bundled.first_session(), bundled.last_session()
        if not first <= requested <= last:
            raise UsageError(
                f"--date {requested}: demo mode runs on the bundled data, which covers {first} .. {last}. "
                "Pick a session in that range, or set ALPACA_API_KEY/ALPACA_SECRET_KEY for paper mode."
            )
    return SessionChoice(requested)
