"""The report notebook's tables and figures of one run's data (a
:class:`~algotrading.daily.steps.DailyView`, which :func:`algotrading.daily.steps.daily_view`
loads). Formatting only: no decisions, nothing written."""

from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML, Image
from pandas.io.formats.style import Styler

from algotrading.config import load_settings
from algotrading.daily.steps import DailyView
from algotrading.data.validation import EXCLUDED, OK, WARNING
from algotrading.report import email_charts
from algotrading.report import universe as uni
from algotrading.report.formats import source_notes
from algotrading.report.plotly_offline import use_offline_renderer

STATUS_COLORS = {OK: "#e8f5e9", WARNING: "#fff8e1", EXCLUDED: "#ffebee"}


def setup() -> None:
    """Figures that render offline in the HTML report and natively in JupyterLab."""
    use_offline_renderer()
    pd.set_option("display.max_rows", 200)


def summary(view: DailyView) -> Styler:
    """Key facts of the run: session, mode, data source and how many symbols passed."""
    health = view.snapshot.health
    counts = health["status"].value_counts()
    tradable = health[health["group"] != "market"]
    first, last = view.snapshot.bars["date"].min(), view.snapshot.bars["date"].max()
    facts = {
        "Session": view.context.session_date.isoformat(),
        "Mode": view.context.mode,
        "Data source": view.snapshot.provider,
        "Universe": f"{len(tradable)} symbols in {len(view.context.universe.groups)} groups",
        "Data health": f"{counts.get(OK, 0)} ok, {counts.get(WARNING, 0)} warning, {counts.get(EXCLUDED, 0)} excluded",
        "Bars loaded": f"{first:%Y-%m-%d} .. {last:%Y-%m-%d} ({view.snapshot.bars['date'].nunique()} sessions)",
        "Data fingerprint": view.snapshot.fingerprint[:16],
        "Generated": view.plan.generated_at if view.plan is not None else view.context.generated_at,
    }
    table = pd.DataFrame({"": list(facts.values())}, index=pd.Index(list(facts), name=None))
    return table.style.set_caption("Run summary")


HEALTH_SHOWN = [
    "symbol",
    "group",
    "status",
    "reason",
    "bars",
    "first_date",
    "last_date",
    "missing_sessions",
    "zero_volume",
    "split_like_jumps",
    "source",
]


def _health_styler(health: pd.DataFrame, caption: str) -> Styler:
    def colour(row: pd.Series) -> list[str]:
        return [f"background-color: {STATUS_COLORS.get(row['status'], 'white')}"] * len(row)

    return health[HEALTH_SHOWN].style.apply(colour, axis=1).hide(axis="index").set_caption(caption)


def health_table(view: DailyView) -> HTML:
    """Symbols with a problem first (or a line saying there is none), then every
    symbol's checks in a fold-out table (plain ``<details>``: no script needed)."""
    order = {EXCLUDED: 0, WARNING: 1, OK: 2}
    health = view.snapshot.health.sort_values(
        ["status", "group", "symbol"], key=lambda s: s.map(order) if s.name == "status" else s
    )
    problems = health[health["status"] != OK]
    if problems.empty:
        head = f"<p><b>All {len(health)} symbols passed every check.</b></p>"
    else:
        head = _health_styler(
            problems, "Symbols with data problems (excluded ones are not traded this session)"
        ).to_html()
    full = _health_styler(health, "Every symbol's checks").to_html()
    return HTML(f"{head}{_sources_html(health)}<details><summary>All {len(health)} symbols</summary>{full}</details>")


def _sources_html(health: pd.DataFrame) -> str:
    """Which source served how many symbols, and why a symbol came from a later source."""
    counts = health.loc[health["source"] != "", "source"].value_counts()
    line = ", ".join(f"{name}: {n} symbol{'s' if n != 1 else ''}" for name, n in counts.items())
    noted = health[health["source_note"] != ""]
    items = "".join(
        f"<li><b>{escape(row.symbol)}</b> from {escape(row.source or 'no source')}: {escape(row.source_note)}</li>"
        for row in noted.itertuples()
    )
    return f"<p><b>Sources</b>: {escape(line or 'none')}</p>" + (f"<ul>{items}</ul>" if items else "")


