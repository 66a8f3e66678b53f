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
from algotrading.portfolio import Portfolio, Position
from algotrading.report.formats import money, pct

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
    return money(x, missing="")


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
            order = "".join(
                f"<li><b>{html.escape(x.symbol)}</b> {money(x.market_value)}, P&amp;L "
                f"{pct(x.unrealized_pl_pct, signed=True, digits=1)}: {html.escape(x.note)}</li>"
                for x in c.liquidation
            )
            lines.append(f"<p>What to sell first, in order:</p><ol>{order}</ol>")
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
    head = f"<p style='color:#ef6c00;'><b>{html.escape(ramp)}.</b></p>" if ramp else ""
    return head + "".join(order_card(o, plan.session) for o in plan.orders)


#: Where the email says what the submission did (known only after the report ran).
SUBMISSION_MARK = "<!--algotrading:submission-->"


def orders_table(plan: Plan) -> HTML:
    return HTML(order_cards(plan) + SUBMISSION_MARK)


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
    """Value, cash, P&L, drawdown, risk state, then the positions with their P&L (four
    columns: it reads on a phone)."""
    doc = p.to_json()
    day = (
        f"{money(p.equity - p.previous_equity, signed=True)} ({pct(p.daily_change, signed=True)})"
        if p.daily_change is not None and p.previous_equity is not None
        else "n/a (first session)"
    )
    total = p.equity - start
    rows = {
        "Portfolio value": money(p.equity),
        "Cash": money(p.cash),
        "Invested": f"{money(p.invested)} in {len(p.positions)} position(s)",
        "Day P&L": day,
        "Total P&L": f"{money(total, signed=True)} ({pct(total / start, signed=True)} vs the starting {money(start)})",
        "Drawdown from peak": f"{pct(p.drawdown)} (peak {money(doc['peak_equity'])})",
        "Risk state": risk,
        "Account": f"{p.source}" + (f", {p.account}" if p.account else ""),
    }
    table = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items())
    positions = ""
    if p.positions:
        lines = "".join(_position_row(x) for x in sorted(p.positions, key=lambda x: x.symbol))
        positions = (
            f"<table><tr><th>Position</th><th>Value</th><th>P&amp;L</th><th>Stop / target</th></tr>{lines}</table>"
        )
    items = ""
    if notes:
        lines = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        items = f"<p><b>Since the last run (broker vs AlgoTrading's record):</b></p><ul>{lines}</ul>"
    return HTML(f"<table>{table}</table>{positions}{items}")


SMALL = "<br><span style='font-size:11px;color:#555;'>"


def _position_row(x: Position) -> str:
    levels = f"{money(x.stop_price, missing='-')} / {money(x.target_price, missing='-')}"
    return (
        f"<tr><td><b>{html.escape(x.symbol)}</b>{SMALL}{html.escape(x.strategy or 'unknown strategy')}</span></td>"
        f"<td>{money(x.market_value)}{SMALL}{x.qty:.4g} sh at {money(x.price)}</span></td>"
        f"<td>{money(x.unrealized_pl, signed=True)}{SMALL}{pct(x.unrealized_pl_pct, signed=True, digits=1)}</span></td>"
        f"<td>{levels}</td></tr>"
    )


FATE_COLOURS = {"filled": "#2e7d32", "partially_filled": "#ef6c00", "waiting": "#1565c0", "open": "#1565c0"}


def previous_orders_table(plan: Plan) -> HTML:
    """Each order of the last plan and what became of it (execution.outcomes), one line each."""
    if not plan.previous_orders:
        return HTML("<p>No orders were sent from an earlier plan.</p>")
    items = "".join(
        f"<li><b>{o['side'].upper()} {html.escape(o['symbol'])}</b> ({html.escape(str(o['planned']))}): "
        f"<b style='color:{FATE_COLOURS.get(o['fate'], '#c62828')};'>{o['fate'].replace('_', ' ')}</b>: "
        f"{html.escape(o['detail'])}</li>"  # the detail says the slippage, against the price assumed
        for o in plan.previous_orders
    )
    return HTML(f"<p>The orders of the {plan.previous_orders[0]['session']} plan:</p><ul>{items}</ul>")


def top_signals_table(plan: Plan) -> HTML:
    """The top signals by score and what the plan decided for each (four columns)."""
    if not plan.top_signals:
        eligible = [s["name"] for s in plan.strategies if s["eligible"]]
        why = "no strategy has positive momentum" if not eligible else "no BUY signal from an eligible strategy"
        return HTML(f"<p><b>No high-conviction signal today</b>: {why}.</p>")
    decisions = {(s["symbol"], s["strategy"]): s for s in plan.signals}
    rows = []
    for t in plan.top_signals:
        d = decisions.get((t["symbol"], t["strategy"]), {})
        decided = str(d.get("decision", ""))
        if d.get("notional"):
            decided += f" {money(d['notional'])}"
        agreeing = f"{SMALL}agreeing: {html.escape(t['agreeing'])}</span>" if t.get("agreeing") else ""
        rows.append(
            f"<tr><td>{t['rank']}</td><td><b>{html.escape(t['symbol'])}</b>{SMALL}{html.escape(t['strategy'])}</span>"
            f"{agreeing}</td><td>{t['score']:.3f}{SMALL}confidence {t['confidence']:.2f}, momentum "
            f"{pct(t['momentum'], signed=True, digits=1)}</span></td><td>{html.escape(decided)}</td></tr>"
        )
    return HTML("<table><tr><th>#</th><th>Signal</th><th>Score</th><th>Decision</th></tr>" + "".join(rows) + "</table>")
