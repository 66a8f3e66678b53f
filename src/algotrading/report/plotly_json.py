"""How figures become JSON, the same wherever they are written (the notebooks' renderer,
the tearsheet, status.html). Its own module, away from the notebook renderer: importing
that one loads IPython's display machinery (0.14 s), which `algotrading backtest` does
not need."""

from __future__ import annotations

import plotly.io as pio


def stable_json() -> None:
    """Figures' JSON by the standard library's encoder. plotly's default ("auto") uses
    orjson when it is installed (prefect, the orchestrator extra, brings it in), which
    writes dates and orders keys its own way: a report's figures would then depend on what
    else is installed (tests/notebook_refs compare them)."""
    pio.json.config.default_engine = "json"
