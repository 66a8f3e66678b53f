"""Per-symbol data health: every requested symbol gets a row saying whether its bars can
be traded on, and if not, why (never silently dropped, never silently kept).

Checks (thresholds in ``params/data.yaml: validation``):

* no bars at all, or a last bar older than the session asked for (stale) -> excluded
* duplicate sessions, NaN/inf values, prices <= 0, high/low inconsistent with
  open/close, bars on days the NYSE was closed -> excluded
* NYSE sessions with no bar between the symbol's first and last bar, zero-volume bars:
  a few are a warning, more than the limit -> excluded
* split-like one-day jumps -> excluded: a close-to-close fall of at least
  ``split_jump_pct`` (or the matching rise) on ordinary dollar volume, or any move of at
  least ``extreme_jump_pct``. An unadjusted split changes the price by the split ratio
  while the dollar value traded stays normal; a real crash trades heavily.

  Measured with the defaults (30%, 5x, 80%): on the 70 split windows of the raw-price
  fixture, all 67 splits of ratio 3:2 or more are flagged and none of the other rows;
  a 4:3 split (-22%) and spin-off adjustments of 1-3% are below resolution. On the
  adjusted sample data 1995-2025 (86 symbols) 13 real moves are flagged, 2 of them since
  2016 (TQQQ and UPRO on 2020-03-16, not in the default universe); 25% would flag 34
  and 20% would flag 97.

Indices (symbols starting with ``^``) have no volume: the volume and split checks skip them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from algotrading import calendar as cal
from algotrading.config import ValidationParams

OK, WARNING, EXCLUDED = "ok", "warning", "excluded"
HEALTH_COLUMNS = [
    "symbol",
    "status",
    "reason",
    "bars",
    "first_date",
    "last_date",
    "stale",
    "duplicates",
    "non_finite",
    "non_positive",
    "ohlc_inconsistent",
    "off_calendar",
    "missing_sessions",
    "zero_volume",
    "split_like_jumps",
]
#: Sessions of dollar volume the split check compares a day against.
DOLLAR_VOLUME_WINDOW = 20


def is_index(symbol: str) -> bool:
    """Index series (``^VIX``) are not traded and carry no volume."""
    return symbol.startswith("^")


def validate_bars(
    bars: pd.DataFrame,
    symbols: Sequence[str],
    session_date: dt.date,
    params: ValidationParams,
    unavailable: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The health table: one row per requested symbol, in the order given.

    Only bars dated on or before ``session_date`` are judged (later rows belong to a
    future the run must not see). ``unavailable`` gives the source's reason for symbols
    it cannot serve at all, shown instead of a bare "no bars".
    """
    upto = bars[bars["date"] <= pd.Timestamp(session_date)]
    groups = {s: g for s, g in upto.groupby("symbol", sort=False)}
    why = dict(unavailable or {})
    rows = [_check_symbol(s, groups.get(s), session_date, params, why.get(s)) for s in symbols]
    return pd.DataFrame(rows, columns=HEALTH_COLUMNS)


def usable_symbols(health: pd.DataFrame) -> list[str]:
    """Symbols whose data passed (``ok`` or ``warning``)."""
    return health.loc[health["status"] != EXCLUDED, "symbol"].tolist()


def usable_bars(bars: pd.DataFrame, health: pd.DataFrame) -> pd.DataFrame:
    """The rows of the usable symbols only."""
    return bars[bars["symbol"].isin(usable_symbols(health))].reset_index(drop=True)


def split_like_jumps(symbol_bars: pd.DataFrame, params: ValidationParams) -> pd.DataFrame:
    """The days of one symbol's bars that look like an unadjusted split.

    Returns ``date``, ``change`` (close-to-close, a fraction) and ``dollar_volume_ratio``
    (that day's close x volume over the median of the previous 20 sessions). Only a
    move of at least a threshold's size can be flagged, so the ratio is computed for
    those few days only (a rolling median over every day was 45% of the data check).
    """
    g = symbol_bars.sort_values("date")
    close = g["close"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):  # such bars are excluded as non-finite or <= 0
        log_ret = np.log(close[1:] / close[:-1])
        dollar = close * g["volume"].to_numpy(dtype="float64")
    split_threshold = -np.log(1 - params.split_jump_pct / 100)
    extreme_threshold = np.log(1 + params.extreme_jump_pct / 100)
    size = np.abs(log_ret)
    moves = np.flatnonzero(np.isfinite(log_ret) & (size >= min(split_threshold, extreme_threshold)))
    ratio = np.array([_dollar_volume_ratio(dollar, int(day) + 1) for day in moves], dtype="float64")
    quiet = np.isnan(ratio) | (ratio <= params.split_max_dollar_volume_ratio)
    flagged = (size[moves] >= extreme_threshold) | ((size[moves] >= split_threshold) & quiet)
    days = moves[flagged]
    return pd.DataFrame(
        {
            "date": g["date"].to_numpy()[1:][days],
            "change": np.expm1(log_ret[days]),
            "dollar_volume_ratio": ratio[flagged],
        }
    )


def _dollar_volume_ratio(dollar: np.ndarray, day: int) -> float:
    """``dollar[day]`` over the median of the :data:`DOLLAR_VOLUME_WINDOW` values before
    it, of which at least 5 known (infinite ones count as unknown, as in pandas' rolling
    median); NaN without such a median above 0."""
    before = dollar[max(0, day - DOLLAR_VOLUME_WINDOW) : day]
    known = before[np.isfinite(before)]
    if len(known) < 5:
        return math.nan
    baseline = float(np.median(known))
    if not baseline > 0:
        return math.nan
    with np.errstate(over="ignore"):  # a ratio too large for a float is inf, as pandas' division gives
        return float(dollar[day] / baseline)


