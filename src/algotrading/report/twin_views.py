"""The "Paper twin" section of a live account's report and email: the comparison with its
paper twin (daily/twin.py) as tables that read on a phone, a chart, and the same in
plain text (its chart is :func:`algotrading.report.notebook.twin_image`). Formatting only;
an account without a twin shows nothing at all (each view returns None, so its cell has
no output)."""

from __future__ import annotations

import html

from IPython.display import HTML

from algotrading.daily.steps import DailyView
from algotrading.daily.twin import OrderPair, Side, TwinComparison
from algotrading.report.decision_views import FATE_COLOURS, SIDE_COLOURS, SMALL
from algotrading.report.formats import money, pct

#: How the section explains its numbers (the report, the email and its plain text).
METHOD = (
    "Both accounts get the same signals; their sizes may differ (the live ramp, their own limits), so fills are "
    "compared per share and equity as the return since the first session both recorded. Slippage is what the live "
    "fill cost against the paper fill: per share (positive: live paid more for a buy, or got less for a sell), in "
    "basis points of the paper price, and in dollars for the live shares. The returns also differ by how much of "
    "each account is invested, and a deposit or withdrawal on either account counts as return here."
)
#: Fates of a side that is not an order at the broker, in words.
NOT_AT_BROKER = {
    "planned": "planned",
    "not_planned": "not in its plan",
    "no_plan": "no plan",
    "not_sent": "not sent",
}


def _num(x: float, digits: int = 4) -> str:
    """2 decimals when that is exact to ``digits``, else ``digits`` (fill prices, $/share)."""
    return f"{x:,.2f}" if round(x, 2) == round(x, digits) else f"{x:,.{digits}f}"


def _shares(qty: float) -> str:
    return f"{qty:,.4f}".rstrip("0").rstrip(".")


def _per_share(x: float) -> str:
    return f"{'-' if x < 0 else '+'}${_num(abs(x))}/sh"


def _fate(side: Side) -> str:
    return NOT_AT_BROKER.get(side.fate, side.fate.replace("_", " "))


def _fill(side: Side) -> str:
    """``2.9617 sh at $101.30``, or the fate when nothing filled."""
    if not side.filled:
        return _fate(side)
    assert side.avg_price is not None
    return f"{_shares(side.filled_qty)} sh at ${_num(side.avg_price)}"


def _slippage(o: OrderPair) -> str:
    if o.slippage_per_share is None or o.slippage_bps is None or o.slippage_total is None:
        return "-"
    return f"{_per_share(o.slippage_per_share)}, {o.slippage_bps:+.1f} bp, {money(o.slippage_total, signed=True)}"


def _drift_words(c: TwinComparison) -> str:
    d = c.latest_drift
    if d is None or d.drift is None:
        return "n/a (no session with equity on both sides yet)" if d is None else f"n/a on {d.session} (one side only)"
    return f"{100 * d.drift:+.2f} percentage points"


def headline(c: TwinComparison) -> str:
    """The comparison in one line (the run's log)."""
    if c.state != "ok":
        return f"paper twin '{c.twin}': {c.notes[0] if c.notes else c.state}"
    d = c.latest_drift
    returns = (
        f"since {c.start}: live {pct(d.live_return, signed=True)}, paper {pct(d.paper_return, signed=True)}, "
        f"drift {_drift_words(c)}"
        if d is not None
        else "no session with equity on both sides yet"
    )
    slip = (
        f"{len(c.compared)} fill(s) compared, slippage {money(c.slippage_total, signed=True)}"
        + (f" ({c.slippage_bps:+.1f} bp)" if c.slippage_bps is not None else "")
        if c.compared
        else "no order filled on both sides yet"
    )
    return f"paper twin '{c.twin}' {returns}; {slip}"


# -- the report's and the email's HTML -------------------------------------------------------


def _order_cell(o: OrderPair) -> str:
    colour = SIDE_COLOURS.get(o.side, "#555")
    return f"<b style='color:{colour};'>{o.side.upper()}</b> <b>{html.escape(o.symbol)}</b>"


