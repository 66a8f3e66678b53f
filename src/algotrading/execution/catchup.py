"""Demo only: the morning runs the simulated clock skipped.

A plan whose buys wait for its sells to fill (``after_sells_fill``) is finished after
the open by ``algotrading daily --submit --pending`` on a real account. The demo has no
morning: before a run plans the next session, this fills each earlier plan's orders at
the next open and sends the waiting buys, sized to the cash the sells freed, so that they
fill at that same open.
"""

from __future__ import annotations

import datetime as dt

from algotrading import calendar as cal
from algotrading.broker import make_broker
from algotrading.config import Settings
from algotrading.data.market import MarketData
from algotrading.execution.reconcile import follow_orders
from algotrading.execution.submit import submit_pending, summary
from algotrading.storage.sqlite import StoreError
from algotrading.storage.store import Store


def demo_catch_up(settings: Settings, store: Store, market: MarketData, session: dt.date) -> list[str]:
    """Demo only: play the morning runs the simulated clock skipped. For each earlier plan
    with "after sells fill" buys, fill its orders at the next open, then send those buys
    (sized to the cash the sells freed) so they fill at that same open."""
    notes: list[str] = []
    pending = store.intents(statuses=("planned",))
    plan_sessions = sorted({dt.date.fromisoformat(str(i["session_date"])) for i in pending if i["after_sells_fill"]})
    for plan_session in (p for p in plan_sessions if p < session):
        morning_session = cal.next_session(plan_session)
        if morning_session > session:
            continue
        with make_broker(settings, market, morning_session, phase="open") as broker:
            try:
                broker.settle(morning_session)
                notes += follow_orders(store, broker)
                opens = {s: float(v) for s, v in market.open.loc[str(morning_session)].items() if v == v}
                outcomes = submit_pending(store, broker, plan_session, settings.safety, opens)
                broker.settle(morning_session)
                notes.append(
                    f"morning of {morning_session}: buys of the {plan_session} plan after its sells filled: "
                    f"{summary(outcomes)}"
                )
            except StoreError as exc:
                for i in pending:
                    if str(i["session_date"]) == plan_session.isoformat() and i["after_sells_fill"]:
                        store.update_intent(str(i["client_order_id"]), status="expired", detail=str(exc))
                notes.append(f"buys of the {plan_session} plan waiting for its sells expired: {exc}")
    return notes
