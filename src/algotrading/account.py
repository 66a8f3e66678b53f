"""The account a session's plan is made for, and its persisted risk state.

Until a broker is connected the account is the demo one: ``PORTFOLIO_SIZE`` in cash.
The daily run records the session's equity in the store and applies any automatic
risk transition (drawdown halt, emergency stop) there, so it survives restarts; a
notebook opened by hand only reads the store.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from algotrading.config import Settings
from algotrading.portfolio import Asset, AssetBook, Portfolio, demo_portfolio
from algotrading.risk import Transition, account_transition
from algotrading.store import RiskState, RiskStatus, open_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    portfolio: Portfolio
    risk: RiskStatus
    transition: Transition | None  # the change made (or, read-only, called for) this session
    assets: AssetBook


def current_portfolio(settings: Settings, session: dt.date) -> Portfolio:
    """The account's cash and positions (the demo account: ``PORTFOLIO_SIZE`` in cash)."""
    return demo_portfolio(session, settings.safety.portfolio_size)


def demo_assets() -> AssetBook:
    """Demo trades like Alpaca, where the default universe is tradable in fractions."""
    return AssetBook(default=Asset("*", tradable=True, fractionable=True))


def load_account(settings: Settings, session: dt.date, persist: bool) -> Account:
    """Portfolio with its equity history, and the risk state after today's check.

    ``persist``: record the equity and any transition in the store (the daily run);
    otherwise only read it (a missing store reads as a fresh account).
    """
    portfolio = current_portfolio(settings, session)
    state_dir = settings.paths.state_dir
    if not persist and not (state_dir / "algotrading.sqlite3").exists():
        portfolio = portfolio.with_history(portfolio.equity, None)
        status = RiskStatus(RiskState.ACTIVE)
        return Account(portfolio, status, account_transition(status, portfolio, settings.risk), demo_assets())
    with open_store(state_dir, create=persist) as store:
        if persist:
            store.record_equity(session, portfolio.equity, portfolio.cash, portfolio.source)
        peak = store.peak_equity(upto=session)
        portfolio = portfolio.with_history(max(peak or 0.0, portfolio.equity), store.previous_equity(session))
        status = store.risk_status()
        transition = account_transition(status, portfolio, settings.risk)
        if transition is not None and persist:
            status = store.set_risk_state(transition.to_state, transition.reason, "auto", session)
            log.warning("risk state -> %s: %s", transition.to_state.value, transition.reason)
    return Account(portfolio, status, transition, demo_assets())
