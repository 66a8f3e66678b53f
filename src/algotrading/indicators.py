"""Technical indicators, vectorised over wide frames (dates x symbols).

Every function uses only rows up to each date (no look-ahead): the value on day D is
computed from data on or before D.
"""

from __future__ import annotations

import pandas as pd


def period_return(close: pd.DataFrame, sessions: int) -> pd.DataFrame:
    """Return over the last ``sessions`` sessions: close / close ``sessions`` rows earlier - 1."""
    if sessions < 1:
        raise ValueError("sessions must be >= 1")
    return close / close.shift(sessions) - 1.0


def rebase(close: pd.DataFrame, base: float = 100.0) -> pd.DataFrame:
    """Each column divided by its first valid value, times ``base`` (growth of ``base``)."""
    first = close.bfill().iloc[0]
    return close.div(first) * base
