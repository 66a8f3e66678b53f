"""The tables that let a person audit the decision notebooks (20 ranking, 30 safety,
40 risk) and the report: ranking, sizing, cash, risk, the plan. Formatting only: the
steps that compute and write them are in :mod:`algotrading.daily.steps`, the decisions
in :mod:`algotrading.decisions`."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

import pandas as pd
from IPython.display import HTML
from pandas.io.formats.style import Styler

from algotrading.decisions.at_broker import REPLAN_TERMS
from algotrading.decisions.plan import Plan, PlanInputs, PlanOrder, Sizing
from algotrading.decisions.ranking import SELECTED, Ranking, correlated_clusters
from algotrading.portfolio import Portfolio

STATE_COLOURS = {"ACTIVE": "#2e7d32", "HALTED": "#ef6c00", "EMERGENCY_STOP": "#c62828"}


def correlation_note(data: PlanInputs, ranking: Ranking) -> HTML:
    """Which strategies count as correlated today (they may not fill every slot)."""
    limit = data.settings.ranking.max_correlation
    clusters = correlated_clusters(data.correlation, limit)
    if not clusters:
        return HTML(f"<p>No two strategies are correlated above {limit:g} over the last year of daily returns.</p>")
    groups = "; ".join(", ".join(c) for c in clusters)
    return HTML(f"<p>Correlated above {limit:g}: {html.escape(groups)}. They may not fill every slot together.</p>")


def _money(x: float | None) -> str:
    return "" if x is None or pd.isna(x) else f"${float(x):,.2f}"


def ranking_table(ranking: Ranking) -> Styler | HTML:
    t = ranking.table
    if t.empty:
        return HTML("<p>No BUY signal today: nothing to rank.</p>")
    shown = t.assign(rank=t["rank"].where(t["rank"] > 0)).drop(columns="rule", errors="ignore")  # rule: for counting
    return (
        shown.style.format(
            {
                "rank": "{:.0f}",
                "confidence": "{:.2f}",
                "momentum": "{:+.1%}",
                "momentum_score": "{:.2f}",
                "score": "{:.3f}",
            },
            na_rep="",
        )
        .apply(lambda r: ["font-weight: bold" if r["status"] == SELECTED else "color: #777"] * len(r), axis=1)
        .hide(axis="index")
        .set_caption(
            "Every BUY signal, best first: score = confidence weight x confidence + momentum weight x momentum score"
        )
    )


def exits_table(sizing: Sizing) -> Styler | HTML:
    if not sizing.exits and not sizing.swaps:
        return HTML("<p>No held position hits a stop, a target, its holding limit or its strategy's exit today.</p>")
    rows = [{"symbol": e.symbol, "strategy": e.strategy, "rule": e.kind, "reason": e.reason} for e in sizing.exits]
    rows += [
        {"symbol": w.sell_symbol, "strategy": w.sell_strategy, "rule": "swap", "reason": w.reason} for w in sizing.swaps
    ]
    return pd.DataFrame(rows).style.hide(axis="index").set_caption("Sells: whole positions, at the next open")


def buys_table(sizing: Sizing) -> Styler | HTML:
    if not sizing.buys:
        return HTML("<p>No top-ranked signal to size.</p>")
    t = pd.DataFrame([b.to_record() for b in sizing.buys])
    return (
        t[
            [
                "symbol",
                "strategy",
                "score",
                "price",
                "target",
                "notional",
                "qty",
                "decision",
                "after_sells_fill",
                "steps",
            ]
        ]
        .style.format(
            {"score": "{:.3f}", "price": "{:.2f}", "target": _money, "notional": _money, "qty": "{:g}"}, na_rep=""
        )
        .hide(axis="index")
        .set_caption(
            "Buy sizes: each control in order (size, whole shares, minimum); "
            "'after sells fill' needs today's sale proceeds"
        )
    )


def cash_summary(plan_or_sizing: Plan | Sizing) -> HTML:
    c = plan_or_sizing.cash_analysis if isinstance(plan_or_sizing, Plan) else plan_or_sizing.cash
    lines = [
        f"<p><b>{html.escape(c.message)}</b></p>",
        f"<p>Cash {_money(c.cash)} + today's sales {_money(c.sell_proceeds)} - buffer {_money(c.buffer)} = "
        f"{_money(c.available)} for buys; planned buys {_money(c.committed)}.</p>",
    ]
    if c.applicable:
        lines.append(f"<p>Limited by: {c.limited_by}. Unfunded top signals: {', '.join(c.unfunded) or 'none'}.</p>")
        if c.liquidation:
            t = pd.DataFrame([vars(x) for x in c.liquidation])
            lines.append(
                t.style.format({"market_value": _money, "unrealized_pl_pct": "{:+.1%}", "held_score": "{:.3f}"})
                .hide(axis="index")
                .set_caption("Liquidation order (first = first to sell)")
                .to_html()
            )
    return HTML("".join(lines))


def consolidation_table(plan: Plan) -> HTML:
    items = plan.cash_analysis.consolidation
    if not items:
        return HTML("<p>No consolidation needed: no dust, and small positions do not block a slot.</p>")
    rows = "".join(f"<li><b>{x.symbol}</b> ({_money(x.market_value)}): {html.escape(x.reason)}</li>" for x in items)
    return HTML(f"<ul>{rows}</ul>")


def replan_banner(plan: Plan) -> str:
    """A re-plan's notice (HTML, empty otherwise): the orders already at the broker."""
    if not plan.is_replan:
        return ""
    items = "".join(f"<li>{html.escape(o.words())}</li>" for o in plan.at_broker)
    return (
        "<div style='border-left:6px solid #6a1b9a;padding:6px 12px;background:#f3e5f5;margin-bottom:6px'>"
        f"<b>Re-plan of {plan.session}: {len(plan.at_broker)} order(s) of the first plan are already at the "
        f"broker</b><ul>{items}</ul>{html.escape(REPLAN_TERMS)}</div>"
    )


