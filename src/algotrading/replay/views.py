"""What ``notebooks/replay.ipynb`` shows of a replay's folder: the account's equity
against the benchmark bought with the same capital, drawdown, monthly returns, the
headline metrics (CAGR, Sharpe, max drawdown, turnover, fees), each strategy's
contribution, how often each rule acted, the events and the trades.

Everything is read from the CSV files the replay wrote; nothing is recomputed from
prices, so the page shows exactly what the replay did."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML
from pandas.io.formats.style import Styler

from algotrading.backtest.engine import benchmark_metrics, buy_and_hold, compute_metrics
from algotrading.paths import Paths
from algotrading.replay.record import EQUITY, EVENTS, ORDERS, POSITIONS, RULES, SUMMARY
from algotrading.report.formats import money
from algotrading.report.tearsheet import format_metric
from algotrading.report.universe import BENCHMARK_LINE, LAYOUT, date_axis, series_colour

TRADE_COLUMNS = [
    "symbol",
    "strategy",
    "entry_date",
    "exit_date",
    "qty",
    "entry_price",
    "exit_price",
    "fees",
    "pnl",
    "return",
    "status",
    "exit_kind",
]


@dataclass(frozen=True)
class Replay:
    folder: Path
    summary: dict[str, Any]
    equity: pd.DataFrame  # indexed by session
    orders: pd.DataFrame
    events: pd.DataFrame
    rules: pd.DataFrame
    positions: pd.DataFrame

    @property
    def capital(self) -> float:
        return float(self.summary["capital"])

    @property
    def benchmark_name(self) -> str:
        return str(self.summary.get("benchmark", "SPY"))


def load(replay_dir: str | Path) -> Replay:
    folder = Path(replay_dir)
    if not (folder / SUMMARY).is_file():
        raise FileNotFoundError(
            f"{folder} holds no replay (no {SUMMARY}): run `algotrading replay --start ... --end ... --out {folder}`"
        )
    equity = pd.read_csv(folder / EQUITY, parse_dates=["session"]).set_index("session")
    return Replay(
        folder=folder,
        summary=json.loads((folder / SUMMARY).read_text()),
        equity=equity,
        orders=pd.read_csv(folder / ORDERS),
        events=pd.read_csv(folder / EVENTS),
        rules=pd.read_csv(folder / RULES),
        positions=pd.read_csv(folder / POSITIONS) if (folder / POSITIONS).is_file() else pd.DataFrame(),
    )


def benchmark_equity(r: Replay) -> pd.Series:
    """The benchmark bought with the replay's capital at its first close, held."""
    return buy_and_hold(r.equity["benchmark_close"], r.capital).rename(f"{r.benchmark_name} buy and hold")


def trades(r: Replay) -> pd.DataFrame:
    """Round trips from the filled orders: a buy opens a position, the sell closes it
    (the plan never adds to a holding and always sells it whole). Positions still held
    at the end are open trades marked at the last close."""
    filled = r.orders[r.orders["status"] == "filled"].sort_values(["fill_session", "side"], ascending=[True, False])
    open_: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for o in filled.itertuples():
        qty, price, fee = float(o.filled_qty), float(o.fill_price), float(o.fee)
        if o.side == "buy":
            open_[o.symbol] = {
                "symbol": o.symbol,
                "strategy": o.strategy,
                "entry_date": o.fill_session,
                "qty": qty,
                "entry_price": price,
                "fees": fee,
            }
            continue
        t = open_.pop(o.symbol, None)
        if t is None:
            continue
        cost = t["qty"] * t["entry_price"]
        pnl = qty * price - cost - t["fees"] - fee
        rows.append(
            t
            | {
                "exit_date": o.fill_session,
                "exit_price": price,
                "fees": t["fees"] + fee,
                "pnl": pnl,
                "return": pnl / cost if cost else np.nan,
                "status": "closed",
                "exit_kind": o.kind,
            }
        )
    marks = {p.symbol: float(p.price) for p in r.positions.itertuples()} if not r.positions.empty else {}
    for t in open_.values():
        price = marks.get(t["symbol"], np.nan)
        cost = t["qty"] * t["entry_price"]
        pnl = t["qty"] * price - cost - t["fees"]
        rows.append(
            t
            | {
                "exit_date": None,
                "exit_price": price,
                "pnl": pnl,
                "return": pnl / cost if cost else np.nan,
                "status": "open",
                "exit_kind": None,
            }
        )
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)


def turnover(r: Replay) -> float:
    """Yearly turnover: the smaller of bought and sold value, over the mean equity, per year."""
    filled = r.orders[r.orders["status"] == "filled"]
    value = filled["filled_qty"] * filled["fill_price"]
    traded = min(float(value[filled["side"] == "buy"].sum()), float(value[filled["side"] == "sell"].sum()))
    years = max((r.equity.index[-1] - r.equity.index[0]).days / 365.25, 1 / 365.25) if len(r.equity) else 1.0
    mean_equity = float(r.equity["equity"].mean()) if len(r.equity) else float("nan")
    return traded / mean_equity / years if mean_equity else float("nan")


