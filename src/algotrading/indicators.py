"""Technical indicators, vectorised over wide frames (dates x symbols).

Every function uses only rows up to each date (no look-ahead): the value on day D is
computed from data on or before D. A value needing more history than a column has is
NaN. Standard deviations are population ones (``ddof=0``), as in Bollinger's definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TRADING_DAYS = 252


def sma(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Simple moving average over ``window`` rows (NaN until ``window`` values exist)."""
    return frame.rolling(window, min_periods=window).mean()


def ema(frame: pd.DataFrame, span: int) -> pd.DataFrame:
    """Exponential moving average, ``alpha = 2 / (span + 1)``, started at the first value."""
    return frame.ewm(span=span, adjust=False, min_periods=span).mean()


def wilder_smooth(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    """Wilder's smoothing: the first value is the simple mean of the first ``window``
    values, then ``avg = (avg_prev * (window - 1) + x) / window``."""
    seed = frame.rolling(window, min_periods=window).mean()
    started = seed.notna().cummax()
    first = started & ~started.shift(1, fill_value=False)
    seeded = frame.where(started).mask(first, seed)
    return seeded.ewm(alpha=1.0 / window, adjust=False).mean().where(started)


def rsi(close: pd.DataFrame, window: int = 14) -> pd.DataFrame:
    """Wilder's Relative Strength Index in [0, 100]."""
    change = close.diff()
    gain = wilder_smooth(change.clip(lower=0), window)
    loss = wilder_smooth((-change).clip(lower=0), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100 - 100 / (1 + gain / loss)
    return value.mask((loss == 0) & gain.notna(), 100.0)


def true_range(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    """max(high - low, |high - previous close|, |low - previous close|)."""
    prev = close.shift(1)
    ranges = [high - low, (high - prev).abs(), (low - prev).abs()]
    return _rowwise_max(ranges)


def _rowwise_max(frames: list[pd.DataFrame]) -> pd.DataFrame:
    stacked = np.stack([f.to_numpy(dtype="float64") for f in frames])
    with np.errstate(invalid="ignore"):
        out = np.fmax.reduce(stacked, axis=0)  # ignores a NaN previous close on the first row
    out[np.isnan(frames[0].to_numpy(dtype="float64"))] = np.nan
    return pd.DataFrame(out, index=frames[0].index, columns=frames[0].columns)


def atr(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, window: int = 14) -> pd.DataFrame:
    """Wilder's Average True Range."""
    return wilder_smooth(true_range(high, low, close), window)


def rolling_std(frame: pd.DataFrame, window: int) -> pd.DataFrame:
    return frame.rolling(window, min_periods=window).std(ddof=0)


def bollinger(
    close: pd.DataFrame, window: int = 20, n_std: float = 2.0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(lower, middle, upper) bands: SMA -/+ ``n_std`` population standard deviations."""
    mid = sma(close, window)
    width = n_std * rolling_std(close, window)
    return mid - width, mid, mid + width


def zscore(close: pd.DataFrame, window: int = 20) -> pd.DataFrame:
    """(close - SMA) / population standard deviation over ``window`` rows."""
    std = rolling_std(close, window)
    return (close - sma(close, window)) / std.where(std > 0)


def log_returns(close: pd.DataFrame) -> pd.DataFrame:
    return np.log(close / close.shift(1))


def volatility(close: pd.DataFrame, window: int = 20, annualize: bool = True) -> pd.DataFrame:
    """Rolling standard deviation of daily log returns (sample, ``ddof=1``), annualised
    with sqrt(252) by default."""
    vol = log_returns(close).rolling(window, min_periods=window).std()
    return vol * np.sqrt(TRADING_DAYS) if annualize else vol


def period_return(close: pd.DataFrame, sessions: int) -> pd.DataFrame:
    """Return over the last ``sessions`` sessions: close / close ``sessions`` rows earlier - 1."""
    if sessions < 1:
        raise ValueError("sessions must be >= 1")
    return close / close.shift(sessions) - 1.0


momentum = period_return


def relative_strength(close: pd.DataFrame, benchmark: pd.Series, sessions: int) -> pd.DataFrame:
    """Each column's ``sessions`` return minus the benchmark's over the same sessions."""
    bench = benchmark / benchmark.shift(sessions) - 1.0
    return period_return(close, sessions).sub(bench, axis=0)


def rebase(close: pd.DataFrame, base: float = 100.0) -> pd.DataFrame:
    """Each column divided by its first valid value, times ``base`` (growth of ``base``)."""
    first = close.bfill().iloc[0]
    return close.div(first) * base


def hurst(close: pd.DataFrame, window: int = 100, max_lag: int = 20) -> pd.DataFrame:
    """Rolling Hurst exponent of log prices from the scaling of lagged differences.

    For lags 2..``max_lag``, the standard deviation of ``log p[t] - log p[t-lag]`` over the
    last ``window`` rows grows like ``lag ** H``; H is the slope of a least-squares line
    of log(std) on log(lag). H ~ 0.5 for a random walk, < 0.5 mean-reverting, > 0.5 trending.
    """
    logp = np.log(close)
    lags = np.arange(2, max_lag + 1)
    x = np.log(lags)
    x_centered = x - x.mean()
    slope = None
    for lag, xc in zip(lags, x_centered, strict=True):
        y = np.log(logp.diff(lag).rolling(window, min_periods=window).std(ddof=0))
        term = y * xc
        slope = term if slope is None else slope + term
    assert slope is not None
    return slope / float((x_centered**2).sum())


def ou_fit(close: pd.DataFrame, window: int = 60) -> dict[str, pd.DataFrame]:
    """Rolling Ornstein-Uhlenbeck (AR(1)) fit of log prices: ``dx = a + b x_prev + e``.

    Returns frames: ``b`` (mean-reversion speed, < 0 when reverting), ``half_life``
    (-ln 2 / b, in sessions), ``mean`` (-a / b, the equilibrium log price) and
    ``sigma_eq`` (std(e) / sqrt(1 - (1 + b)^2), the stationary spread). ``half_life``,
    ``mean`` and ``sigma_eq`` are NaN unless the fit reverts within the window itself
    (0 < half-life <= window): a slower "reversion" is not evidence of one, and its
    mean is numerically meaningless.
    """
    x = np.log(close)
    prev = x.shift(1)
    dx = x - prev
    roll = {"min_periods": window}
    mean_prev = prev.rolling(window, **roll).mean()
    mean_dx = dx.rolling(window, **roll).mean()
    cov = (prev * dx).rolling(window, **roll).mean() - mean_prev * mean_dx
    var = (prev * prev).rolling(window, **roll).mean() - mean_prev**2
    b = cov / var.where(var > 0)
    a = mean_dx - b * mean_prev
    resid_var = (dx * dx).rolling(window, **roll).mean() - mean_dx**2 - b * cov
    half_life = -np.log(2) / b
    reverting = (b < 0) & (half_life <= window)
    half_life = half_life.where(reverting)
    mean = (-a / b).where(reverting)
    denom = (1 - (1 + b) ** 2).where(reverting & (b > -2))
    sigma_eq = np.sqrt(resid_var.clip(lower=0) / denom)
    return {"b": b, "half_life": half_life, "mean": mean, "sigma_eq": sigma_eq}


def ou_entry_level(fit: dict[str, pd.DataFrame], n_sigma: float = 1.0) -> pd.DataFrame:
    """The price below which an :func:`ou_fit` says the symbol is cheap:
    exp(mean - n_sigma * sigma_eq)."""
    return np.exp(fit["mean"] - n_sigma * fit["sigma_eq"])


def crossed_above(fast: pd.DataFrame, slow: pd.DataFrame, within: int = 1) -> pd.DataFrame:
    """True where ``fast`` crossed above ``slow`` on this row or one of the ``within - 1``
    before it, and is still above."""
    above = fast > slow
    cross = above & (fast.shift(1) <= slow.shift(1))
    recent = cross.astype("float64").rolling(within, min_periods=1).max() > 0
    return recent & above


def crossed_below(fast: pd.DataFrame, slow: pd.DataFrame, within: int = 1) -> pd.DataFrame:
    """Mirror of :func:`crossed_above`."""
    return crossed_above(slow, fast, within)


def history_length(close: pd.DataFrame) -> pd.DataFrame:
    """Number of valid bars up to and including each row, per column."""
    return close.notna().cumsum()