def risk_banner(plan: Plan) -> HTML:
    return HTML(replan_banner(plan) + _risk_banner(plan).data)


def _risk_banner(plan: Plan) -> HTML:
    r = plan.risk
    state = r["state"]
    breaker = r["circuit_breaker"]
    colour = STATE_COLOURS.get(state, "#555")
    if state == "ACTIVE" and not breaker["tripped"]:
        return HTML(
            f"<div style='border-left:6px solid {colour};padding:6px 12px;background:#f1f8e9'>"
            f"<b>Risk: ACTIVE</b>: drawdown {r['drawdown']:.1%} from the peak {_money(r['peak_equity'])}; "
            "circuit breaker clear. New buys allowed.</div>"
        )
    items = "".join(f"<li>{html.escape(x)}</li>" for x in r["restrictions"])
    title = state.replace("_", " ") + (" + CIRCUIT BREAKER" if breaker["tripped"] and state != "ACTIVE" else "")
    if state == "ACTIVE":
        title = "CIRCUIT BREAKER"
    return HTML(
        f"<div style='border-left:6px solid {colour if state != 'ACTIVE' else '#ef6c00'};"
        "padding:6px 12px;background:#fff3e0'>"
        f"<b>Risk: {html.escape(title)}</b><ul>{items}</ul></div>"
    )


def breaker_table(plan: Plan) -> Styler:
    b = plan.risk["circuit_breaker"]
    rows = [
        {"check": "SPY move today", "value": b["spy_move"], "fmt": "{:+.2%}"},
        {"check": "SPY 20-day volatility (annualised)", "value": b["spy_volatility_20d"], "fmt": "{:.1%}"},
        {"check": "^VIX", "value": b["vix"], "fmt": "{:.1f}"},
    ]
    t = pd.DataFrame(
        {
            "check": [r["check"] for r in rows],
            "value": [("n/a" if r["value"] is None else r["fmt"].format(r["value"])) for r in rows],
        }
    )
    state = "tripped: " + "; ".join(b["reasons"]) if b["tripped"] else ("clear" if b["enabled"] else "disabled")
    notes = "".join(f"; {n}" for n in b.get("notes", []))
    return t.style.hide(axis="index").set_caption(f"Circuit breaker: {state}{notes}")


