"""Alert conditions (Requirement 4.2), pure functions of the run's data.

Each function returns the conditions true *now* as :class:`~algotrading.storage.store.Alert`
with a stable key; the store raises an alert once, when its condition starts, keeps it
open while it lasts and resolves it when it ends (``Store.sync_alerts``). So "momentum
turns negative" is raised on the session it turns, not every day it stays negative.

Severity: ``urgent`` alerts (a missed run, an automatic halt or emergency stop, a failed
readiness check) are also sent on their own; ``warning`` and ``info`` go into the daily
email's banner and the status dashboard.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.decisions.risk import RiskState, RiskStatus
from algotrading.storage.store import Alert

#: The kinds each evaluation covers (what ``sync_alerts`` may resolve when absent).
STRATEGY_KINDS = ("strategy_momentum", "strategy_drawdown", "strategy_correlation")
DATA_KINDS = ("data_excluded",)
RUN_KINDS = ("missed_run",)
RISK_KINDS = ("risk_state",)
READINESS_KINDS = ("readiness",)
ORDER_KINDS = ("order_fate",)
SUBMISSION_KINDS = ("submission",)
#: Fates of the last plan's orders that need a person (execution.outcomes).
ORDER_ATTENTION = frozenset({"rejected", "never_sent", "expired"})


def _upto(frame: pd.DataFrame, session: dt.date) -> pd.DataFrame:
    """Rows of a ``date``-column frame up to and including ``session``, date-indexed."""
    out = frame.assign(date=pd.to_datetime(frame["date"])).set_index("date").sort_index()
    return out.loc[: pd.Timestamp(session)]


def momentum_alerts(momentum: pd.DataFrame, session: dt.date) -> list[Alert]:
    """A strategy whose momentum is below zero; the message says when it turned."""
    out = []
    history = _upto(momentum, session)
    for name in history.columns:
        series = history[name].dropna()
        if series.empty or series.iloc[-1] >= 0:
            continue
        non_negative = series[series >= 0]
        turned = series.index[0] if non_negative.empty else series.index[series.index > non_negative.index[-1]][0]
        before = "" if non_negative.empty else f", from {non_negative.iloc[-1]:+.1%}"
        out.append(
            Alert(
                f"strategy_momentum:{name}",
                "strategy_momentum",
                "warning",
                f"{name}: momentum turned negative on {turned:%Y-%m-%d}{before}; now {series.iloc[-1]:+.1%} "
                "(the strategy's signals are not ranked while it stays below the threshold)",
            )
        )
    return out


def drawdown_alerts(equity: pd.DataFrame, session: dt.date, level_pct: float) -> list[Alert]:
    """A strategy's simulated equity at least ``level_pct`` percent below its peak."""
    out = []
    history = _upto(equity, session).drop(columns=["benchmark"], errors="ignore")
    for name in history.columns:
        series = history[name].dropna()
        if series.empty:
            continue
        peak_at = series.idxmax()
        drawdown = 1 - series.iloc[-1] / series.max()
        if drawdown >= level_pct / 100 - 1e-12:
            out.append(
                Alert(
                    f"strategy_drawdown:{name}",
                    "strategy_drawdown",
                    "warning",
                    f"{name}: simulated equity {drawdown:.1%} below its peak of {peak_at:%Y-%m-%d} "
                    f"(alert level {level_pct:g}%)",
                )
            )
    return out


def correlation_alerts(equity: pd.DataFrame, session: dt.date, threshold: float, window: int) -> list[Alert]:
    """Two strategies whose daily returns correlate above ``threshold`` over the last
    ``window`` sessions (they would fill the slots together)."""
    returns = _upto(equity, session).drop(columns=["benchmark"], errors="ignore").pct_change(fill_method=None)
    recent = returns.iloc[-window:]
    if len(recent.dropna(how="all")) < window:
        return []
    earlier = returns.iloc[-2 * window : -window]
    out = []
    for a, b in itertools.combinations(recent.columns, 2):
        now = _corr(recent[a], recent[b])
        if now is None or now <= threshold:
            continue
        before = _corr(earlier[a], earlier[b]) if len(earlier) >= window else None
        was = f", {before:.2f} the {window} sessions before" if before is not None else ""
        out.append(
            Alert(
                f"strategy_correlation:{a}|{b}",
                "strategy_correlation",
                "info",
                f"{a} and {b}: daily returns correlate {now:.2f} over {window} sessions{was} "
                f"(alert above {threshold:g}); ranking keeps them from filling every slot",
            )
        )
    return out


