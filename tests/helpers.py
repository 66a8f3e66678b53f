"""Small builders for crafted market data in tests."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.config import Universe
from algotrading.data.market import MarketData

#: Headless Chromium as the machine's closed network needs it (no background fetches) and
#: with every host unresolvable, so a page that needs the network shows it.
CHROMIUM_OFFLINE = (
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def sessions(n: int, first: dt.date = dt.date(2016, 1, 4)) -> pd.DatetimeIndex:
    """``n`` consecutive NYSE sessions starting at ``first``."""
    days = cal.sessions_between(first, first + dt.timedelta(days=2 * n + 30))[:n]
    assert len(days) == n
    return pd.DatetimeIndex(days)


def market(
    closes: Mapping[str, np.ndarray | list[float]],
    volumes: Mapping[str, np.ndarray | list[float]] | None = None,
    first: dt.date = dt.date(2016, 1, 4),
    spread: float = 0.0,
) -> MarketData:
    """MarketData whose open is the previous close (first row: the close), high/low the
    max/min of open and close widened by ``spread`` (a fraction), volume 1e6 unless given."""
    n = len(next(iter(closes.values())))
    index = sessions(n, first)
    close = pd.DataFrame({s: np.asarray(v, dtype="float64") for s, v in closes.items()}, index=index)
    open_ = close.shift(1).fillna(close)
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    vol = pd.DataFrame(1e6, index=index, columns=close.columns)
    for s, v in (volumes or {}).items():
        vol[s] = np.asarray(v, dtype="float64")
    return MarketData(open=open_, high=high, low=low, close=close, volume=vol)


def universe(groups: Mapping[str, list[str]], benchmark: str = "SPY") -> Universe:
    return Universe(groups=dict(groups), benchmark=benchmark, volatility_index=None)


def email_body(plan, folder, submission: str | None = None):  # noqa: ANN001, ANN201
    """The email HTML of ``plan`` through the real email path (nbconvert's email template,
    css-inline, CID images), from a small executed notebook whose email cells hold what
    the report notebook's cells display: the decision views' HTML and the momentum PNG.
    (The real notebook's cells are tested end to end on a demo run.)"""
    import base64

    import nbformat

    from algotrading.notify.compose import byline, daily_subject, footer
    from algotrading.report import decision_views as dv
    from algotrading.report.email_charts import momentum_png
    from algotrading.report.email_html import render_email

    def md(text: str) -> nbformat.NotebookNode:
        return nbformat.v4.new_markdown_cell(text, metadata={"tags": ["email"]})

    def shown(data: dict[str, str]) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell("view", metadata={"tags": ["email"]})
        cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
        return cell

    png = momentum_png({s["name"]: s["momentum"] for s in plan.strategies}, 0.0)
    assert png is not None
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        shown({"text/html": dv.risk_banner(plan).data}),
        md("## Next Day Trading Plan"),
        shown({"text/html": dv.orders_table(plan).data}),
        md("## Portfolio Summary"),
        shown({"text/html": dv.portfolio_summary(plan).data}),
        md("## Top 4 Highest Conviction Signals"),
        shown({"text/html": dv.top_signals_table(plan).data}),
        shown({"image/png": base64.b64encode(png).decode(), "text/plain": "<Image>"}),
        md("## Cash Depletion Analysis"),
        shown({"text/html": dv.cash_summary(plan).data}),
        md("## Position Consolidation Recommendations"),
        shown({"text/html": dv.consolidation_table(plan).data}),
        nbformat.v4.new_code_cell("not in the email: untagged"),
    ]
    path = folder / "90_daily_report.ipynb"
    nbformat.write(nb, path)
    session = plan.session.isoformat()
    return render_email(path, daily_subject(session), session, byline(plan), footer(plan), submission)


def phone_width(page, folder) -> int:  # noqa: ANN001
    """How wide headless Chromium lays ``page`` out in a 390 px wide viewport (as on a
    phone): the document's scroll width in CSS pixels; more than 390 means something is
    cut off or scrolls sideways. Desktop Chromium will not make a window narrower than
    500 px, so the page goes into a 390 px wide iframe (``srcdoc``: same origin, readable)."""
    import html
    import re
    import subprocess

    probe = folder / "phone-probe.html"
    probe.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f"<iframe id='phone' style='width:390px;height:900px;border:0' srcdoc=\"{html.escape(page.read_text())}\">"
        "</iframe><script>document.getElementById('phone').addEventListener('load', (e) => {"
        "const d = e.target.contentDocument.documentElement;"
        "document.body.setAttribute('data-scroll-width', String(d.scrollWidth)); });</script></body></html>"
    )
    dom = subprocess.run(
        [
            *CHROMIUM_OFFLINE,
            f"--user-data-dir={folder / 'chrome-phone'}",
            "--window-size=800,1000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = re.search(r'data-scroll-width="(\d+)"', dom)
    assert found, dom[-2000:]
    return int(found.group(1))


#: The property tests' example counts (hypothesis). ``HYPOTHESIS_PROFILE=full`` (what
#: .ci/run sets) runs each at the count written beside it; by default a tenth, at least
#: 30, so the README's test command stays quick (the plan's properties were 89 s of it).
FULL_PROPERTIES = os.environ.get("HYPOTHESIS_PROFILE") == "full"


def examples(full: int) -> int:
    """``full`` under ``HYPOTHESIS_PROFILE=full``, else ``max(full // 10, 30)``."""
    return full if FULL_PROPERTIES else max(full // 10, 30)