SIDE_COLOURS = {"buy": "#2e7d32", "sell": "#c62828"}


def order_card(o: PlanOrder, session: dt.date) -> str:
    """One order as a block that reads on a phone (inline styles: the email uses it too):
    side, symbol and amount; the shares and the price assumed; why, with the strategy's or
    the exit's numbers; the stop and target; and how the amount was sized."""
    e = html.escape
    colour = SIDE_COLOURS.get(o.side, "#555")
    levels = " &middot; ".join(
        f"{name} {_money(v)}" for name, v in (("Stop", o.stop_price), ("target", o.target_price)) if v is not None
    ) or e(o.exits_by)
    wait = " <i>(sent once the sells have filled)</i>" if o.after_sells_fill else ""
    return (
        f"<div style='border:1px solid #ddd;border-left:6px solid {colour};padding:6px 10px;margin:6px 0;'>"
        f"<div style='font-size:15px;'><b style='color:{colour};'>{o.side.upper()}</b> <b>{e(o.symbol)}</b> "
        f"{_money(o.est_value)}{wait}</div>"
        f"<div style='font-size:13px;color:#444;'>{e(o.assumed)} (the close of {session})</div>"
        f"<div style='font-size:13px;margin-top:3px;'><b>Why:</b> {e(o.why or o.reason)}</div>"
        + (f"<div style='font-size:13px;'>{levels}</div>" if o.side == "buy" else "")
        + (f"<div style='font-size:12px;color:#555;'>Sizing: {e(o.sizing)}</div>" if o.sizing else "")
        + "</div>"
    )


def order_cards(plan: Plan) -> str:
    """The Next Day Trading Plan: one card per order, sells first (HTML)."""
    if not plan.orders:
        return f"<p><b>No trades tomorrow:</b> {html.escape(plan.no_orders_reason)}.</p>"
    ramp = plan.limits.get("ramp_note")
    head = (
        f"<p style='font-size:12px;color:#555;margin:4px 0;'>DAY market orders for the open after {plan.session}: "
        "sells first, then buys." + (f" {html.escape(ramp)}." if ramp else "") + "</p>"
    )
    return head + "".join(order_card(o, plan.session) for o in plan.orders)


def orders_table(plan: Plan) -> HTML:
    return HTML(order_cards(plan))


def signal_decisions_table(plan: Plan) -> HTML:
    """Every signal and its decision; the standing exit signals of symbols not held (a
    trend strategy says "sell" of every symbol below its trend) are folded into one line."""
    held = {p.symbol for p in plan.portfolio.positions}
    idle = sorted({s["symbol"] for s in plan.signals if s["action"] == "SELL" and s["symbol"] not in held})
    rows = [s for s in plan.signals if s["action"] == "BUY" or s["symbol"] in held]
    folded = (
        f"<p>{len(idle)} exit signal(s) for symbols not held, so nothing to sell: {html.escape(', '.join(idle))}.</p>"
        if idle
        else ""
    )
    if not rows:
        return HTML(folded or "<p>No signals today.</p>")
    t = pd.DataFrame(rows)
    t["reasons"] = t["reasons"].map(lambda r: "; ".join(r))
    order = {"accepted": 0, "resized": 1, "rejected": 2}
    t = t.sort_values(["decision", "action", "rank"], key=lambda s: s.map(order) if s.name == "decision" else s)
    table = (
        t[["symbol", "strategy", "action", "confidence", "score", "decision", "notional", "reasons"]]
        .style.format({"confidence": "{:.2f}", "score": "{:.3f}", "notional": _money}, na_rep="")
        .hide(axis="index")
        .set_caption("Every signal and what was decided about it")
    )
    return HTML(table.to_html() + folded)


def portfolio_summary(plan: Plan) -> HTML:
    risk = plan.risk["state"].replace("_", " ") + (
        " + circuit breaker" if plan.risk["circuit_breaker"]["tripped"] else ""
    )
    return account_summary(plan.portfolio, plan.limits["portfolio_size"], risk, plan.reconciliation)


