"""The report's period returns on the data's first sessions: every horizon is a column,
NaN until a symbol has that much history (the first bundled session used to fail the
report with KeyError: ['3M'])."""

from __future__ import annotations

import numpy as np
import pandas as pd

from algotrading.config import load_settings
from algotrading.report.universe import HORIZONS, period_returns, returns_bar_figure

from .helpers import sessions


def test_one_session_of_history_gives_every_horizon_as_nan():
    close = pd.DataFrame({"SPY": [470.0], "AAPL": [180.0], "^VIX": [13.0]}, index=sessions(1))
    table = period_returns(close, load_settings().universe)
    assert list(table.columns) == ["group", *HORIZONS] and set(table.index) == {"SPY", "AAPL"}
    assert table[list(HORIZONS)].isna().all().all()
    fig = returns_bar_figure(table)
    assert fig.data == () and fig.layout.title.text == "3M return by symbol: not enough history yet"


def test_a_horizon_within_the_history_is_the_return_over_it():
    close = pd.DataFrame({"SPY": np.linspace(100.0, 130.0, 64)}, index=sessions(64))
    table = period_returns(close, load_settings().universe)
    assert table.loc["SPY", "1M"] == close["SPY"].iloc[-1] / close["SPY"].iloc[-22] - 1
    assert table.loc["SPY", "3M"] == 130.0 / 100.0 - 1  # 63 sessions back is the first row
    assert np.isnan(table.loc["SPY", "6M"])