def _side_cell(side: Side, shown: str) -> str:
    colour = "#222222" if side.filled or side.fate == "planned" else FATE_COLOURS.get(side.fate, "#c62828")
    return f"<span style='color:{colour};'>{html.escape(shown)}</span>"


def _plan_table(pairs: list[OrderPair]) -> str:
    if not pairs:
        return "<p>Neither plan has orders for the next open.</p>"
    rows = "".join(
        f"<tr><td>{_order_cell(o)}</td><td>{_side_cell(o.live, o.live.planned or _fate(o.live))}</td>"
        f"<td>{_side_cell(o.paper, o.paper.planned or _fate(o.paper))}</td></tr>"
        for o in pairs
    )
    return f"<table><tr><th>Order</th><th>Live</th><th>Paper</th></tr>{rows}</table>"


def _fills_rows(pairs: list[OrderPair], with_session: bool = False) -> str:
    out = []
    for o in pairs:
        slip = "-"
        if o.slippage_per_share is not None and o.slippage_bps is not None:
            slip = (
                f"{_per_share(o.slippage_per_share)}{SMALL}{o.slippage_bps:+.1f} bp, "
                f"{money(o.slippage_total, signed=True)}</span>"
            )
        day = f"<td>{o.session}</td>" if with_session else ""
        out.append(
            f"<tr>{day}<td>{_order_cell(o)}</td><td>{_side_cell(o.live, _fill(o.live))}</td>"
            f"<td>{_side_cell(o.paper, _fill(o.paper))}</td><td>{slip}</td></tr>"
        )
    return "".join(out)


def _fills_table(pairs: list[OrderPair], with_session: bool = False) -> str:
    head = "<th>Session</th>" if with_session else ""
    return (
        f"<table><tr>{head}<th>Order</th><th>Live fill</th><th>Paper fill</th><th>Slippage</th></tr>"
        f"{_fills_rows(pairs, with_session)}</table>"
    )


def _summary_table(c: TwinComparison) -> str:
    d = c.latest_drift
    rows: dict[str, str] = {}
    if d is not None:
        rows[f"Live return since {c.start}"] = (
            f"{pct(d.live_return, signed=True)} ({money(d.live_equity)})" if d.live_equity is not None else "n/a"
        )
        rows["Paper return"] = (
            f"{pct(d.paper_return, signed=True)} ({money(d.paper_equity)})"
            if d.paper_equity is not None
            else f"n/a (no equity recorded on {d.session})"
        )
        rows["Drift (live - paper)"] = _drift_words(c)
    if c.compared:
        bps = f" ({c.slippage_bps:+.1f} bp)" if c.slippage_bps is not None else ""
        rows["Slippage, live vs paper"] = (
            f"{money(c.slippage_total, signed=True)}{bps} on {len(c.compared)} order(s) filled on both sides"
        )
    else:
        rows["Slippage, live vs paper"] = "no order filled on both sides yet"
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows.items()) + "</table>"


def _notes(pairs: list[OrderPair], notes: list[str]) -> str:
    items = [
        f"<li><b>{o.side.upper()} {html.escape(o.symbol)}</b>: {html.escape(o.note)}</li>" for o in pairs if o.note
    ]
    items += [f"<li>{html.escape(n)}</li>" for n in notes]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def summary_html(c: TwinComparison) -> str:
    """The section's head: who is compared since when, the returns and the slippage (or,
    without a usable twin state, why there is nothing to compare)."""
    intro = (
        f"<p>Compared with <b>{html.escape(c.twin)}</b>, the paper twin of this account"
        + (f", since {c.start}" if c.start else "")
        + ".</p>"
    )
    head = "<h2>Paper twin</h2>" + intro
    return head + (_summary_table(c) if c.state == "ok" else _notes([], c.notes))


