"""The account a session's plan is made for, and its persisted risk state.

The broker is the truth (demo: the simulated account's ledger; paper/live: Alpaca).
Before planning, the daily run lets the simulated account fill what earlier plans sent,
follows every order it sent until the broker reports it final, reconciles the broker's
positions with AlgoTrading's own record, records the session's equity and applies any
automatic risk transition (drawdown halt, emergency stop), so it survives restarts.
A notebook opened by hand only reads.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from algotrading.broker import Broker, make_broker
from algotrading.broker.base import OrderStatus
from algotrading.config import Mode, Settings
from algotrading.data.market import MarketData
from algotrading.decisions.at_broker import SentOrder
from algotrading.decisions.risk import RiskState, RiskStatus, Transition, account_transition
from algotrading.execution.catchup import demo_catch_up
from algotrading.execution.reconcile import Reconciliation, follow_orders, orders_at_broker, reconcile
from algotrading.portfolio import Asset, AssetBook, Portfolio, demo_portfolio
from algotrading.storage.store import FILE_NAME, PositionRecord, Store, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    portfolio: Portfolio
    risk: RiskStatus
    transition: Transition | None  # the change made (or, read-only, called for) this session
    assets: AssetBook
    notes: tuple[str, ...] = ()  # fills followed, reconciliation differences, open orders
    open_orders: tuple[OrderStatus, ...] = ()
    at_broker: tuple[SentOrder, ...] = ()  # this session's own orders already sent (a re-plan counts them)


def demo_assets() -> AssetBook:
    """Demo trades like Alpaca, where the default universe is tradable in fractions."""
    return AssetBook(default=Asset("*", tradable=True, fractionable=True))


def broker_assets(broker: Broker, symbols: list[str]) -> AssetBook:
    """What the broker says about each universe symbol (tradable, fractionable)."""
    return AssetBook({s: broker.asset(s) for s in symbols if not s.startswith("^")})


def _read_broker(
    settings: Settings, market: MarketData, session: dt.date, store: Store | None, persist: bool, notes: list[str]
) -> tuple[Reconciliation, AssetBook]:
    """The broker's account reconciled with AlgoTrading's position record (from ``store``;
    none before the first run). With ``persist`` (the daily run) the simulated account
    first fills what is due and every order sent is followed, before the record is read."""
    demo = settings.mode is Mode.DEMO
    with make_broker(settings, market, session) as broker:
        if demo and persist:
            broker.settle(session)
        if persist and store is not None:
            notes += follow_orders(store, broker)
        records: dict[str, PositionRecord] = store.position_records() if store is not None else {}
        info = broker.account()
        rec = reconcile(session, info, broker.name, broker.positions(), broker.open_orders(), records)
        assets = demo_assets() if demo else broker_assets(broker, settings.universe.symbols)
    return rec, assets


def load_account(settings: Settings, session: dt.date, persist: bool, market: MarketData) -> Account:
    """Portfolio (from the broker), its equity history, and the risk state after today's check.

    ``persist``: follow orders, save the position record, record the equity and any
    transition in the store (the daily run); otherwise only read (a missing store or
    demo ledger reads as a fresh account).
    """
    state_dir = settings.paths.state_dir
    demo = settings.mode is Mode.DEMO
    if not persist and not (state_dir / FILE_NAME).exists():
        status = RiskStatus(RiskState.ACTIVE)
        if demo:  # no simulated account yet: it would start with PORTFOLIO_SIZE in cash
            portfolio = demo_portfolio(session, settings.safety.portfolio_size).with_history(
                settings.safety.portfolio_size, None
            )
            return Account(portfolio, status, account_transition(status, portfolio, settings.risk), demo_assets())
        # paper/live before the first daily run: the broker's account, with no history yet
        rec, assets = _read_broker(settings, market, session, None, False, [])
        portfolio = rec.portfolio.with_history(rec.portfolio.equity, None)
        return Account(portfolio, status, None, assets, rec.notes, rec.open_orders)

    with open_store(state_dir, create=persist) as store:
        notes: list[str] = []
        if demo and persist:
            notes += demo_catch_up(settings, store, market, session)
        rec, assets = _read_broker(settings, market, session, store, persist, notes)
        notes += rec.notes
        portfolio = rec.portfolio
        latest = store.latest_equity_session()
        current = latest is None or session >= latest
        if persist:
            store.save_position_records(list(rec.records))
            if current:
                store.record_equity(session, portfolio.equity, portfolio.cash, portfolio.source)
            else:
                notes.append(
                    f"{session} is before the latest recorded session {latest}: equity and risk state not changed"
                )
        peak = store.peak_equity(upto=session)
        portfolio = portfolio.with_history(max(peak or 0.0, portfolio.equity), store.previous_equity(session))
        status = store.risk_status()
        transition = account_transition(status, portfolio, settings.risk)
        if transition is not None and persist and current:
            status = store.set_risk_state(transition.to_state, transition.reason, "auto", session)
            log.warning("risk state -> %s: %s", transition.to_state.value, transition.reason)
        sent = orders_at_broker(store, session)
    if sent:
        log.warning(
            "re-plan of %s: %d order(s) of its plan already at the broker are counted: %s",
            session,
            len(sent),
            "; ".join(o.words() for o in sent),
        )
    return Account(portfolio, status, transition, assets, tuple(notes), rec.open_orders, sent)
