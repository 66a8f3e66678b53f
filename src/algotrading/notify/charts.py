"""Inline PNG charts for the email, rendered by kaleido (plotly's static export, which
drives a Chromium). Without a Chromium the email goes out without them, with a note."""

from __future__ import annotations

import logging
import shutil
import warnings

import kaleido
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from algotrading.notify.compose import Chart

log = logging.getLogger(__name__)
WIDTH, HEIGHT = 600, 260
CHROMIUM_HINT = "Charts omitted: no Chromium to render them (Debian: apt-get install chromium)."
_server_started = False


def chromium_available() -> bool:
    return any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def _png(fig: go.Figure) -> bytes:
    """PNG bytes through one persistent kaleido server (about 0.2 s an image once warm)."""
    global _server_started
    if not _server_started:
        kaleido.start_sync_server(silence_warnings=True)
        _server_started = True
    with warnings.catch_warnings():  # plotly notes that kaleido options are ignored with a server: expected
        warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
        return pio.to_image(fig, format="png", width=WIDTH, height=HEIGHT, scale=1)


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        template="plotly_white",
        margin={"l": 50, "r": 15, "t": 40, "b": 30},
        showlegend=False,
    )
    return fig


def equity_chart(history: pd.DataFrame) -> go.Figure:
    """The account's recorded equity and its running peak."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=history["session_date"],
            y=history["equity"],
            mode="lines+markers",
            name="equity",
            line={"color": "#1a237e"},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=history["session_date"],
            y=history["peak_equity"],
            mode="lines",
            name="peak",
            line={"color": "#9e9e9e", "dash": "dot"},
        )
    )
    fig.update_xaxes(tickformat="%b %d")
    return _layout(fig, "Account equity ($) and its peak")


def momentum_chart(momentum: dict[str, float], threshold: float) -> go.Figure:
    names = list(momentum)
    values = [100 * (momentum[n] or 0.0) for n in names]
    colours = ["#2e7d32" if v > threshold * 100 else "#c62828" for v in values]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker_color=colours,
            text=[f"{v:+.1f}%" for v in values],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.add_hline(y=threshold * 100, line_dash="dash")
    low, high = min([*values, 0.0]), max([*values, 0.0])
    pad = 0.18 * ((high - low) or 1.0)  # room for the labels above and below the bars
    fig.update_yaxes(range=[low - (pad if low < 0 else 0), high + pad])
    return _layout(fig, "Strategy momentum, last 90 days (%)")


def email_charts(history: pd.DataFrame, momentum: dict[str, float], threshold: float) -> tuple[list[Chart], str | None]:
    """The charts that can be drawn here, and a note when some cannot."""
    if not chromium_available():
        return [], CHROMIUM_HINT
    charts = []
    try:
        if len(history) >= 2:
            charts.append(Chart("equity", "Account equity and peak", "portfolio", _png(equity_chart(history))))
        if momentum:
            charts.append(Chart("momentum", "Strategy momentum", "signals", _png(momentum_chart(momentum, threshold))))
    except Exception as exc:  # a chart must never stop the plan from going out
        log.warning("email charts could not be rendered (%s); sending without them", exc)
        return [], f"Charts omitted: rendering failed ({type(exc).__name__})."
    return charts, None