def _corr(x: pd.Series, y: pd.Series) -> float | None:
    both = pd.concat([x, y], axis=1).dropna()
    if len(both) < 3 or both.std().min() == 0:
        return None  # a strategy that did not move has no correlation
    value = float(np.corrcoef(both.iloc[:, 0], both.iloc[:, 1])[0, 1])
    return None if np.isnan(value) else value


def session_start(session: dt.date, sessions: int) -> dt.date:
    """The first of the ``sessions`` NYSE sessions ending with ``session``."""
    return cal.session_window(session, sessions)[0]


def exclusion_alerts(exclusions: pd.DataFrame, session: dt.date, sessions: int, symbols: list[str]) -> list[Alert]:
    """A traded symbol excluded (stale or bad data) in each of the last ``sessions`` NYSE
    sessions up to ``session``. ``exclusions``: session_date, symbol, reason."""
    days = [d.isoformat() for d in cal.session_window(session, sessions)]
    out = []
    for symbol in symbols:
        rows = exclusions[(exclusions["symbol"] == symbol) & exclusions["session_date"].isin(days)]
        if set(rows["session_date"]) == set(days):
            out.append(
                Alert(
                    f"data_excluded:{symbol}",
                    "data_excluded",
                    "warning",
                    f"{symbol}: excluded {sessions} sessions in a row since {days[0]} "
                    f"({rows['reason'].iloc[-1]}); check the symbol or remove it from params/universe.yaml",
                )
            )
    return out


def sessions_since_success(
    runs: pd.DataFrame, upto: dt.date, lookback: int, inclusive: bool = True, untried_only: bool = False
) -> list[dt.date]:
    """Sessions after the last successful run (before ``upto``, or up to it when
    ``inclusive``), within the last ``lookback`` sessions up to ``upto``. ``untried_only``
    keeps those with no run at all: the job never started (machine off, cron not running).
    Empty before the first successful run."""
    if runs.empty:
        return []
    dates = pd.to_datetime(runs["session_date"]).dt.date
    good = dates[(runs["status"] == "ok") & ((dates <= upto) if inclusive else (dates < upto))]
    if good.empty:
        return []
    window = cal.session_window(upto, lookback) if inclusive else cal.session_window(upto, lookback + 1)[:-1]
    out = [d for d in window if d > good.max()]
    if untried_only:
        tried = set(dates)
        out = [d for d in out if d not in tried]
    return out


def missed_run_alerts(missed: list[dt.date]) -> list[Alert]:
    if not missed:
        return []
    listed = ", ".join(d.isoformat() for d in missed[:5]) + (f" and {len(missed) - 5} more" if len(missed) > 5 else "")
    return [
        Alert(
            f"missed_run:{missed[0]}:{missed[-1]}",
            "missed_run",
            "urgent",
            f"{len(missed)} session(s) had no daily run: {listed}. Check that the machine was on and the "
            "schedule is installed (`algotrading validate`); run a missed session with `algotrading daily --date D`",
        )
    ]


def risk_alerts(status: RiskStatus) -> list[Alert]:
    """HALTED and EMERGENCY STOP need a person: urgent while they last."""
    if status.state is RiskState.ACTIVE:
        return []
    return [
        Alert(
            f"risk_state:{status.state.value}:{status.since}",
            "risk_state",
            "urgent",
            f"risk state {status.state.value} since {status.since}: {status.reason}",
        )
    ]


def order_alerts(previous_orders: list[dict[str, object]]) -> list[Alert]:
    """An order of the last plan that the broker rejected, that was never sent or that
    expired unfilled: one warning each (the "Yesterday's orders" record of it)."""
    return [
        Alert(
            f"order_fate:{o['client_order_id']}",
            "order_fate",
            "warning",
            f"{str(o['side']).upper()} {o['symbol']} of the {o['session']} plan: {o['detail']}",
        )
        for o in previous_orders
        if o["fate"] in ORDER_ATTENTION
    ]


def submission_alerts(session: dt.date, problems: list[str]) -> list[Alert]:
    """Orders of today's plan that did not go out as planned: urgent, naming each one."""
    if not problems:
        return []
    return [
        Alert(
            f"submission:{session}",
            "submission",
            "urgent",
            f"orders of the {session} plan were not all sent: " + "; ".join(problems),
        )
    ]
