"""The market-clock guard: which plans may be sent at which broker times (execution/guard)."""

from __future__ import annotations

import datetime as dt

import pytest

from algotrading import calendar as cal
from algotrading.broker.base import MarketClock
from algotrading.execution.guard import pending_refusal, plan_refusal

NY = cal.NY
D = dt.date(2026, 1, 9)  # a Friday; the next session is Monday 2026-01-12


def clock(at: dt.datetime) -> MarketClock:
    """Alpaca's clock at ``at``, from the NYSE calendar."""
    day = at.date()
    session = cal.is_session(day)
    is_open = session and cal.session_open(day) <= at < cal.session_close(day)
    next_session = day if session and at < cal.session_close(day) else cal.next_session(day)
    return MarketClock(at, is_open, cal.session_open(cal.next_session(day)), cal.session_close(next_session))


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (dt.datetime(2026, 1, 9, 16, 30, tzinfo=NY), True),  # after its close: the normal case
        (dt.datetime(2026, 1, 10, 12, 0, tzinfo=NY), True),  # the weekend
        (dt.datetime(2026, 1, 12, 9, 0, tzinfo=NY), True),  # Monday before the open: still the latest plan
        (dt.datetime(2026, 1, 12, 11, 30, tzinfo=NY), False),  # Monday, trading
        (dt.datetime(2026, 1, 12, 16, 5, tzinfo=NY), True),  # Monday closed, its bar not final yet
        (dt.datetime(2026, 1, 12, 16, 30, tzinfo=NY), False),  # Monday's bar final: Friday's plan is stale
        (dt.datetime(2026, 1, 9, 15, 0, tzinfo=NY), False),  # before its own bar is final
    ],
)
def test_when_a_plan_may_be_sent(at, allowed):
    assert (plan_refusal(clock(at), D, 15, allow_open=False) is None) is allowed


def test_the_open_market_can_be_allowed_but_a_stale_plan_cannot():
    trading = clock(dt.datetime(2026, 1, 12, 11, 30, tzinfo=NY))
    assert plan_refusal(trading, D, 15, allow_open=True) is None
    stale = clock(dt.datetime(2026, 1, 13, 17, 0, tzinfo=NY))
    why = plan_refusal(stale, D, 15, allow_open=True)
    assert why is not None and why.startswith(
        "the plan is for 2026-01-09, but the latest completed session is 2026-01-13"
    )
    assert "--date" not in why.replace("(no --date)", "")  # never suggests sending the old plan


@pytest.mark.parametrize(
    ("at", "why"),
    [
        (dt.datetime(2026, 1, 12, 9, 45, tzinfo=NY), None),  # the morning after, open: send
        (dt.datetime(2026, 1, 12, 15, 59, tzinfo=NY), None),
        (dt.datetime(2026, 1, 12, 9, 15, tzinfo=NY), "sent between the open and the close of 2026-01-12"),
        (dt.datetime(2026, 1, 12, 16, 5, tzinfo=NY), "sent between the open and the close of 2026-01-12"),
        (dt.datetime(2026, 1, 12, 16, 30, tzinfo=NY), "day-old buys are not sent"),
        (dt.datetime(2026, 1, 13, 9, 45, tzinfo=NY), "day-old buys are not sent"),
    ],
)
def test_waiting_buys_go_only_on_the_morning_after_their_plan(at, why):
    got = pending_refusal(clock(at), D, 15)
    assert (got is None) if why is None else (got is not None and why in got)