def details_html(c: TwinComparison) -> str:
    """The plans for the next open side by side, the fills of the latest earlier plan, and
    every gap in words; then how the numbers are made."""
    if c.state != "ok":
        return ""
    parts = ["<h3>Plans for the next open</h3>", _plan_table(c.plan)]
    if c.plan:
        parts.append("<p style='font-size:12px;color:#555;'>The live orders go out after this report.</p>")
    parts.append(_notes(c.plan, []))
    if c.fills_session is not None:
        parts += [f"<h3>Fills of the {c.fills_session} plan</h3>", _fills_table(c.latest_fills)]
        parts.append(_notes(c.latest_fills, []))
    elif c.start is not None:
        parts.append(f"<p>No plan since {c.start} sent orders on either side yet.</p>")
    parts.append(_notes([], c.notes))
    parts.append(f"<p style='font-size:12px;color:#555;'>{html.escape(METHOD)}</p>")
    return "".join(parts)


def twin_summary(view: DailyView) -> HTML | None:
    """The "Paper twin" section's head (email and report); None for an account without a twin."""
    return None if view.twin is None else HTML(summary_html(view.twin))


def twin_details(view: DailyView) -> HTML | None:
    """The section's tables and notes, below its chart; None without a twin (or a state)."""
    return None if view.twin is None or view.twin.state != "ok" else HTML(details_html(view.twin))


def twin_history(view: DailyView) -> HTML | None:
    """The report's full record: every order compared since the pair started, and each
    session's equity and drift (fold-outs: plain ``<details>``, no script)."""
    c = view.twin
    if c is None or c.state != "ok":
        return None
    orders = (
        f"<details><summary>All {len(c.orders)} order(s) of the plans since {c.start}</summary>"
        f"{_fills_table(c.orders, with_session=True)}{_notes(c.orders, [])}</details>"
        if c.orders
        else ""
    )
    rows = "".join(
        f"<tr><td>{d.session}</td><td>{pct(d.live_return, signed=True)}{SMALL}{money(d.live_equity)}</span></td>"
        f"<td>{pct(d.paper_return, signed=True)}{SMALL}{money(d.paper_equity)}</span></td>"
        f"<td>{'n/a' if d.drift is None else f'{100 * d.drift:+.2f} pp'}</td></tr>"
        for d in c.drift
    )
    drift = (
        f"<details><summary>Equity of the {len(c.drift)} session(s) since {c.start}</summary><table><tr>"
        f"<th>Session</th><th>Live</th><th>Paper</th><th>Drift</th></tr>{rows}</table></details>"
        if c.drift
        else ""
    )
    return HTML(orders + drift) if orders or drift else None


# -- the plain-text email ----------------------------------------------------------------------


def twin_lines(c: TwinComparison) -> list[str]:
    """The section in plain text, one line each (the email's text part)."""
    lines = [f"PAPER TWIN ({c.twin}" + (f", since {c.start}" if c.start else "") + ")"]
    if c.state != "ok":
        return lines + [f"  {n}" for n in c.notes]
    d = c.latest_drift
    if d is not None:
        lines.append(
            f"  Return since {c.start}: live {pct(d.live_return, signed=True)}, paper "
            f"{pct(d.paper_return, signed=True)}, drift {_drift_words(c)}"
        )
    lines.append(
        f"  Slippage live vs paper: {money(c.slippage_total, signed=True)}"
        + (f" ({c.slippage_bps:+.1f} bp)" if c.slippage_bps is not None else "")
        + f" on {len(c.compared)} order(s) filled on both sides"
    )
    lines.append("  Plans for the next open (live | paper):")
    lines += [
        f"    {o.side.upper():<4} {o.symbol:<6} {o.live.planned or _fate(o.live)} | {o.paper.planned or _fate(o.paper)}"
        for o in c.plan
    ] or ["    neither plan has orders"]
    if c.fills_session is not None:
        lines.append(f"  Fills of the {c.fills_session} plan (live | paper | slippage):")
        lines += [
            f"    {o.side.upper():<4} {o.symbol:<6} {_fill(o.live)} | {_fill(o.paper)} | {_slippage(o)}"
            for o in c.latest_fills
        ]
    notes = [o for o in [*c.plan, *c.latest_fills] if o.note]
    lines += [f"  * {o.side.upper()} {o.symbol}: {o.note}" for o in notes]
    lines += [f"  * {n}" for n in c.notes]
    lines.append(f"  {METHOD}")
    return lines
