"""One strategy's own book: positions its capital paid for, derived from its signal frames.

The rule (README "A strategy's book"), one session at a time:

* At session D's close a held position is closed when the close is at or below its stop,
  else at or above its target, else it has been held ``max_hold`` sessions (counted from
  its entry signal's session), else the exit rule holds. A symbol not held, not closed
  at that close and priced on D gets a buy when its entry rule fires.
* At D+1's open the sells fill first (the whole position), then the buys by confidence
  (highest first, ties by symbol): each buys ``fraction`` of the book's equity at that
  open, or the cash that is left when that is less; a buy that would get less than
  ``min_entry_value`` is skipped and blocks nothing later.

Backtests (and so walk-forward momentum and replay) take their orders from here: this is
the one place the rule lives. vectorbt then executes the orders and values the book, an
independent accountant of the same fills. Several books can share the walk (a parameter
sweep): ``groups`` gives each column its book, each with its own cash.

The walk is a loop over sessions, vectorised over symbols; only a session's buys are
taken one by one, since each spends cash the next cannot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algotrading.config import BacktestParams
from algotrading.strategies.base import SignalFrames

EXIT_REASONS = ("", "exit_signal", "stop", "target", "max_hold")
CONFIDENCE_DIGITS = 9  # confidences equal to this many digits tie (a sum of weights is not exact)


@dataclass(frozen=True)
class PositionBook:
    """Sessions x symbols. ``entries``, ``exits``, ``exit_reason`` and ``skipped`` are on
    signal sessions (a funded entry, an exit and why, an entry the cash could not fund);
    ``holding`` is whether a paid-for position is held after each session's decisions;
    ``orders`` are the shares filled at each session's open (+ bought, - sold, NaN none)."""

    entries: pd.DataFrame
    exits: pd.DataFrame
    exit_code: pd.DataFrame  # index into EXIT_REASONS (0: no exit), small ints: a sweep has millions of cells
    holding: pd.DataFrame
    skipped: pd.DataFrame
    orders: pd.DataFrame

    @property
    def exit_reason(self) -> pd.DataFrame:
        """Why each exit happened: "" where none, else one of ``EXIT_REASONS``."""
        names = np.asarray(EXIT_REASONS, dtype=object)[self.exit_code.to_numpy()]
        return pd.DataFrame(names, index=self.exit_code.index, columns=self.exit_code.columns)


