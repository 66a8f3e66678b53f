"""One strategy's own book of positions, derived from its signal frames.

A position opens on a session whose entry rule fires (the order fills at the next
open) and closes on the first later session where, at the close, the stop is hit, the
target is hit, the position has been held ``max_hold`` sessions, or the exit rule holds,
in that order of precedence. Both the backtest and the daily run's view of "what this
strategy would hold" come from here, so they cannot disagree.

The loop runs over sessions and is vectorised over symbols (a few thousand numpy steps
for ten years), which keeps it free of compilation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algotrading.strategies.base import SignalFrames

EXIT_REASONS = ("", "exit_signal", "stop", "target", "max_hold")


@dataclass(frozen=True)
class PositionBook:
    """Sessions x symbols: where positions opened and closed (signal days), why they
    closed, and whether one is held after each session's decisions."""

    entries: pd.DataFrame
    exits: pd.DataFrame
    exit_reason: pd.DataFrame  # "" where no exit, else one of EXIT_REASONS
    holding: pd.DataFrame
    entry_close: pd.DataFrame  # the entry session's close while the position is open, else NaN


def simulate(frames: SignalFrames, close: pd.DataFrame, start: dt.date | None = None) -> PositionBook:
    """Walk the sessions in order, opening and closing positions by the frames' rules.

    No position opens before ``start``. ``close`` must cover the frames' symbols.
    """
    symbols = frames.symbols
    index = frames.entry.index
    px = close.reindex(index=index, columns=symbols).to_numpy(dtype="float64")
    entry = frames.entry.to_numpy(dtype=bool)
    exit_ = frames.exit.to_numpy(dtype=bool)
    stop = _levels(frames.stop, index, symbols)
    target = _levels(frames.target, index, symbols)
    first = int(index.searchsorted(pd.Timestamp(start))) if start is not None else 0
    max_hold = frames.max_hold

    n_rows, n_cols = entry.shape
    holding = np.zeros(n_cols, dtype=bool)
    opened_at = np.full(n_cols, -1)
    stop_level = np.full(n_cols, np.nan)
    target_level = np.full(n_cols, np.nan)
    entry_px = np.full(n_cols, np.nan)
    out_entry = np.zeros((n_rows, n_cols), dtype=bool)
    out_exit = np.zeros((n_rows, n_cols), dtype=bool)
    out_reason = np.zeros((n_rows, n_cols), dtype=np.int8)
    out_hold = np.zeros((n_rows, n_cols), dtype=bool)
    out_entry_px = np.full((n_rows, n_cols), np.nan)

    with np.errstate(invalid="ignore"):
        for t in range(n_rows):
            c = px[t]
            priced = ~np.isnan(c)
            hit_stop = holding & priced & (c <= stop_level)
            hit_target = holding & priced & (c >= target_level) & ~hit_stop
            done = hit_stop | hit_target
            hit_age = holding & ~done & (t - opened_at >= max_hold) if max_hold else np.zeros(n_cols, dtype=bool)
            done |= hit_age
            hit_rule = holding & ~done & exit_[t]
            done |= hit_rule
            reason = np.where(hit_stop, 2, np.where(hit_target, 3, np.where(hit_age, 4, np.where(hit_rule, 1, 0))))
            out_reason[t] = reason
            out_exit[t] = done
            holding &= ~done

            opening = ~holding & ~done & entry[t] & priced & (t >= first)
            holding |= opening
            opened_at[opening] = t
            stop_level[opening] = stop[t][opening]
            target_level[opening] = target[t][opening]
            entry_px[opening] = c[opening]
            out_entry[t] = opening
            out_hold[t] = holding
            out_entry_px[t] = np.where(holding, entry_px, np.nan)

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=index, columns=symbols)

    reasons = np.asarray(EXIT_REASONS, dtype=object)[out_reason]
    return PositionBook(frame(out_entry), frame(out_exit), frame(reasons), frame(out_hold), frame(out_entry_px))


def _levels(frame: pd.DataFrame | None, index: pd.Index, symbols: list[str]) -> np.ndarray:
    if frame is None:
        return np.full((len(index), len(symbols)), np.nan)
    return frame.reindex(index=index, columns=symbols).to_numpy(dtype="float64")
