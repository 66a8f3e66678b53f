"""Indicators against values computed here by independent, plain-loop formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from algotrading import indicators as ind

CLOSES = [
    44.34,
    44.09,
    44.15,
    43.61,
    44.33,
    44.83,
    45.10,
    45.42,
    45.84,
    46.08,
    45.89,
    46.03,
    45.61,
    46.28,
    46.28,
    46.00,
    46.03,
    46.41,
    46.22,
    45.64,
    46.21,
    46.25,
    45.71,
    46.45,
    45.78,
    45.35,
    44.03,
    44.18,
    44.22,
    44.57,
    43.42,
    42.66,
    43.13,
]  # Wilder's classic RSI example series


def frame(values, name="X") -> pd.DataFrame:
    return pd.DataFrame({name: values}, index=pd.RangeIndex(len(values)))


def wilder_rsi_loop(closes: list[float], n: int = 14) -> list[float]:
    out = [math.nan] * len(closes)
    changes = [b - a for a, b in zip(closes, closes[1:], strict=False)]
    gains = [max(c, 0) for c in changes]
    losses = [max(-c, 0) for c in changes]
    avg_g, avg_l = sum(gains[:n]) / n, sum(losses[:n]) / n
    out[n] = 100 - 100 / (1 + avg_g / avg_l)
    for i in range(n, len(changes)):
        avg_g = (avg_g * (n - 1) + gains[i]) / n
        avg_l = (avg_l * (n - 1) + losses[i]) / n
        out[i + 1] = 100 - 100 / (1 + avg_g / avg_l)
    return out


def test_rsi_matches_wilders_loop_and_the_textbook_value():
    got = ind.rsi(frame(CLOSES))["X"].tolist()
    want = wilder_rsi_loop(CLOSES)
    assert all(math.isnan(g) for g in got[:14])
    np.testing.assert_allclose(got[14:], want[14:], rtol=1e-12)
    assert round(got[14], 2) == 70.46  # the value in Wilder's worked example (often quoted 70.53 from rounded inputs)


def test_rsi_is_100_when_there_are_no_losses():
    assert ind.rsi(frame(list(range(1, 30))))["X"].iloc[-1] == 100.0


def test_atr_matches_a_plain_loop():
    rng = np.random.default_rng(7)
    close = 100 + rng.normal(0, 1, 40).cumsum()
    high = close + rng.uniform(0.1, 1.5, 40)
    low = close - rng.uniform(0.1, 1.5, 40)
    n = 14
    tr = [high[0] - low[0]] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, 40)
    ]
    want = [math.nan] * 40
    avg = sum(tr[:n]) / n
    want[n - 1] = avg
    for i in range(n, 40):
        avg = (avg * (n - 1) + tr[i]) / n
        want[i] = avg
    got = ind.atr(frame(high), frame(low), frame(close), n)["X"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_bollinger_and_zscore_use_population_deviation():
    values = [10.0, 12.0, 11.0, 13.0, 15.0, 14.0, 16.0]
    lower, mid, upper = ind.bollinger(frame(values), window=5, n_std=2)
    window = np.array(values[-5:])
    mean, sd = window.mean(), math.sqrt(((window - window.mean()) ** 2).sum() / 5)
    assert mid["X"].iloc[-1] == pytest.approx(mean)
    assert upper["X"].iloc[-1] == pytest.approx(mean + 2 * sd)
    assert lower["X"].iloc[-1] == pytest.approx(mean - 2 * sd)
    assert ind.zscore(frame(values), 5)["X"].iloc[-1] == pytest.approx((16 - mean) / sd)
    assert ind.zscore(frame(values), 5)["X"].iloc[:4].isna().all()


def test_sma_ema_and_returns():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert ind.sma(frame(values), 3)["X"].tolist()[2:] == [2.0, 3.0, 4.0]
    # EMA span 3: alpha 0.5, started at the first value
    assert ind.ema(frame(values), 3)["X"].iloc[-1] == pytest.approx(
        (((1 * 0.5 + 2 * 0.5) * 0.5 + 3 * 0.5) * 0.5 + 4 * 0.5) * 0.5 + 5 * 0.5
    )
    assert ind.period_return(frame(values), 2)["X"].iloc[-1] == pytest.approx(5 / 3 - 1)
    bench = pd.Series([1.0, 1.0, 1.0, 1.1, 1.2])
    assert ind.relative_strength(frame(values), bench, 2)["X"].iloc[-1] == pytest.approx((5 / 3 - 1) - 0.2)


def test_volatility_is_annualised_std_of_log_returns():
    values = [100, 101, 99, 102, 100, 103]
    logret = np.diff(np.log(values))
    assert ind.volatility(frame(values), 5)["X"].iloc[-1] == pytest.approx(logret.std(ddof=1) * math.sqrt(252))


def test_crossings_within_a_window():
    fast = frame([1, 2, 3, 4, 5, 6, 2])
    slow = frame([3, 3, 3, 3, 3, 3, 3])
    up = ind.crossed_above(fast, slow, within=2)["X"].tolist()
    assert up == [False, False, False, True, True, False, False]  # cross on row 3; still "recent" on row 4
    down = ind.crossed_below(fast, slow, within=1)["X"].tolist()
    assert down == [False] * 6 + [True]


def test_hurst_separates_random_walk_mean_reversion_and_trend():
    rng = np.random.default_rng(11)
    n, cols = 1500, 20
    walk = np.exp(np.cumsum(rng.normal(0, 0.01, (n, cols)), axis=0))
    ar = np.zeros((n, cols))
    for t in range(1, n):
        ar[t] = 0.9 * ar[t - 1] + rng.normal(0, 0.01, cols)
    persistent = np.zeros((n, cols))  # returns positively autocorrelated: a trending series
    for t in range(1, n):
        persistent[t] = 0.3 * persistent[t - 1] + rng.normal(0, 0.01, cols)

    def mean_h(prices: np.ndarray) -> float:
        return float(ind.hurst(pd.DataFrame(prices), 252, 10).iloc[-500:].stack().mean())

    assert 0.45 < mean_h(walk) < 0.53
    assert mean_h(np.exp(ar)) < 0.40
    assert mean_h(np.exp(persistent.cumsum(axis=0))) > 0.55


def test_ou_half_life_of_a_known_ar1():
    rng = np.random.default_rng(3)
    phi, n = 0.9, 4000
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal(0, 0.01)
    fit = ind.ou_fit(pd.DataFrame({"X": np.exp(x + 4.0)}), window=2000)
    b = fit["b"]["X"].iloc[-1]
    assert b == pytest.approx(phi - 1, abs=0.02)
    assert fit["half_life"]["X"].iloc[-1] == pytest.approx(-math.log(2) / b)
    assert fit["mean"]["X"].iloc[-1] == pytest.approx(4.0, abs=0.01)  # the equilibrium log price
    assert fit["sigma_eq"]["X"].iloc[-1] == pytest.approx(0.01 / math.sqrt(1 - phi**2), rel=0.1)


def test_ou_fit_without_reversion_gives_no_level():
    trend = pd.DataFrame({"X": np.exp(np.linspace(0, 1, 100))})  # a straight line in logs
    fit = ind.ou_fit(trend, 60)
    assert fit["half_life"]["X"].isna().all() and fit["mean"]["X"].isna().all()


def test_no_look_ahead_in_any_indicator():
    rng = np.random.default_rng(5)
    close = pd.DataFrame(np.exp(rng.normal(0, 0.01, (400, 3)).cumsum(axis=0)) * 100, columns=list("ABC"))
    high, low = close * 1.01, close * 0.99
    cut = 300

    def compute(c, h, lo):
        return {
            "rsi": ind.rsi(c),
            "atr": ind.atr(h, lo, c),
            "z": ind.zscore(c),
            "hurst": ind.hurst(c, 100, 10),
            "ou": ind.ou_fit(c)["half_life"],
            "vol": ind.volatility(c),
            "ema": ind.ema(c, 10),
        }

    full = compute(close, high, low)
    part = compute(close.iloc[:cut], high.iloc[:cut], low.iloc[:cut])
    for name in full:
        pd.testing.assert_frame_equal(full[name].iloc[:cut], part[name], check_names=False, obj=name)
