"""The health dashboard ``reports/status.html`` (Requirement 4.2), rewritten by every
run: run timeline, per-step durations, uptime, equity and drawdown, strategy momentum
over time, open alerts and recent failures. One self-contained file that opens offline.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from algotrading import calendar as cal
from algotrading.config import Settings
from algotrading.daily import artifacts
from algotrading.monitor.status import Status, build_status
from algotrading.report.plotly_json import stable_json
from algotrading.report.strategy_views import momentum_lines_figure
from algotrading.report.tearsheet import render_page
from algotrading.report.universe import LAYOUT, date_axis
from algotrading.storage.files import atomic_write_text
from algotrading.storage.store import Store

STATUS_HTML = "status.html"
TIMELINE_COLOURS = {
    "ok": "#2e7d32",
    "failed": "#c62828",
    "no run": "#bdbdbd",
    "market closed": "#90caf9",
    "running": "#f9a825",
    "interrupted": "#ef6c00",  # killed before it finished (jobs/recovery.py marks it at the next start)
}


def timeline_frame(runs: pd.DataFrame, end: dt.date, sessions: int) -> pd.DataFrame:
    """One row per weekday from the first of the last ``sessions`` sessions up to ``end``
    (but not before the first recorded run): the day's outcome (ok / failed / running /
    no run), or ``market closed`` on a weekday holiday. A day with several runs shows its
    last one."""
    days = cal.session_window(end, sessions)
    first = pd.to_datetime(runs["session_date"]).dt.date.min() if len(runs) else end
    weekdays = pd.bdate_range(max(days[0], first), end).date
    last = (
        (
            runs.assign(day=pd.to_datetime(runs["session_date"]).dt.date)
            .sort_values("started_at")
            .groupby("day")["status"]
            .last()
        )
        if len(runs)
        else pd.Series(dtype=str)
    )
    rows = []
    for d in weekdays:
        state = "market closed" if not cal.is_session(d) else str(last.get(d, "no run"))
        rows.append({"day": d, "status": state})
    return pd.DataFrame(rows)


DAY_MS = 86_400_000


def timeline_figure(timeline: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for state, colour in TIMELINE_COLOURS.items():
        part = timeline[timeline["status"] == state]
        if len(part):
            fig.add_trace(
                go.Bar(
                    x=part["day"],
                    y=[1] * len(part),
                    name=state,
                    marker_color=colour,
                    width=0.8 * DAY_MS,
                    hovertemplate="%{x}: " + state + "<extra></extra>",
                )
            )
    fig.update_layout(
        title="Run timeline (weekdays)",
        barmode="overlay",
        height=220,
        yaxis_visible=False,
        showlegend=True,
        xaxis={"type": "date", **date_axis(timeline["day"])},
        **LAYOUT,
    )
    return fig


#: Fewer recorded sessions than this make a chart of a dot or a single segment.
MIN_CHART_POINTS = 3


def durations_figure(runs: pd.DataFrame, last: int = 30) -> go.Figure:
    recent = runs.tail(last)
    labels = [run_label(str(d), str(t)) for d, t in zip(recent["session_date"], recent["started_at"], strict=True)]
    steps = pd.DataFrame(list(recent["steps"]), index=labels).fillna(0)
    fig = go.Figure()
    for step in steps.columns:
        fig.add_trace(go.Bar(x=steps.index, y=steps[step].round(2), name=step))
    fig.update_layout(
        title=f"Seconds per step (last {len(recent)} runs)", barmode="stack", height=360, yaxis_title="s", **LAYOUT
    )
    return fig


def run_label(session: str, started_at: str) -> str:
    """e.g. "2025-12-31, run 21:30:05 UTC": the session and when its run started."""
    clock = started_at[11:19] if len(started_at) >= 19 else started_at
    return f"{session}, run {clock} UTC"


def equity_html(history: pd.DataFrame) -> str:
    """The equity chart once there is a line to draw; before that, the sessions in words."""
    if len(history) >= MIN_CHART_POINTS:
        return _fig(equity_figure(history))
    rows = "; ".join(
        f"${e:,.2f} on {d:%Y-%m-%d}" for d, e in zip(history["session_date"], history["equity"], strict=True)
    )
    return (
        f"<p>Equity recorded: {rows}. The chart starts once {MIN_CHART_POINTS} sessions are recorded "
        f"({len(history)} so far).</p>"
    )


def equity_figure(history: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=history["session_date"], y=history["equity"], name="equity", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(x=history["session_date"], y=history["peak_equity"], name="peak", mode="lines", line={"dash": "dot"})
    )
    fig.add_trace(
        go.Scatter(
            x=history["session_date"],
            y=-100 * history["drawdown"],
            name="drawdown (%)",
            yaxis="y2",
            mode="lines",
            line={"color": "#c62828"},
        )
    )
    fig.update_layout(
        title="Account equity and drawdown",
        height=360,
        yaxis_title="$",
        yaxis2={"title": "drawdown %", "overlaying": "y", "side": "right", "showgrid": False},
        xaxis={"type": "date", **date_axis(history["session_date"])},
        hovermode="x unified",
        **LAYOUT,
    )
    return fig


def _fig(fig: go.Figure) -> str:
    stable_json()
    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        include_mathjax=False,
        config={"displaylogo": False, "responsive": True},
    )


def _table(rows: list[dict[str, object]], columns: list[str], empty: str) -> str:
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f'<th class="text">{html.escape(c)}</th>' for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="text">{html.escape(str(r.get(c) if r.get(c) is not None else ""))}</td>' for c in columns
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kpi_html(status: Status) -> str:
    cards = []
    for u in status.uptime:
        rate = "n/a" if u.rate is None else f"{u.rate:.1%}"
        css = "ok" if u.rate is not None and u.rate >= 0.99 else "warn"
        cards.append(
            f'<div class="kpi"><b class="{css}">{rate}</b><span>uptime, last {u.sessions} sessions '
            f"({u.ok} of {u.counted})</span></div>"
        )
    risk_css = "ok" if status.risk["state"] == "ACTIVE" else "bad"
    cards.append(
        f'<div class="kpi"><b class="{risk_css}">{html.escape(status.risk["state"])}</b><span>risk state</span></div>'
    )
    cards.append(f'<div class="kpi"><b>{len(status.open_alerts)}</b><span>open alerts</span></div>')
    cards.append(f'<div class="kpi"><b>{len(status.unsent_emails)}</b><span>undelivered emails</span></div>')
    cards.append(
        f'<div class="kpi"><b>{html.escape(status.last_success or "none")}</b><span>last good session</span></div>'
    )
    next_run = status.next_scheduled[:16].replace("T", " ") if status.schedule else "not scheduled"
    cards.append(f'<div class="kpi"><b>{html.escape(next_run)}</b><span>next run (New York)</span></div>')
    unscheduled = "" if status.schedule else " " + html.escape(f"Next run: {status.next_run}.")
    verdict = (
        f'<p class="ok"><b>Healthy.</b>{unscheduled}</p>'
        if status.healthy
        else '<p class="bad"><b>Attention:</b> ' + html.escape("; ".join(status.problems)) + "</p>"
    )
    return verdict + '<div class="kpis">' + "".join(cards) + "</div>"


def _latest_momentum(runs: pd.DataFrame) -> pd.DataFrame | None:
    for r in runs[runs["status"] == "ok"].iloc[::-1].itertuples():
        path = Path(str(r.report_dir)) / artifacts.STRATEGY_MOMENTUM
        if path.is_file():
            return pd.read_parquet(path)
    return None


def render_status_page(settings: Settings, store: Store, now: dt.datetime | None = None) -> str:
    status = build_status(settings, store, now)
    runs = store.runs()
    sections = [{"heading": None, "html": kpi_html(status)}]
    if status.reference_session:
        window = max(settings.monitor.uptime_sessions)
        timeline = timeline_frame(runs, dt.date.fromisoformat(status.reference_session), window)
        sections.append({"heading": "Runs", "html": _fig(timeline_figure(timeline))})
    if len(runs):
        sections.append({"heading": None, "html": _fig(durations_figure(runs))})
    sections.append(
        {
            "heading": "Open alerts",
            "html": _table(status.open_alerts, ["severity", "session_date", "message"], "No open alerts."),
        }
    )
    history = store.equity_history()
    if len(history):
        sections.append({"heading": "Account", "html": equity_html(history)})
    momentum = _latest_momentum(runs)
    if momentum is not None:
        rk = settings.ranking
        figure = momentum_lines_figure(momentum, rk.min_momentum_threshold, rk.momentum_lookback_days)
        sections.append({"heading": "Strategies", "html": _fig(figure)})
    sections.append(
        {
            "heading": "Recent runs",
            "html": _table(
                status.runs,
                ["session_date", "status", "duration_seconds", "started_at", "failed_step", "error"],
                "No run yet.",
            ),
        }
    )
    return render_page(
        title="AlgoTrading status",
        subtitle=f"{status.mode} mode · updated {status.now} · next run {status.next_run}",
        sections=sections,
        note="Uptime: sessions with a successful run, of the window's sessions since the first recorded run. "
        "`algotrading status` prints the same; `algotrading status --check` exits 1 when something needs a person.",
    )


def write_status_page(settings: Settings, store: Store, now: dt.datetime | None = None) -> Path:
    path = settings.paths.reports_dir / STATUS_HTML
    atomic_write_text(path, render_status_page(settings, store, now))
    return path