def metrics(r: Replay) -> pd.DataFrame:
    """The replay's metrics beside the benchmark's buy and hold."""
    t = trades(r)
    fees = float(r.orders.loc[r.orders["status"] == "filled", "fee"].sum())
    account = compute_metrics(r.equity["equity"], t, r.equity["positions"], fees)
    account["turnover"] = turnover(r)
    bench = benchmark_equity(r)
    return pd.DataFrame({"account": account, bench.name: benchmark_metrics(bench) | {"turnover": np.nan}})


def _metric_text(name: str, value: float) -> str:
    """A metric as the summary shows it (turnover as times a year)."""
    if name != "turnover":
        return format_metric(name, value)
    return "" if pd.isna(value) else f"{value:.1f}x / year"


def sessions_note(r: Replay) -> str:
    """How many sessions the account could not buy or held nothing, and why: a replay
    that is "complete" may still have sat halted in cash for much of its range."""
    e = r.equity
    total = len(e)
    if total == 0:
        return "No session was replayed."
    parts = []
    for state in ("HALTED", "EMERGENCY_STOP"):
        days = e[e["risk_state"] == state]
        if len(days):
            starts = r.events[r.events["kind"] == f"risk_{state.lower()}"]
            why = f" ({starts['detail'].iloc[0]})" if len(starts) else ""
            parts.append(
                f"{state.replace('_', ' ')} on {len(days)} of {total} sessions, first on {days.index[0]:%Y-%m-%d}{why}"
            )
    breaker = int(e["circuit_breaker"].astype(bool).sum()) if "circuit_breaker" in e else 0
    if breaker:
        parts.append(f"the circuit breaker paused new buys on {breaker} session(s)")
    idle = int((e["positions"] == 0).sum())
    parts.append(f"no position was held on {idle} of {total} sessions (all in cash)")
    if not any(p.startswith(("HALTED", "EMERGENCY")) for p in parts):
        parts.insert(0, f"risk ACTIVE on all {total} sessions")
    return "; ".join(parts) + "."


def summary_view(r: Replay) -> HTML:
    """Range, state (complete or interrupted), final equity and the headline metrics."""
    s = r.summary
    m = metrics(r)
    state = (
        "complete (every session replayed)"
        if s["complete"]
        else f"INTERRUPTED: {s['sessions_done']} sessions done, last {s['last_session']}"
    )
    rows = "".join(
        f"<tr><th style='text-align:left'>{name.replace('_', ' ')}</th>"
        + "".join(f"<td style='text-align:right'>{_metric_text(name, v)}</td>" for v in m.loc[name])
        + "</tr>"
        for name in [
            "total_return",
            "cagr",
            "sharpe",
            "sortino",
            "max_drawdown",
            "trades",
            "win_rate",
            "exposure",
            "turnover",
            "fees_paid",
        ]
    )
    head = "".join(f"<th style='text-align:right'>{c}</th>" for c in m.columns)
    final = f"${s['final_equity']:,.2f}" if s.get("final_equity") is not None else "n/a"
    return HTML(
        f"<p><b>{s['start']} .. {s['end']}</b>: {state}. Capital ${s['capital']:,.2f} -> final equity <b>{final}</b>; "
        f"{s['sessions_done']} sessions; fees {s['fees_pct']:g}%, slippage {s['slippage_pct']:g}% per fill.</p>"
        f"<p>{html.escape(sessions_note(r))}</p>"
        f"<table><tr><th></th>{head}</tr>{rows}</table>"
    )


def equity_figure(r: Replay) -> go.Figure:
    bench = benchmark_equity(r)
    fig = go.Figure()
    account = {"color": series_colour("account")}
    fig.add_trace(go.Scatter(x=r.equity.index, y=r.equity["equity"], name="account", mode="lines", line=account))
    fig.add_trace(go.Scatter(x=bench.index, y=bench, name=bench.name, mode="lines", line=BENCHMARK_LINE))
    fig.update_layout(
        title=f"Equity vs {r.benchmark_name} bought with the same ${r.capital:,.0f} ($)",
        height=420,
        hovermode="x unified",
        xaxis={"type": "date", **date_axis(r.equity.index)},
        **LAYOUT,
    )
    return fig


def drawdown_figure(r: Replay) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=r.equity.index,
            y=-100 * r.equity["drawdown"],
            name="drawdown",
            fill="tozeroy",
            mode="lines",
            line={"color": "#c0392b"},
        )
    )
    halted = r.equity[r.equity["risk_state"] != "ACTIVE"]
    if len(halted):
        fig.add_trace(
            go.Scatter(
                x=halted.index,
                y=-100 * halted["drawdown"],
                name="HALTED / EMERGENCY STOP",
                mode="markers",
                marker={"color": "black", "size": 4},
            )
        )
    fig.update_layout(
        title="Drawdown from the equity peak (%)",
        height=300,
        hovermode="x unified",
        xaxis={"type": "date", **date_axis(r.equity.index)},
        **LAYOUT,
    )
    return fig