def _check_symbol(
    symbol: str, g: pd.DataFrame | None, session_date: dt.date, params: ValidationParams, unavailable: str | None
) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(HEALTH_COLUMNS, 0)
    row.update(symbol=symbol, first_date=None, last_date=None, stale=True)
    if g is None or g.empty:
        reason = f"no data: {unavailable}" if unavailable else "no bars returned for the requested dates"
        return {**row, "status": EXCLUDED, "reason": reason}

    excluded: list[str] = []
    warnings: list[str] = []
    dates = pd.DatetimeIndex(g["date"])
    first, last = dates.min(), dates.max()
    row.update(bars=len(g), first_date=first.date(), last_date=last.date())

    row["stale"] = last.date() < session_date
    if row["stale"]:
        excluded.append(f"stale: last bar {last.date()}, expected {session_date}")

    dup = int(dates.duplicated().sum())
    row["duplicates"] = dup
    if dup:
        excluded.append(f"{dup} duplicate session(s)")
    g = g.drop_duplicates("date", keep="last")

    values = g[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
    non_finite = int((~np.isfinite(values)).any(axis=1).sum())
    row["non_finite"] = non_finite
    if non_finite:
        excluded.append(f"{non_finite} bar(s) with NaN/inf values")

    o, h, lo, c = (values[:, i] for i in range(4))
    non_positive = int(((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)).sum())
    row["non_positive"] = non_positive
    if non_positive:
        excluded.append(f"{non_positive} bar(s) with a price <= 0")

    tol = params.ohlc_tolerance
    bad_ohlc = int(((h < np.maximum(o, c) * (1 - tol)) | (lo > np.minimum(o, c) * (1 + tol)) | (h < lo)).sum())
    row["ohlc_inconsistent"] = bad_ohlc
    if bad_ohlc:
        excluded.append(f"{bad_ohlc} bar(s) with high/low inconsistent with open/close")

    unique_dates = pd.DatetimeIndex(g["date"])
    expected = cal.sessions_index(first, last)
    off = int(len(unique_dates.difference(expected)))
    row["off_calendar"] = off
    if off:
        excluded.append(f"{off} bar(s) on days the NYSE was closed")
    missing = int(len(expected.difference(unique_dates)))
    row["missing_sessions"] = missing
    if missing > params.max_missing_sessions:
        excluded.append(f"{missing} NYSE sessions without a bar (limit {params.max_missing_sessions})")
    elif missing:
        warnings.append(f"{missing} NYSE session(s) without a bar")

    if not is_index(symbol):
        zero = int((g["volume"] == 0).sum())
        row["zero_volume"] = zero
        if zero > params.max_zero_volume_sessions:
            excluded.append(f"{zero} zero-volume bars (limit {params.max_zero_volume_sessions})")
        elif zero:
            warnings.append(f"{zero} zero-volume bar(s)")
        jumps = split_like_jumps(g, params)
        row["split_like_jumps"] = len(jumps)
        if len(jumps):
            last_jump = jumps.iloc[-1]
            excluded.append(
                f"{len(jumps)} split-like jump(s), latest {pd.Timestamp(last_jump['date']).date()} "
                f"({last_jump['change']:+.0%}): prices look unadjusted"
            )

    status = EXCLUDED if excluded else WARNING if warnings else OK
    return {**row, "status": status, "reason": "; ".join(excluded + warnings)}


class PrefixHealth:
    """:func:`validate_bars` for every session of a stretch of bars, without re-judging
    every symbol every session (replay asks once per session).

    Every check counts problems among the bars up to the session, and those counts can
    only grow as the session moves on. So a symbol with no finding at all over the whole
    stretch (no duplicate, bad value, off-calendar bar, missing session, zero volume or
    jump) has none in any earlier part either: on a session between its first and last
    bar it has a bar that day (no missing session) and is fine; otherwise it has no bars
    yet or is stale. Only the other symbols, and a clean one without a bar that day, are
    judged again by :func:`validate_bars` itself, so the answer is exactly its answer.
    """

    _COUNTS = tuple(HEALTH_COLUMNS[HEALTH_COLUMNS.index("duplicates") :])  # every per-check count

    def __init__(
        self,
        bars: pd.DataFrame,
        symbols: Sequence[str],
        last_session: dt.date,
        params: ValidationParams,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self.symbols = list(symbols)
        self.params = params
        self.unavailable = dict(unavailable or {})
        self.bars = bars[bars["date"] <= pd.Timestamp(last_session)]
        full = validate_bars(self.bars, self.symbols, last_session, params, unavailable)
        has_bars = full["first_date"].notna()
        clean = has_bars & (full[list(self._COUNTS)].sum(axis=1) == 0)
        self.span = {r.symbol: (r.first_date, r.last_date) for r in full[clean].itertuples()}
        self.recheck = [s for s in self.symbols if s not in self.span]
        self._recheck_bars = self.bars[self.bars["symbol"].isin(self.recheck)]

    def excluded(self, session: dt.date) -> dict[str, str]:
        """Symbol -> reason for every symbol :func:`validate_bars` would exclude on ``session``."""
        judge = self.recheck + [s for s, (first, last) in self.span.items() if not first <= session <= last]
        if not judge:
            return {}
        bars = self._recheck_bars if len(judge) == len(self.recheck) else self.bars[self.bars["symbol"].isin(judge)]
        health = validate_bars(bars, judge, session, self.params, self.unavailable)
        rows = health[health["status"] == EXCLUDED]
        return dict(zip(rows["symbol"], rows["reason"], strict=True))