def account_summary(p: Portfolio, start: float, risk: str, notes: Sequence[str] = ()) -> HTML:
    """Value, cash, P&L, drawdown, risk state, then the positions with their P&L."""
    doc = p.to_json()
    day = (
        f"{_money(p.equity - p.previous_equity)} ({p.daily_change:+.2%})"
        if p.daily_change is not None and p.previous_equity is not None
        else "n/a (first session)"
    )
    total = p.equity - start
    rows = {
        "Portfolio value": _money(p.equity),
        "Cash": _money(p.cash),
        "Invested": f"{_money(p.invested)} in {len(p.positions)} position(s)",
        "Day P&L": day,
        "Total P&L": f"{_money(total)} ({total / start:+.2%} vs PORTFOLIO_SIZE {_money(start)})",
        "Drawdown from peak": f"{p.drawdown:.2%} (peak {_money(doc['peak_equity'])})",
        "Risk state": risk,
        "Account": f"{p.source}" + (f", {p.account}" if p.account else ""),
    }
    table = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items())
    positions = ""
    if p.positions:
        t = pd.DataFrame([x.to_json() for x in p.positions])
        t["pl_pct"] = t["unrealized_pl"] / (t["avg_entry_price"] * t["qty"])
        positions = (
            t[
                [
                    "symbol",
                    "qty",
                    "avg_entry_price",
                    "price",
                    "market_value",
                    "unrealized_pl",
                    "pl_pct",
                    "strategy",
                    "stop_price",
                    "target_price",
                ]
            ]
            .style.format(
                {
                    "qty": "{:g}",
                    "avg_entry_price": "{:.2f}",
                    "price": "{:.2f}",
                    "market_value": _money,
                    "unrealized_pl": _money,
                    "pl_pct": "{:+.2%}",
                    "stop_price": "{:.2f}",
                    "target_price": "{:.2f}",
                },
                na_rep="",
            )
            .hide(axis="index")
            .to_html()
        )
    items = ""
    if notes:
        lines = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        items = f"<p><b>Since the last run (broker vs AlgoTrading's record):</b></p><ul>{lines}</ul>"
    return HTML(f"<table>{table}</table>{positions}{items}")


FATE_COLOURS = {"filled": "#2e7d32", "partially_filled": "#ef6c00", "waiting": "#1565c0", "open": "#1565c0"}


def previous_orders_table(plan: Plan) -> Styler | HTML:
    """Each order of the last plan and what became of it (execution.outcomes)."""
    if not plan.previous_orders:
        return HTML("<p>No orders were sent from an earlier plan.</p>")
    t = pd.DataFrame(plan.previous_orders)
    t["fate"] = t["fate"].str.replace("_", " ")
    shown = t[["session", "side", "symbol", "planned", "fate", "filled_qty", "avg_price", "slippage_bps", "detail"]]
    return (
        shown.style.format({"filled_qty": "{:g}", "avg_price": "{:.2f}", "slippage_bps": "{:+.1f}"}, na_rep="")
        .apply(
            lambda r: [
                f"color: {FATE_COLOURS.get(r['fate'].replace(' ', '_'), '#c62828')}" if c == "fate" else ""
                for c in r.index
            ],
            axis=1,
        )
        .hide(axis="index")
        .set_caption(f"The orders of the {t['session'].iloc[0]} plan and their fate (slippage in basis points)")
    )


def top_signals_table(plan: Plan) -> Styler | HTML:
    if not plan.top_signals:
        eligible = [s["name"] for s in plan.strategies if s["eligible"]]
        why = "no strategy has positive momentum" if not eligible else "no BUY signal from an eligible strategy"
        return HTML(f"<p><b>No high-conviction signal today</b>: {why}.</p>")
    t = pd.DataFrame(plan.top_signals)
    return (
        t.style.format(
            {"confidence": "{:.2f}", "momentum": "{:+.1%}", "momentum_score": "{:.2f}", "score": "{:.3f}"}, na_rep=""
        )
        .hide(axis="index")
        .set_caption("Top signals by score")
    )