def monthly_returns(r: Replay) -> pd.DataFrame:
    """Each month's return (from the last equity of the month before), years x months, and the year."""
    eq = r.equity["equity"]
    month_end = eq.groupby(eq.index.to_period("M")).last()
    prev = month_end.shift(1)
    prev.iloc[0] = eq.iloc[0]
    ret = month_end / prev - 1
    table = pd.DataFrame({"year": ret.index.year, "month": ret.index.month, "ret": ret.to_numpy()})
    wide = table.pivot(index="year", columns="month", values="ret").reindex(columns=range(1, 13))
    wide.columns = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    year_end = eq.groupby(eq.index.year).last()
    year_prev = year_end.shift(1)
    year_prev.iloc[0] = eq.iloc[0]
    wide["Year"] = (year_end / year_prev - 1).to_numpy()
    return wide


def monthly_table(r: Replay) -> Styler:
    return (
        monthly_returns(r)
        .style.format("{:+.1%}", na_rep="")
        .background_gradient(cmap="RdYlGn", vmin=-0.08, vmax=0.08, axis=None)
        .map(lambda v: "background-color: white" if pd.isna(v) else "")  # months outside the replay
        .set_caption("Monthly returns of the account")
    )


def contribution(r: Replay) -> pd.DataFrame:
    """Per strategy: trades, win rate, P&L (closed and open) and its share of the total."""
    t = trades(r)
    if t.empty:
        return pd.DataFrame(columns=["trades", "closed", "win_rate", "pnl", "share"])
    g = t.groupby(t["strategy"].fillna("unknown"))
    out = pd.DataFrame(
        {
            "trades": g.size(),
            "closed": g.apply(lambda x: int((x["status"] == "closed").sum()), include_groups=False),
            "win_rate": g.apply(
                lambda x: (
                    float((x.loc[x["status"] == "closed", "pnl"] > 0).mean())
                    if (x["status"] == "closed").any()
                    else np.nan
                ),
                include_groups=False,
            ),
            "pnl": g["pnl"].sum(),
        }
    )
    total = float(out["pnl"].sum())
    out["share"] = out["pnl"] / total if total else np.nan
    return out.sort_values("pnl", ascending=False)


def _signed_money(value: float) -> str:
    return money(value, signed=True, missing="")


def contribution_table(r: Replay) -> Styler:
    return (
        contribution(r)
        .style.format({"win_rate": "{:.0%}", "pnl": _signed_money, "share": "{:.0%}"}, na_rep="")
        .set_caption("Each strategy's contribution (closed trades, and open ones at the last close)")
    )


def rules_table(r: Replay) -> Styler | HTML:
    if r.rules.empty:
        return HTML("<p>No rule resized, rejected or blocked anything.</p>")
    return r.rules.style.hide(axis="index").set_caption("How often each rule acted (count) and on how many sessions")


def events_table(r: Replay, limit: int = 200) -> Styler | HTML:
    if r.events.empty:
        return HTML("<p>No events: no halt, emergency stop, circuit breaker, stop, swap or data exclusion.</p>")
    counts = r.events["kind"].value_counts().to_dict()
    caption = "Events: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    shown = r.events.tail(limit).fillna("")  # an account-wide event has no symbol: a blank, not "nan"
    if len(r.events) > limit:
        caption += f" (the last {limit} shown; all in events.csv)"
    return shown.style.hide(axis="index").set_caption(caption)


def trades_table(r: Replay, limit: int = 200) -> Styler | HTML:
    t = trades(r)
    if t.empty:
        return HTML("<p>No trade was filled.</p>")
    caption = f"{len(t)} trades ({int((t['status'] == 'open').sum())} open)"
    if len(t) > limit:
        caption += f"; the last {limit} shown, all fills in orders.csv"
    return (
        t.tail(limit)
        .style.hide(axis="index")
        .format(
            {
                "qty": "{:.4f}",
                "entry_price": "${:,.2f}",
                "exit_price": "${:,.2f}",
                "fees": "${:,.2f}",
                "pnl": _signed_money,
                "return": "{:+.1%}",
            },
            na_rep="",
        )
        .set_caption(caption)
    )


def newest_replay() -> Path:
    """The most recently written ``reports/replay-*`` folder (the notebook's default)."""
    reports = Paths.from_env().reports_dir
    found = sorted(reports.glob(f"replay-*/{SUMMARY}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(
            f"no replay in {reports}: run `algotrading replay --start 2024-01-02 --end 2025-12-31` first, "
            "or set replay_dir"
        )
    return found[-1].parent