def fill_prices(opens: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    """The price an order fills at on each session: the open, else that session's close,
    else the last known price (before a symbol's first bar, its first price, where no
    position can exist). The book and vectorbt use the same prices."""
    return opens.fillna(close).ffill().bfill()


def simulate(
    frames: SignalFrames,
    close: pd.DataFrame,
    prices: pd.DataFrame,
    params: BacktestParams,
    fraction: float | np.ndarray,
    start: dt.date | None = None,
    groups: np.ndarray | None = None,
    names: list[str] | None = None,
) -> PositionBook:
    """Walk the sessions in order by the rule above; no buy is decided before ``start``.

    ``close`` and ``prices`` (from :func:`fill_prices`) must cover the frames' symbols.
    ``groups``: the book each column belongs to (default: one book), ``fraction`` one
    for all books or one per book; ``names``: the symbol each column is, for ties
    (default: the column names).
    """
    symbols = frames.symbols
    index = frames.entry.index
    n_rows, n_cols = frames.entry.shape
    px = close.reindex(index=index, columns=symbols).to_numpy(dtype="float64")
    fill = prices.reindex(index=index, columns=symbols).to_numpy(dtype="float64")
    entry = frames.entry.to_numpy(dtype=bool)
    exit_ = frames.exit.to_numpy(dtype=bool)
    confidence = np.nan_to_num(frames.confidence.reindex(index=index, columns=symbols).to_numpy(dtype="float64"))
    stop = _levels(frames.stop, index, symbols)
    target = _levels(frames.target, index, symbols)
    first = int(index.searchsorted(pd.Timestamp(start))) if start is not None else 0
    group = np.zeros(n_cols, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
    tie = _tie_ranks(names if names is not None else symbols)
    max_hold = frames.max_hold
    sell_gain = (1 - params.slippage_pct / 100) * (1 - params.fees_pct / 100)

    n_books = int(group.max()) + 1 if n_cols else 1
    cash = np.full(n_books, float(params.initial_capital))
    fractions = np.broadcast_to(np.asarray(fraction, dtype="float64"), (n_books,))
    shares = np.zeros(n_cols)
    holding = np.zeros(n_cols, dtype=bool)
    opened_at = np.full(n_cols, -1)
    stop_level = np.full(n_cols, np.nan)
    target_level = np.full(n_cols, np.nan)
    to_sell = np.zeros(n_cols, dtype=bool)
    to_buy = np.zeros(n_cols, dtype=bool)
    out_entry = np.zeros((n_rows, n_cols), dtype=bool)
    out_exit = np.zeros((n_rows, n_cols), dtype=bool)
    out_reason = np.zeros((n_rows, n_cols), dtype=np.int8)
    out_hold = np.zeros((n_rows, n_cols), dtype=bool)
    out_skip = np.zeros((n_rows, n_cols), dtype=bool)
    out_orders = np.full((n_rows, n_cols), np.nan)

    with np.errstate(invalid="ignore"):
        for t in range(n_rows):
            # The open: fill what the previous close decided, sells before buys.
            if to_sell.any():
                cash += np.bincount(group[to_sell], shares[to_sell] * fill[t, to_sell] * sell_gain, len(cash))
                out_orders[t, to_sell] = -shares[to_sell]
                shares[to_sell] = 0.0
                to_sell[:] = False
            if to_buy.any():
                bought = _buy(
                    np.flatnonzero(to_buy), fill[t], shares, cash, group, confidence[t - 1], tie, fractions, params
                )
                paid = bought > 0
                out_orders[t, paid] = bought[paid]
                out_entry[t - 1, paid] = True
                out_hold[t - 1, paid] = True
                holding |= paid
                unpaid = to_buy & ~paid
                out_skip[t - 1, unpaid] = True
                opened_at[unpaid] = -1
                stop_level[unpaid] = np.nan
                target_level[unpaid] = np.nan
                to_buy[:] = False

            # The close: exits of held positions, then new entries.
            c = px[t]
            priced = ~np.isnan(c)
            hit_stop = holding & priced & (c <= stop_level)
            hit_target = holding & priced & (c >= target_level) & ~hit_stop
            done = hit_stop | hit_target
            hit_age = holding & ~done & (t - opened_at >= max_hold) if max_hold else np.zeros(n_cols, dtype=bool)
            done |= hit_age
            hit_rule = holding & ~done & exit_[t]
            done |= hit_rule
            out_reason[t] = np.where(
                hit_stop, 2, np.where(hit_target, 3, np.where(hit_age, 4, np.where(hit_rule, 1, 0)))
            )
            out_exit[t] = done
            holding &= ~done
            to_sell = done.copy()

            opening = ~holding & ~done & entry[t] & priced & (t >= first) & (t + 1 < n_rows)
            to_buy = opening
            opened_at[opening] = t
            stop_level[opening] = stop[t][opening]
            target_level[opening] = target[t][opening]
            out_hold[t] = holding

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values, index=index, columns=symbols)

    return PositionBook(
        frame(out_entry), frame(out_exit), frame(out_reason), frame(out_hold), frame(out_skip), frame(out_orders)
    )


def _buy(
    cols: np.ndarray,
    price: np.ndarray,
    shares: np.ndarray,
    cash: np.ndarray,
    group: np.ndarray,
    confidence: np.ndarray,
    tie: np.ndarray,
    fractions: np.ndarray,
    params: BacktestParams,
) -> np.ndarray:
    """Fill one open's buys (``cols``) in their order: by book, confidence (highest
    first), symbol. Each gets its book's fraction of the book's equity at this open (cash plus
    positions at the open, before any buy), or the cash left when that is less, and is
    skipped below ``params.min_entry_value``. Updates ``shares`` and ``cash`` in place;
    returns the shares bought per column (0 where none)."""
    slip = 1 + params.slippage_pct / 100
    fee = 1 + params.fees_pct / 100
    equity = cash + np.bincount(group, np.nan_to_num(shares * price), len(cash))
    bought = np.zeros(len(shares))
    rounded = np.round(confidence[cols], CONFIDENCE_DIGITS)  # 0.35+0.35+0.2+0.1 ties with a capped 1.0
    for j in cols[np.lexsort((tie[cols], -rounded, group[cols]))]:
        g = group[j]
        paid_price = price[j] * slip
        value = min(fractions[g] * equity[g], cash[g] / fee)  # the position's worth at its fill price
        if not np.isfinite(paid_price) or value < params.min_entry_value:
            continue
        bought[j] = value / paid_price
        shares[j] = bought[j]
        cash[g] = max(cash[g] - value * fee, 0.0)
    return bought


def _tie_ranks(names: list[str]) -> np.ndarray:
    """Each column's place in A-to-Z order of its symbol: ties of confidence go by it."""
    order = sorted(range(len(names)), key=lambda i: names[i])
    ranks = np.empty(len(names), dtype=np.int64)
    ranks[order] = np.arange(len(names))
    return ranks


def _levels(frame: pd.DataFrame | None, index: pd.Index, symbols: list[str]) -> np.ndarray:
    if frame is None:
        return np.full((len(index), len(symbols)), np.nan)
    return frame.reindex(index=index, columns=symbols).to_numpy(dtype="float64")