def universe_figure(view: DailyView) -> go.Figure:
    """Equal-weight group indices vs the benchmark over the last year."""
    universe = view.context.universe
    return uni.group_indices_figure(uni.group_indices(view.close, universe), universe.benchmark)


def returns_table(view: DailyView) -> Styler:
    """Each symbol's 1M/3M/6M/1Y return, best 3-month first."""
    table = uni.period_returns(view.close, view.context.universe)
    horizons = [c for c in table.columns if c != "group"]
    return (
        table.style.format("{:+.1%}", subset=horizons, na_rep="n/a")
        .background_gradient(cmap="RdYlGn", subset=horizons, vmin=-0.3, vmax=0.3)
        .set_caption("Period returns (adjusted close)")
    )


def returns_figure(view: DailyView, horizon: str = "3M") -> go.Figure:
    """Bar chart of every symbol's return over ``horizon``."""
    return uni.returns_bar_figure(uni.period_returns(view.close, view.context.universe), horizon)


# ----------------------------------------------------------------------------- the email's cells


def data_notes(view: DailyView) -> HTML:
    """The symbols left out today and those served by a fallback source (empty when none)."""
    health = view.snapshot.health
    excluded = view.snapshot.excluded
    lines = []
    if excluded:
        named = "; ".join(f"{s} ({why})" for s, why in excluded.items())
        lines.append(f"<p><b>Data:</b> {len(excluded)} symbol(s) excluded today: {escape(named)}.</p>")
    notes = source_notes(
        dict(zip(health["symbol"], health["source"], strict=True)),
        dict(zip(health["symbol"], health["source_note"], strict=True)),
        view.context.universe.volatility_index,
    )
    lines += [f"<p><b>Data source:</b> {escape(n)}</p>" for n in notes]
    return HTML("".join(lines) or "<p>Data: every symbol passed its checks.</p>")


def alerts_box(view: DailyView) -> HTML:
    """The open monitoring alerts, each once; "new" marks a condition that started today."""
    if not view.alerts:
        return HTML("<p>No open alerts.</p>")
    items = "".join(
        f"<li>{'<b>new:</b> ' if a.get('new') else ''}{escape(str(a['message']))}"
        + ("" if a.get("new") else f" <span style='color:#777;'>(open since {escape(str(a['session_date']))})</span>")
        + "</li>"
        for a in view.alerts
    )
    return HTML(
        "<div style='border-left:6px solid #f9a825;background:#fffde7;color:#222222;padding:6px 12px;'>"
        f"<b>Alerts ({len(view.alerts)} open)</b><ul>{items}</ul></div>"
    )


def equity_image(view: DailyView) -> Image | HTML:
    """The account's equity and peak as a PNG (the email cannot run plotly)."""
    if not load_settings().email.charts:  # charts: false in params/email.yaml
        return HTML("")
    history = view.equity if view.equity is not None else pd.DataFrame()
    png = email_charts.equity_png(history) if len(history) else None
    if png is None:
        return HTML("<p>The equity chart starts once two sessions are recorded.</p>")
    return Image(data=png, format="png", width=600, metadata={"alt": "Account equity and its peak"})


def momentum_image(view: DailyView) -> Image | HTML:
    """Each strategy's momentum against the ranking threshold, as a PNG."""
    assert view.plan is not None
    momentum = {s["name"]: s["momentum"] for s in view.plan.strategies}
    threshold = view.plan.limits.get("min_momentum_threshold", 0.0) or 0.0
    png = email_charts.momentum_png(momentum, threshold) if load_settings().email.charts else None
    if png is None:
        return HTML("")
    return Image(data=png, format="png", width=600, metadata={"alt": "Strategy momentum"})


def twin_image(view: DailyView) -> Image | None:
    """A live account's and its paper twin's return since the pair started, as a PNG (from
    two sessions on); None for an account without a twin (the cell shows nothing)."""
    c = view.twin
    if c is None or not load_settings().email.charts:
        return None
    png = email_charts.twin_png([(d.session, d.live_return, d.paper_return) for d in c.drift])
    if png is None:
        return None
    return Image(data=png, format="png", width=600, metadata={"alt": "Live and paper twin returns since the start"})
