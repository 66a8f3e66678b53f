"""A plotly renderer whose figures survive nbconvert and open with no network.

plotly's ``notebook`` renderer embeds plotly.js once (good) but adds a MathJax
``<script src=cdn...>`` to every figure (plotly 7 hard-codes it), so a report rendered
from it reaches the internet. This renderer embeds plotly.js once per kernel (on
activation), writes each figure as a plain ``<div>`` + ``Plotly.newPlot`` with no
external URL, and also returns plotly's own JSON mime type so JupyterLab renders the
figure natively. nbconvert uses the HTML part.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.io as pio
from plotly.io._base_renderers import HtmlRenderer

from algotrading.report.plotly_json import stable_json

RENDERER_NAME = "algotrading_offline"


class OfflineHtmlRenderer(HtmlRenderer):
    """plotly.js inlined once at activation; figures without any CDN reference."""

    def __init__(self, height: int = 460) -> None:
        super().__init__(connected=False, full_html=False, global_init=True, include_plotlyjs=False)
        self.height = height

    def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, Any]:
        html = pio.to_html(
            fig_dict,
            include_plotlyjs=False,
            include_mathjax=False,
            full_html=False,
            default_width="100%",
            default_height=self.height,
            validate=False,
            config={"displaylogo": False, "responsive": True},
        )
        plain = json.loads(pio.to_json(fig_dict, validate=False))  # numpy/dates -> JSON types
        return {"text/html": html, "application/vnd.plotly.v1+json": plain}


def use_offline_renderer() -> None:
    """Register and activate the renderer (idempotent; embeds plotly.js on first call),
    with :func:`stable_json`."""
    stable_json()
    if RENDERER_NAME not in pio.renderers:
        pio.renderers[RENDERER_NAME] = OfflineHtmlRenderer()
    if pio.renderers.default != RENDERER_NAME:
        pio.renderers.default = RENDERER_NAME
