"""The email's charts as PNG images drawn by matplotlib (the Agg backend, in-process).

An email cannot run plotly's JavaScript, and plotly's static export (kaleido) needs a
Chromium that a fresh server does not have; matplotlib ships its renderer in its wheel,
so the charts are there on any machine the README's two commands set up. The report's
email cells display these images; the interactive plotly figures stay in report.html.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a server; must come before pyplot

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Drawn at 200 dpi for sharp phone screens and shown at most 600 CSS pixels wide; the
#: fonts are sized for a phone, where the image is scaled to about 360 pixels.
WIDTH_IN, HEIGHT_IN, DPI = 4.8, 2.4, 200
INK, MUTED, UP, DOWN = "#1a237e", "#9e9e9e", "#2e7d32", "#c62828"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    plt.close(fig)
    return buffer.getvalue()


def _axes(title: str) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
    ax.set_title(title, fontsize=11, loc="left", color="#222222")
    ax.tick_params(labelsize=9, colors="#444444")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#eeeeee", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def equity_png(history: pd.DataFrame) -> bytes | None:
    """The account's recorded equity and its running peak, by session (None before the
    second recorded session: one point is not a chart)."""
    if len(history) < 2:
        return None
    xs = range(len(history))
    fig, ax = _axes("Account equity ($) and its peak")
    ax.plot(xs, history["peak_equity"], color=MUTED, linestyle=":", linewidth=1.2, label="peak")
    ax.plot(xs, history["equity"], color=INK, linewidth=1.6, marker="o" if len(history) <= 20 else None, ms=3)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("${x:,.0f}"))
    _session_axis(ax, list(history["session_date"]))
    return _png(fig)


def _session_axis(ax: plt.Axes, sessions: list[object]) -> None:
    """An x axis of sessions, one step each (no weekend gaps, no hour ticks on a short
    stretch, which a date axis drew for two sessions), labelled by date: day and month,
    or month and year beyond half a year."""
    days = [pd.Timestamp(str(d)) for d in sessions]
    fmt = "%b %d" if (days[-1] - days[0]).days <= 183 else "%b %Y"
    labels = [d.strftime(fmt) for d in days]
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, integer=True))
    ax.xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda x, _: labels[int(x)] if 0 <= int(x) < len(labels) else "")
    )


def momentum_png(momentum: dict[str, float | None], threshold: float) -> bytes | None:
    """Each strategy's momentum (the last 90 days' return, %) against the threshold its
    signals must beat to be ranked; green above it, red at or below."""
    if not momentum:
        return None
    names = list(momentum)[::-1]  # the first strategy on top
    values = [100 * (momentum[n] or 0.0) for n in names]
    fig, ax = _axes("Strategy momentum, last 90 days (%)")
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
    bars = ax.barh(names, values, color=[UP if v > threshold * 100 else DOWN for v in values], height=0.6)
    ax.axvline(threshold * 100, color="#555555", linestyle="--", linewidth=0.9)
    ax.bar_label(bars, labels=[f"{v:+.1f}%" for v in values], fontsize=9, padding=3)
    low, high = min([*values, 0.0]), max([*values, 0.0])
    pad = 0.25 * ((high - low) or 1.0)  # room for the labels
    ax.set_xlim(low - (pad if low < 0 else 0), high + pad)
    return _png(fig)


def twin_png(rows: list[tuple[str, float | None, float | None]]) -> bytes | None:
    """A live account's and its paper twin's return since the pair started (%), by session
    (session, live, paper; None where an account recorded nothing), one point per session
    (no weekend gaps, no hour ticks on a short stretch): None before two sessions have both."""
    if sum(lv is not None and pv is not None for _, lv, pv in rows) < 2:
        return None
    fig, ax = _axes("Return since the twin started (%): live vs paper")
    sides = {"live": [lv for _, lv, _ in rows], "paper": [pv for _, _, pv in rows]}
    for name, colour, style in (("live", INK, "-"), ("paper", MUTED, "--")):
        points = [(n, 100 * v) for n, v in enumerate(sides[name]) if v is not None]
        xs, values = zip(*points, strict=True)
        marker = "o" if len(points) <= 20 else None
        ax.plot(xs, values, color=colour, linestyle=style, linewidth=1.6, marker=marker, ms=3, label=name)
    ax.axhline(0, color="#bbbbbb", linewidth=0.8)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=100, decimals=None))
    _session_axis(ax, [r[0] for r in rows])
    ax.legend(fontsize=9, frameon=False, loc="best")
    return _png(fig)
