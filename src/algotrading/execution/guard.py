"""The market-clock guard (paper and live): whether a plan's orders may be sent now, by the
broker's clock rather than this machine's.

A DAY market order sent while the market is open fills at once, at intraday prices, not
at the next open the plan was sized for; a plan of an earlier session is stale (its
prices, signals and account are a day or more old). Both are refused here, with a
message that names the plan's session, now, and what to run instead (never a command
that would send the stale plan). The buys that wait for the sells to fill are the
exception: they are meant for the morning after the plan, between that open and close.
"""

from __future__ import annotations

import datetime as dt

from algotrading import calendar as cal
from algotrading.broker.base import MarketClock

ALLOW_OPEN_FLAG = "--allow-market-open"


def _ny(t: dt.datetime) -> str:
    return f"{t.astimezone(cal.NY):%Y-%m-%d %H:%M} New York time"


def plan_refusal(clock: MarketClock, session: dt.date, settle_minutes: int, allow_open: bool) -> str | None:
    """Why the plan of ``session`` must not be sent now (None: it may)."""
    latest = cal.latest_completed_session(clock.timestamp, settle_minutes)
    if session != latest:
        return (
            f"the plan is for {session}, but the latest completed session is {latest} (now {_ny(clock.timestamp)}): "
            "a stale plan is not sent, nothing was. Run `algotrading daily --submit` (no --date) for the plan of "
            f"{latest}"
        )
    if clock.is_open and not allow_open:
        return (
            f"the market is open now ({_ny(clock.timestamp)}, the broker's clock): DAY market orders would fill at "
            f"once at intraday prices. Nothing was sent; the plan of {session} is written. Send it after the close "
            f"({_ny(clock.next_close)}) with `algotrading daily --submit`, or add {ALLOW_OPEN_FLAG} to send it now"
        )
    return None


def pending_refusal(clock: MarketClock, session: dt.date, settle_minutes: int) -> str | None:
    """Why the buys of ``session``'s plan that wait for its sells must not be sent now:
    only on the morning after the plan (the latest completed session), while open."""
    latest = cal.latest_completed_session(clock.timestamp, settle_minutes)
    morning = cal.next_session(session)
    if session != latest:
        return (
            f"the waiting buys are of the {session} plan, but the latest completed session is {latest} "
            f"(now {_ny(clock.timestamp)}): day-old buys are not sent, nothing was"
        )
    if not clock.is_open or clock.timestamp.astimezone(cal.NY).date() != morning:
        return (
            f"the waiting buys of the {session} plan are sent between the open and the close of {morning}; "
            f"now is {_ny(clock.timestamp)} and the market is {'open' if clock.is_open else 'closed'}: nothing was sent"
        )
    return None
