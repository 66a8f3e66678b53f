"""The four strategies on crafted prices whose signals are worked out by hand (or by an
independent computation here), plus no look-ahead on real data and parameter loading."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from algotrading.cli import main
from algotrading.config import ConfigError, load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.strategies import REGISTRY, Action, load_strategies
from algotrading.strategies.dual_momentum import DualMomentum
from algotrading.strategies.golden_cross import GoldenCross
from algotrading.strategies.mean_reversion import MeanReversion
from algotrading.strategies.sector_rotation import SectorRotation
from algotrading.strategy_names import STRATEGY_NAMES

from .conftest import ROOT
from .helpers import market, universe
from .test_indicators import wilder_rsi_loop

PARAMS = ROOT / "params" / "strategies"


def params_of(cls, **changes):
    doc = yaml.safe_load((PARAMS / f"{cls.name}.yaml").read_text()) | changes
    return cls.Params.model_validate(doc)


def rows(frame: pd.DataFrame, column: str) -> list[int]:
    """Row numbers where a boolean column is True."""
    return list(np.flatnonzero(frame[column].to_numpy()))


# ----------------------------------------------------------------------------- golden cross


def golden_cross(
    jump: float = 130.0, flat: int = 250, after: int = 10, fall_to: float | None = 80.0, fall_len: int = 100
):
    prices = [100.0] * flat + [jump] * after + ([fall_to] * fall_len if fall_to else [])
    volume = [1e6] * len(prices)
    volume[flat] = 2e6
    m = market({"AAA": prices}, {"AAA": volume})
    strategy = GoldenCross(params_of(GoldenCross, groups=["stocks"]), universe({"stocks": ["AAA"]}, "AAA"))
    return strategy, strategy.generate(m), m


def test_golden_cross_buys_for_three_sessions_after_the_cross():
    strategy, frames, m = golden_cross()
    assert rows(frames.entry, "AAA") == [250, 251, 252]
    conf = frames.confidence["AAA"]
    # row 250: SMA50 = (49*100 + 130)/50 = 100.6 > SMA200 = (199*100 + 130)/200 = 100.15 (gap 0.45% < 2%);
    # close 130 above both (+0.2); volume 2e6 > 1.1 x 1e6 (+0.1) -> 0.5 + 0.2 + 0.1
    assert conf.iloc[250] == pytest.approx(0.8)
    # rows 251, 252: gap 0.90% and 1.34%, close above both, volume back to normal -> 0.7
    assert conf.iloc[251] == pytest.approx(0.7) and conf.iloc[252] == pytest.approx(0.7)
    assert frames.facts["sma_fast"]["AAA"].iloc[250] == pytest.approx(100.6)
    assert frames.facts["sma_slow"]["AAA"].iloc[250] == pytest.approx(100.15)
    (signal,) = strategy.signals_on(frames, m.dates[250].date(), m.close)
    assert (signal.action, signal.symbol, signal.confidence, signal.price) == (Action.BUY, "AAA", 0.8, 130.0)
    assert signal.reason == "SMA50 crossed above SMA200 (gap +0.4%); close above both; volume 2.00x its 20-day mean"
    assert signal.stop_price is None and signal.target_price is None  # the rule has none


def test_golden_cross_wide_gap_reaches_full_confidence():
    _, frames, _ = golden_cross(jump=300.0)
    # SMA50 = 104, SMA200 = 101: gap 2.97% >= 2% (+0.2) -> 0.5 + 0.2 + 0.2 + 0.1
    assert frames.confidence["AAA"].iloc[250] == pytest.approx(1.0)


def test_golden_cross_sells_on_the_death_cross():
    strategy, frames, m = golden_cross()
    # after k sessions at 80: SMA50 = 106 - 0.4k, SMA200 = 101.5 - 0.1k; below from k = 16 (row 275)
    assert rows(frames.exit, "AAA") == list(range(275, 360))
    assert rows(frames.exit_fresh, "AAA") == [275, 276, 277]
    (signal,) = strategy.signals_on(frames, m.dates[275].date(), m.close)
    assert signal.action is Action.SELL and signal.fresh
    assert not strategy.signals_on(frames, m.dates[274].date(), m.close)


def test_golden_cross_needs_220_sessions_of_history():
    _, frames, _ = golden_cross(flat=205, fall_to=None)
    assert frames.entry["AAA"].sum() == 0  # the cross at row 205 has 206 bars behind it


# ----------------------------------------------------------------------------- mean reversion


@pytest.fixture(scope="module")
def mean_reverting():
    """A mean-reverting price (AR(1) log price, phi 0.8) with a three-day slide at the end."""
    rng = np.random.default_rng(42)
    n = 450
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = 0.8 * x[t - 1] + rng.normal(0, 0.01)
    logp = np.log(100) + x
    logp[-3:] += np.array([-0.03, -0.06, -0.09])
    volume = np.full(n, 1e6)
    volume[-1] = 3e6
    spread = 0.003
    m = market({"MRX": np.exp(logp)}, {"MRX": volume}, spread=spread)
    strategy = MeanReversion(params_of(MeanReversion, groups=["stocks"]), universe({"stocks": ["MRX"]}, "MRX"))
    return strategy, strategy.generate(m), m


def independent_mr(m: MarketData, p) -> dict[str, np.ndarray]:
    """The mean-reversion inputs computed here from first principles."""
    c = m.close["MRX"].to_numpy()
    n = len(c)

    def window(i: int, w: int) -> np.ndarray:
        return c[i - w + 1 : i + 1]

    rsi = np.array(wilder_rsi_loop(list(c), p.rsi_window))
    z = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    sma50 = np.full(n, np.nan)
    ou_level = np.full(n, np.nan)
    half_life = np.full(n, np.nan)
    hurst = np.full(n, np.nan)
    logc = np.log(c)
    for i in range(n):
        if i >= p.zscore_window - 1:
            w = window(i, p.zscore_window)
            z[i] = (c[i] - w.mean()) / w.std()
            lower[i] = w.mean() - p.bollinger_std * w.std()
        if i >= 49:
            sma50[i] = window(i, 50).mean()
        if i >= p.ou_window:
            x_prev, dx = logc[i - p.ou_window : i], np.diff(logc[i - p.ou_window : i + 1])
            b, a = np.polyfit(x_prev, dx, 1)
            resid = dx - (a + b * x_prev)
            hl = -math.log(2) / b if b < 0 else np.inf
            if b < 0 and hl <= p.ou_window:
                half_life[i] = hl
                ou_level[i] = math.exp(-a / b - p.ou_entry_sigma * resid.std() / math.sqrt(1 - (1 + b) ** 2))
        if i >= p.hurst_window + p.hurst_max_lag - 1:
            lags = np.arange(2, p.hurst_max_lag + 1)
            stds = [
                np.std(logc[i - p.hurst_window + 1 : i + 1] - logc[i - p.hurst_window + 1 - lag : i + 1 - lag])
                for lag in lags
            ]
            hurst[i] = np.polyfit(np.log(lags), np.log(stds), 1)[0]
    return {
        "rsi": rsi,
        "z": z,
        "lower": lower,
        "sma50": sma50,
        "ou_level": ou_level,
        "half_life": half_life,
        "hurst": hurst,
    }


def test_mean_reversion_entries_follow_the_rule(mean_reverting):
    strategy, frames, m = mean_reverting
    p = strategy.params
    ind = independent_mr(m, p)
    c = m.close["MRX"].to_numpy()
    with np.errstate(invalid="ignore"):
        conds = np.stack(
            [ind["rsi"] < p.rsi_oversold, ind["z"] < p.zscore_entry, c < ind["lower"], c < ind["ou_level"]]
        )
        weights = np.array([p.weight_rsi, p.weight_zscore, p.weight_bollinger, p.weight_ou])
        volume = m.volume["MRX"].to_numpy()
        vol_mean = pd.Series(volume).shift(1).rolling(20).mean().to_numpy()
        bonus = p.volume_bonus * (volume > 1.2 * vol_mean) + p.half_life_bonus * (ind["half_life"] < p.half_life_max)
        want_entry = (conds.sum(axis=0) >= 2) & (ind["hurst"] < p.hurst_max)
    want_conf = np.minimum((weights[:, None] * conds).sum(axis=0) + bonus, 1.0)
    got_entry = frames.entry["MRX"].to_numpy()
    assert got_entry.sum() >= 5, "the crafted series should be oversold several times"
    np.testing.assert_array_equal(got_entry, want_entry)
    np.testing.assert_allclose(frames.confidence["MRX"].to_numpy()[got_entry], want_conf[got_entry], rtol=1e-9)
    # the final slide meets all four conditions with both bonuses: 0.35+0.35+0.20+0.25+0.10+0.10, capped at 1
    assert conds[:, -1].all() and frames.confidence["MRX"].iloc[-1] == 1.0
    assert frames.facts["conditions_met"]["MRX"].iloc[-1] == 4


def test_mean_reversion_exit_conditions(mean_reverting):
    strategy, frames, m = mean_reverting
    p = strategy.params
    ind = independent_mr(m, p)
    c = m.close["MRX"].to_numpy()
    with np.errstate(invalid="ignore"):
        want = ((ind["z"] > p.zscore_exit) | (ind["rsi"] > p.rsi_overbought) | (c >= ind["sma50"])) & ~frames.entry[
            "MRX"
        ].to_numpy()
    np.testing.assert_array_equal(frames.exit["MRX"].to_numpy(), want)
    assert want.sum() > 50


def test_mean_reversion_stop_and_target_are_atr_multiples(mean_reverting):
    strategy, frames, m = mean_reverting
    last = m.dates[-1].date()
    (signal,) = strategy.signals_on(frames, last, m.close)
    atr = frames.facts["atr"]["MRX"].iloc[-1]
    assert signal.action is Action.BUY
    assert signal.stop_price == pytest.approx(signal.price - 2.5 * atr, abs=1e-4)
    assert signal.target_price == pytest.approx(signal.price + 3.5 * atr, abs=1e-4)
    assert frames.max_hold == 30
    assert signal.reason.startswith("oversold on 4 of 4: RSI ")


def test_mean_reversion_skips_trending_series():
    """Returns with positive autocorrelation (phi 0.5) trend: oversold readings are many, trades none."""
    rng = np.random.default_rng(7)
    r = np.zeros(450)
    for t in range(1, 450):
        r[t] = 0.5 * r[t - 1] + rng.normal(0, 0.01)
    prices = 100 * np.exp(np.cumsum(r))
    prices[-3:] *= [0.96, 0.92, 0.88]
    strategy = MeanReversion(params_of(MeanReversion, groups=["stocks"]), universe({"stocks": ["UP"]}, "UP"))
    frames = strategy.generate(market({"UP": prices}))
    assert frames.facts["hurst"]["UP"].min() > 0.5
    assert (frames.facts["conditions_met"]["UP"] >= 2).sum() > 50
    assert frames.entry["UP"].sum() == 0


# ----------------------------------------------------------------------------- dual momentum


def dual_momentum(rates: dict[str, float], defensive: str | None = "TLT", n: int = 300):
    closes = {s: 100 * np.power(r, np.arange(n)) for s, r in rates.items()}
    m = market(closes)  # starts 2016-01-04, the rebalance anchor
    assets = [s for s in rates if s != "TLT"]
    strategy = DualMomentum(
        params_of(DualMomentum, assets=assets, defensive_asset=defensive),
        universe({"broad_etfs": assets, "other_etfs": ["TLT"]}, "SPY"),
    )
    return strategy, strategy.generate(m), m


def test_dual_momentum_holds_the_best_asset_on_rebalance_days():
    rates = {"SPY": 1.0004, "QQQ": 1.0008, "IWM": 0.9998, "DIA": 1.0002, "TLT": 1.0001}
    strategy, frames, m = dual_momentum(rates)
    # rebalances every 21 NYSE sessions from 2016-01-04; the first with 252 sessions of history is row 252
    assert rows(frames.entry, "QQQ") == [252, 273, 294]
    for other in ("SPY", "IWM", "DIA", "TLT"):
        assert rows(frames.entry, other) == [] and rows(frames.exit, other) == [252, 273, 294]
    best, runner_up = 1.0008**252 - 1, 1.0004**252 - 1
    excess = best - 0.04  # 4% a year over exactly 252 sessions
    assert frames.confidence["QQQ"].iloc[252] == pytest.approx(0.7 + 0.2 * excess + 0.1 * (best - runner_up))
    signals = {s.symbol: s for s in strategy.signals_on(frames, m.dates[252].date(), m.close)}
    buy = signals["QQQ"]
    assert buy.action is Action.BUY
    assert buy.stop_price == pytest.approx(buy.price * 0.85, abs=1e-4)
    assert buy.target_price == pytest.approx(buy.price * 1.30, abs=1e-4)
    assert {s for s, x in signals.items() if x.action is Action.SELL} == {"SPY", "IWM", "DIA", "TLT"}
    assert strategy.signals_on(frames, m.dates[253].date(), m.close) == []  # not a rebalance day


def test_dual_momentum_goes_defensive_when_nothing_beats_cash():
    rates = {"SPY": 0.9996, "QQQ": 0.9995, "IWM": 0.9990, "DIA": 0.9997, "TLT": 1.0001}
    strategy, frames, _ = dual_momentum(rates)
    assert rows(frames.entry, "TLT") == [252, 273, 294]
    assert frames.confidence["TLT"].iloc[252] == pytest.approx(0.7)
    assert rows(frames.exit, "DIA") == [252, 273, 294]


def test_dual_momentum_with_cash_as_defense_only_sells():
    rates = {"SPY": 0.9996, "QQQ": 0.9995, "IWM": 0.9990, "DIA": 0.9997}
    _, frames, _ = dual_momentum(rates, defensive=None)
    assert frames.entry.to_numpy().sum() == 0
    assert rows(frames.exit, "SPY") == [252, 273, 294]


# ----------------------------------------------------------------------------- sector rotation


def test_sector_rotation_picks_the_top_four_and_drops_weak_relative_strength():
    n = 300
    drift = {
        "SPY": (0.0004, 0.010),
        "S1": (0.0010, 0.010),
        "S2": (0.0008, 0.005),
        "S3": (0.0006, 0.020),
        "S4": (0.0004, 0.010),
        "S5": (0.0002, 0.008),
        "S6": (-0.0003, 0.010),
    }
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    logret = {s: mu + sd * sign for s, (mu, sd) in drift.items()}
    closes = {s: 100 * np.exp(np.cumsum(r)) for s, r in logret.items()}
    sectors = [f"S{i}" for i in range(1, 7)]
    strategy = SectorRotation(params_of(SectorRotation), universe({"sector_etfs": sectors, "broad_etfs": ["SPY"]}))
    m = market(closes)
    frames = strategy.generate(m)

    t = 252

    def window_return(s, k):
        return closes[s][t] / closes[s][t - k] - 1

    def vol(s):
        return np.std(np.diff(np.log(closes[s][t - 63 : t + 1])), ddof=1) * math.sqrt(252)

    rs = {s: window_return(s, 252) - window_return("SPY", 252) for s in sectors}
    score = {s: (0.6 * window_return(s, 63) + 0.4 * rs[s]) * vol("SPY") / vol(s) for s in sectors}
    eligible = [s for s in sectors if rs[s] >= -0.05]
    top = sorted(eligible, key=lambda s: -score[s])[:4]
    assert "S6" not in eligible  # relative strength about -18%
    assert sorted(s for s in sectors if frames.entry[s].iloc[t]) == sorted(top)
    assert sorted(s for s in sectors if frames.exit[s].iloc[t]) == sorted(set(sectors) - set(top))
    for s in top:
        assert frames.confidence[s].iloc[t] == pytest.approx(min(max(0.6 + 0.4 * score[s], 0), 1), rel=1e-9)
    assert frames.entry.iloc[t + 1].sum() == 0  # only on rebalance days


def test_sector_rotation_without_the_benchmark_is_unavailable():
    from algotrading.strategies import StrategyUnavailable

    strategy = SectorRotation(params_of(SectorRotation), universe({"sector_etfs": ["S1"], "broad_etfs": ["SPY"]}))
    with pytest.raises(StrategyUnavailable, match="needs the benchmark SPY"):
        strategy.generate(market({"S1": [100.0] * 30}))


# ----------------------------------------------------------------------------- no look-ahead


@pytest.fixture(scope="module")
def real_market():
    settings = load_settings()
    provider = BundledBarsProvider()
    bars = provider.get_bars(settings.universe.all_symbols, dt.date(2019, 1, 2), dt.date(2022, 12, 30))
    return settings, MarketData.from_bars(bars)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_appending_future_bars_never_changes_earlier_signals(real_market, name):
    settings, m = real_market
    (strategy,) = load_strategies(settings, [name])
    full = strategy.generate(m)
    for cut in (dt.date(2020, 3, 16), dt.date(2021, 6, 30), dt.date(2022, 6, 1)):
        part = strategy.generate(m.upto(cut))
        for field in ("entry", "exit", "confidence", "exit_fresh"):
            pd.testing.assert_frame_equal(getattr(full, field).loc[:cut], getattr(part, field), obj=f"{name}.{field}")
        assert strategy.signals_on(full, cut, m.close) == strategy.signals_on(part, cut, m.close)


def test_real_data_produces_signals_for_every_strategy(real_market):
    settings, m = real_market
    for strategy in load_strategies(settings):
        frames = strategy.generate(m)
        assert frames.entry.to_numpy().sum() > 0, strategy.name
        conf = frames.confidence.to_numpy()[frames.entry.to_numpy()]
        assert ((conf >= 0) & (conf <= 1)).all() and not np.isnan(conf).any()


# ----------------------------------------------------------------------------- parameters


def test_every_registered_strategy_loads_from_its_yaml(workdirs):
    strategies = load_strategies(load_settings())
    assert [s.name for s in strategies] == ["golden_cross", "mean_reversion", "dual_momentum", "sector_rotation"]
    assert len(strategies[0].symbols()) == 60 and strategies[3].symbols()[0] == "XLK"


def _edit(path: Path, **changes) -> None:
    doc = yaml.safe_load(path.read_text()) | changes
    path.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize(
    ("file", "changes", "expected"),
    [
        ("golden_cross", {"fast_window": 200}, "fast_window (200) must be shorter than slow_window (200)"),
        ("golden_cross", {"min_confidnce": 0.7}, "unknown key 'min_confidnce'. Did you mean 'min_confidence'?"),
        (
            "mean_reversion",
            {"zscore_entry": 1.5},
            "params/strategies/mean_reversion.yaml: zscore_entry = 1.5: input should be less than 0",
        ),
        ("sector_rotation", {"groups": ["sectors"]}, "unknown universe group(s) ['sectors']"),
        ("dual_momentum", {"assets": ["SPY", "ARKK"]}, "ARKK not in params/universe.yaml"),
        ("dual_momentum", {"defensive_asset": "SPY"}, "defensive_asset SPY must not also be one of the assets"),
    ],
)
def test_bad_strategy_parameters_are_refused(workdirs, file, changes, expected):
    _edit(workdirs["params"] / "strategies" / f"{file}.yaml", **changes)
    with pytest.raises(ConfigError) as info:
        load_strategies(load_settings())
    assert len(info.value.problems) == 1
    assert expected in info.value.problems[0]


def test_missing_and_stray_strategy_files(workdirs):
    folder = workdirs["params"] / "strategies"
    (folder / "golden_cross.yaml").rename(folder / "golden_crosss.yaml")
    with pytest.raises(ConfigError) as info:
        load_strategies(load_settings())
    assert info.value.problems == [
        "params/strategies/ has golden_crosss.yaml but no such strategy is registered (golden_cross, "
        "mean_reversion, dual_momentum, sector_rotation): rename or remove the file.",
        "params/strategies/golden_cross.yaml is missing: restore it from the repository.",
    ]


def test_disabled_strategies_are_left_out_unless_named(workdirs):
    _edit(workdirs["params"] / "strategies" / "mean_reversion.yaml", enabled=False)
    settings = load_settings()
    assert "mean_reversion" not in [s.name for s in load_strategies(settings)]
    assert [s.name for s in load_strategies(settings, ["mean_reversion"])] == ["mean_reversion"]
    with pytest.raises(ConfigError, match="unknown strategy nope"):
        load_strategies(settings, ["nope"])


def test_cli_lists_the_strategies(workdirs, capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert f"{name}  (" in out and f"[params/strategies/{name}.yaml]" in out
    assert "    slow_window = 200" in out
    assert main(["strategies", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in doc] == list(REGISTRY)
    assert doc[2]["parameters"]["defensive_asset"] == "TLT"


def test_the_light_list_of_names_is_the_registry(workdirs, monkeypatch, capsys):
    """The command line refuses an unknown name from algotrading.strategy_names, without
    importing the strategies: that list is the registry's, in its order. A name that is
    not one is refused before the settings are read (here they would fail)."""
    assert STRATEGY_NAMES == tuple(REGISTRY)
    monkeypatch.setenv("MAX_POSITIONS", "many")
    for command in (["sweep", "--grid", "fast_window=5,10"], ["backtest"]):
        assert main([*command, "--strategy", "nope"]) == 2
        err = capsys.readouterr().err
        assert "unknown strategy nope: the strategies are golden_cross, mean_reversion, dual_momentum" in err
        assert "MAX_POSITIONS" not in err
    assert main(["backtest", "--strategy", "golden_cross"]) == 2  # the settings' turn
    assert "MAX_POSITIONS" in capsys.readouterr().err
