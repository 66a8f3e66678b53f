"""An independent event-driven backtest of the four strategies, on backtrader.

Written from the documented rules (README "Strategies and backtests": the strategy
table and "A strategy's book"; DESIGN §4; ``params/``), not from the package: nothing
here imports ``algotrading``. ``tests/test_backtrader_engine.py`` checks that the
package's vectorised backtests (``algotrading.backtest.engine.run_backtest``) find the
same trades at the same prices.

How it runs: one ``cerebro`` per strategy with only that strategy's symbols (plus SPY for
sector rotation's relative strength), ``cheat_on_open`` so that what is decided at
session D's close (``next``) is ordered and filled at D+1's open (``next_open``), and
backtrader's own broker for cash, positions, the 5 bps slippage (``slip_open``, never
capped at the bar's high or low) and percentage fees. The simple indicators are
backtrader's (``SMA``, Wilder ``RSI``, ``StdDev`` for the z-score and Bollinger's band,
``ATR``, ``ROC``); those it lacks (Hurst exponent, Ornstein-Uhlenbeck fit, volatility of
log returns, mean volume of the sessions before, the NYSE rebalance schedule) are
computed here with numpy, once per symbol, and fed as extra data lines.

Where the documents are silent, these definitions were taken from reading the package's
code (and written again here): the O-U fit (AR(1) of the log close's change on the
previous log close over the last 60 pairs, half-life -ln 2 / b, level exp(mu - sigma_eq),
none unless the half-life is within the window); the Hurst estimator (scaling of the
standard deviation of lagged log differences, lags 2..10, 252 rows); mean reversion's
exit holding only where its entry does not; population deviations for the z-score; an
RSI of 100 over a window with no losses; the golden cross still above on the signal
session; relative strength as a difference of 252-session returns; sector volatility
from log returns; the risk-free rate scaled to the lookback.

Limits, on purpose: the data must be one full grid (every symbol a close on every row;
a missing *open* is filled with that session's close, as the rule says); a buy limited
by the cash left is sized one part in 1e12 short of it so that backtrader's own cash
arithmetic never finds it a hair too expensive.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import backtrader as bt
import exchange_calendars as xcals
import numpy as np
import pandas as pd
import yaml

PARAMS_DIR = Path(__file__).resolve().parents[1] / "params"
STRATEGIES = ("golden_cross", "mean_reversion", "dual_momentum", "sector_rotation")
#: Confidences equal to this many decimals are a tie, broken by symbol: the mean-reversion
#: weights 0.35 + 0.35 + 0.2 + 0.1 are 1.0 on paper and 0.9999999999999999 in floating point.
CONFIDENCE_DIGITS = 9
FIELDS = ("open", "high", "low", "close", "volume")


# -- parameters, read from the YAML files themselves ---------------------------------
def load_params(params_dir: Path = PARAMS_DIR) -> dict[str, Any]:
    """``{"backtest": ..., "universe": ..., "<strategy>": ...}`` from ``params/``."""

    def read(path: Path) -> dict[str, Any]:
        with path.open() as fh:
            return dict(yaml.safe_load(fh))

    out = {"backtest": read(params_dir / "backtest.yaml"), "universe": read(params_dir / "universe.yaml")}
    for name in STRATEGIES:
        out[name] = read(params_dir / "strategies" / f"{name}.yaml")
    return out


def traded_symbols(name: str, params: dict[str, Any]) -> list[str]:
    """The symbols a strategy trades: its groups' (universe order), or dual momentum's list."""
    p = params[name]
    if name == "dual_momentum":
        return list(p["assets"]) + ([p["defensive_asset"]] if p["defensive_asset"] else [])
    groups = params["universe"]["groups"]
    return [s for g in p["groups"] for s in groups[g]]


# -- indicators backtrader does not have (numpy, one symbol at a time) ----------------
def _windows(values: np.ndarray, window: int) -> np.ndarray:
    """Sliding windows over ``values``: row j is values[j : j + window]."""
    return np.lib.stride_tricks.sliding_window_view(values, window)


def hurst_exponent(close: np.ndarray, window: int, max_lag: int) -> np.ndarray:
    """Slope of log(std of log p[t] - log p[t-lag] over the last ``window`` rows) on
    log(lag), lags 2..max_lag (population std; least squares). NaN until it exists."""
    logp = np.log(close)
    lags = np.arange(2, max_lag + 1)
    xc = np.log(lags) - np.log(lags).mean()
    out = np.zeros(len(close))
    out[: window + max_lag - 1] = np.nan
    for lag, weight in zip(lags, xc, strict=True):
        diff = logp[lag:] - logp[:-lag]  # row t = lag + k
        if len(diff) < window:
            return np.full(len(close), np.nan)
        std = _windows(diff, window).std(axis=-1)  # window j ends on row j + window - 1 + lag
        with np.errstate(divide="ignore"):
            term = np.log(std) * weight
        out[window - 1 + max_lag :] += term[max_lag - lag :]  # rows where every lag has a full window
    return out / float((xc**2).sum())


def ou_fit(close: np.ndarray, window: int, n_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Ornstein-Uhlenbeck as AR(1) on log closes, ``dx = a + b x_prev`` over the last
    ``window`` (x_prev, dx) pairs. Returns (entry level exp(mu - n_sigma sigma_eq),
    half-life -ln 2 / b), both NaN unless 0 < half-life <= window."""
    n = len(close)
    level, half_life = np.full(n, np.nan), np.full(n, np.nan)
    if n < window + 1:
        return level, half_life
    x = np.log(close)
    prev, dx = x[:-1], np.diff(x)  # pair k ends on row k + 1
    wp, wd = _windows(prev, window), _windows(dx, window)
    mp, md = wp.mean(axis=-1), wd.mean(axis=-1)
    cp, cd = wp - mp[:, None], wd - md[:, None]
    var = (cp * cp).mean(axis=-1)
    cov = (cp * cd).mean(axis=-1)
    var_dx = (cd * cd).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(var > 0, cov / var, np.nan)
        a = md - b * mp
        hl = -math.log(2) / b
        ok = (b < 0) & (hl <= window) & (b > -2)
        resid = np.clip(var_dx - b * cov, 0, None)
        sigma = np.sqrt(resid / (1 - (1 + b) ** 2))
        lvl = np.exp(-a / b - n_sigma * sigma)
    rows = np.arange(window, n)  # the window of pairs ending on pair k + window - 1 ends on row k + window
    level[rows] = np.where(ok, lvl, np.nan)
    half_life[rows] = np.where((b < 0) & (hl <= window), hl, np.nan)
    return level, half_life


def mean_before(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` rows before each row (the row itself left out)."""
    out = np.full(len(values), np.nan)
    if len(values) > window:
        out[window:] = _windows(values[:-1], window).mean(axis=-1)
    return out


def log_return_vol(close: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation (ddof 1) of the last ``window`` daily log returns."""
    out = np.full(len(close), np.nan)
    r = np.diff(np.log(close))
    if len(r) >= window:
        out[window:] = _windows(r, window).std(axis=-1, ddof=1)
    return out


def rebalance_flags(index: pd.DatetimeIndex, every: int, anchor: dt.date) -> np.ndarray:
    """1.0 on rows a whole number of ``every`` NYSE sessions from ``anchor`` (or the first
    session after it), on or after it."""
    calendar = xcals.get_calendar("XNYS", start="2000-01-03", end=str(index[-1].date() + dt.timedelta(days=30)))
    sessions = calendar.sessions.tz_localize(None) if calendar.sessions.tz is not None else calendar.sessions
    numbers = sessions.get_indexer(index)
    if (numbers < 0).any():
        raise ValueError(f"{index[numbers < 0][0].date()} is not an NYSE session")
    first = int(sessions.searchsorted(pd.Timestamp(anchor)))
    return (((numbers - first) % every == 0) & (numbers >= first)).astype("float64")


# -- data feeds ------------------------------------------------------------------------
class ArrayFeed(bt.feed.DataBase):
    """Bars from numpy arrays (backtrader's PandasData reads cell by cell: too slow here).
    Subclasses add ``lines``; ``columns`` maps every line name to its array."""

    params = (("columns", None), ("dates", None))

    def start(self) -> None:
        super().start()
        self._row = -1
        self._cols = [(getattr(self.lines, name), values) for name, values in self.p.columns.items()]
        self._dt = [bt.date2num(dt.datetime.combine(d, dt.time())) for d in self.p.dates]

    # A daily bar is its own tick: with no tick_* attributes the broker reads the bar's
    # open, high, low and close (bbroker._try_exec), and a third of the feed's time goes.
    def _tick_nullify(self) -> None:
        pass

    def _tick_fill(self, force: bool = False) -> None:
        pass

    def _load(self) -> bool:
        self._row += 1
        if self._row >= len(self._dt):
            return False
        self.lines.datetime[0] = self._dt[self._row]
        for line, values in self._cols:
            line[0] = values[self._row]
        return True


_FEED_CLASSES: dict[tuple[str, ...], type] = {}


def make_feed(symbol: str, bars: dict[str, np.ndarray], extra: dict[str, np.ndarray], dates: list[dt.date]) -> Any:
    names = tuple(extra)
    if names not in _FEED_CLASSES:
        _FEED_CLASSES[names] = type(f"ArrayFeed_{'_'.join(names) or 'plain'}", (ArrayFeed,), {"lines": names})
    columns = {f: bars[f] for f in FIELDS} | dict(extra)
    return _FEED_CLASSES[names](columns=columns, dates=dates, name=symbol)


# -- the book (README "A strategy's book") ----------------------------------------------
@dataclass
class Entry:
    confidence: float
    stop: float | None = None
    target: float | None = None


@dataclass
class Held:
    signal_bar: int
    stop: float | None
    target: float | None


@dataclass
class Trade:
    symbol: str
    entry_date: dt.date
    entry_price: float
    size: float
    exit_date: dt.date | None = None
    exit_price: float | None = None
    exit_reason: str = ""


@dataclass
class EngineResult:
    strategy: str
    trades: list[Trade]
    equity: pd.Series
    skipped: list[tuple[dt.date, str, float]] = field(default_factory=list)  # (fill session, symbol, $ offered)


class Book(bt.Strategy):
    """The book rule; a subclass provides ``setup()`` (indicators) and ``rules(i)``:
    the entries (symbol -> Entry) and exits (symbols) of the current session's close."""

    params: Any = (  # backtrader's metaclass turns these into self.p
        ("fraction", 0.25),
        ("slippage", 0.0),
        ("fees", 0.0),
        ("min_entry", 0.0),
        ("start", None),
        ("max_hold", None),
        ("traded", ()),
        ("p", None),
    )

    def __init__(self) -> None:
        self.by_name = {d._name: d for d in self.datas}
        self.traded = list(self.p.traded)
        self.held: dict[str, Held] = {}
        self.open_trades: dict[str, Trade] = {}
        self.trades: list[Trade] = []
        self.equity: dict[dt.date, float] = {}
        self.skipped: list[tuple[dt.date, str, float]] = []
        self.errors: list[str] = []
        self.to_sell: list[tuple[str, str]] = []
        self.to_buy: list[tuple[str, Entry, int]] = []
        self.setup()

    def setup(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def rules(self, i: int) -> tuple[dict[str, Entry], set[str]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def prenext(self) -> None:
        self.next()

    def prenext_open(self) -> None:
        self.next_open()

    # D's close: what to sell and buy at D+1's open
    def next(self) -> None:
        clock = self.datas[0]
        today = clock.datetime.date(0)
        i = len(clock) - 1
        if today < self.p.start:
            return
        self.equity[today] = self.broker.getvalue()
        entries, exits = self.rules(i)
        closing: set[str] = set()
        self.to_sell = []
        for symbol, pos in self.held.items():
            close = self.by_name[symbol].close[0]
            if pos.stop is not None and close <= pos.stop:
                reason = "stop"
            elif pos.target is not None and close >= pos.target:
                reason = "target"
            elif self.p.max_hold is not None and i - pos.signal_bar >= self.p.max_hold:
                reason = "max_hold"
            elif symbol in exits:
                reason = "exit_signal"
            else:
                continue
            closing.add(symbol)
            self.to_sell.append((symbol, reason))
        self.to_buy = [
            (symbol, entry, i) for symbol, entry in entries.items() if symbol not in self.held and symbol not in closing
        ]

    # D+1's open: sells first, then buys by confidence (desc) and symbol
    def next_open(self) -> None:
        if not (self.to_sell or self.to_buy):
            return
        slip, fees = self.p.slippage, self.p.fees
        cash = self.broker.getcash()
        for symbol, reason in self.to_sell:
            data = self.by_name[symbol]
            size = self.getposition(data).size
            self.sell(data=data, size=size, exectype=bt.Order.Market)
            px = data.open[0] * (1 - slip)
            cash += size * px * (1 - fees)
            self.open_trades[symbol].exit_reason = reason
            del self.held[symbol]
        equity = cash + sum(self.getposition(self.by_name[s]).size * self.by_name[s].open[0] for s in self.held)
        wanted = self.p.fraction * equity
        for symbol, entry, signal_bar in sorted(
            self.to_buy, key=lambda b: (-round(b[1].confidence, CONFIDENCE_DIGITS), b[0])
        ):
            data = self.by_name[symbol]
            px = data.open[0] * (1 + slip)
            value = min(wanted, cash / (1 + fees))  # the shares' worth at the fill; the fee on top
            if value < self.p.min_entry:
                self.skipped.append((data.datetime.date(0), symbol, value))
                continue
            size = value / px
            if value < wanted:  # all the cash left: a hair short, for backtrader's own arithmetic
                size *= 1 - 1e-12
            self.buy(data=data, size=size, exectype=bt.Order.Market)
            cash -= size * px * (1 + fees)
            self.held[symbol] = Held(signal_bar, entry.stop, entry.target)
        self.to_sell, self.to_buy = [], []

    def notify_order(self, order: Any) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        symbol = order.data._name
        if order.status != order.Completed:
            self.errors.append(f"{symbol} {order.getstatusname()} on {order.data.datetime.date(0)}")
            return
        day = bt.num2date(order.executed.dt).date()
        if order.isbuy():
            trade = Trade(symbol, day, float(order.executed.price), float(order.executed.size))
            self.open_trades[symbol] = trade
            self.trades.append(trade)
        else:
            trade = self.open_trades.pop(symbol)
            trade.exit_date, trade.exit_price = day, float(order.executed.price)


# -- the four strategies (README table, DESIGN §4, params/strategies) -------------------
class GoldenCross(Book):
    def setup(self) -> None:
        p = self.p.p
        self.fast = {s: bt.ind.SMA(self.by_name[s].close, period=p["fast_window"]) for s in self.traded}
        self.slow = {s: bt.ind.SMA(self.by_name[s].close, period=p["slow_window"]) for s in self.traded}

    def rules(self, i: int) -> tuple[dict[str, Entry], set[str]]:
        p = self.p.p
        entries, exits = {}, set()
        within = p["cross_within_sessions"]
        for s in self.traded:
            d, fast, slow = self.by_name[s], self.fast[s], self.slow[s]
            if len(d) < p["min_history_sessions"] or i < within:  # every row has a close (run() checks)
                continue
            f, sl, c = fast[0], slow[0], d.close[0]
            if f < sl:
                exits.add(s)
            crossed = any(fast[-k] > slow[-k] and fast[-k - 1] <= slow[-k - 1] for k in range(within))
            if not (f > sl and crossed):
                continue
            confidence = p["base_confidence"]
            confidence += p["separation_bonus"] * ((f - sl) / sl >= p["separation_pct"] / 100)
            confidence += p["above_both_bonus"] * (c > f and c > sl)
            confidence += p["volume_bonus"] * (d.volume[0] > p["volume_ratio"] * d.volume_mean[0])
            confidence = min(confidence, 1.0)
            if round(confidence, CONFIDENCE_DIGITS) >= p["min_confidence"]:
                entries[s] = Entry(confidence)
        return entries, exits


class MeanReversion(Book):
    def setup(self) -> None:
        p = self.p.p
        self.ind: dict[str, dict[str, Any]] = {}
        for s in self.traded:
            d = self.by_name[s]
            self.ind[s] = {
                # Wilder's: the first average is the mean of 14 changes; no losses gives 100
                "rsi": bt.ind.RSI(d.close, period=p["rsi_window"], safediv=True, safehigh=100.0, safelow=100.0),
                "mid": bt.ind.SMA(d.close, period=p["zscore_window"]),
                "std": bt.ind.StdDev(d.close, period=p["zscore_window"]),  # population, as Bollinger's
                "sma_exit": bt.ind.SMA(d.close, period=p["exit_sma_window"]),
                "atr": bt.ind.ATR(d, period=p["atr_window"]),
            }
            if p["bollinger_window"] == p["zscore_window"]:  # the same SMA and deviation: no second copy
                bands = self.ind[s]["mid"] - p["bollinger_std"] * self.ind[s]["std"]
            else:
                bands = bt.ind.BollingerBands(d.close, period=p["bollinger_window"], devfactor=p["bollinger_std"]).bot
            self.ind[s]["lower"] = bands

    def rules(self, i: int) -> tuple[dict[str, Entry], set[str]]:
        p = self.p.p
        entries, exits = {}, set()
        for s in self.traded:
            d, ind = self.by_name[s], self.ind[s]
            c, rsi, std = d.close[0], ind["rsi"][0], ind["std"][0]
            z = (c - ind["mid"][0]) / std if std > 0 else math.nan
            reverted = z > p["zscore_exit"] or rsi > p["rsi_overbought"] or c >= ind["sma_exit"][0]
            met = {
                "rsi": rsi < p["rsi_oversold"],
                "zscore": z < p["zscore_entry"],
                "bollinger": c < ind["lower"][0],
                "ou": c < d.ou_level[0],
            }
            confidence = sum(p[f"weight_{k}"] for k, ok in met.items() if ok)
            confidence += p["volume_bonus"] * (d.volume[0] > p["volume_ratio"] * d.volume_mean[0])
            confidence += p["half_life_bonus"] * (d.half_life[0] < p["half_life_max"])
            confidence = min(confidence, 1.0)
            oversold = sum(met.values()) >= p["min_conditions"] and d.hurst[0] < p["hurst_max"]
            if oversold and round(confidence, CONFIDENCE_DIGITS) >= p["min_confidence"]:
                atr = ind["atr"][0]
                entries[s] = Entry(confidence, c - p["stop_atr"] * atr, c + p["target_atr"] * atr)
            elif reverted:  # the exit rule holds only where the entry rule does not (taken from the code)
                exits.add(s)
        return entries, exits


def _percent_levels(p: dict[str, Any], close: float) -> tuple[float | None, float | None]:
    stop = close * (1 - p["stop_loss_pct"] / 100) if p["stop_loss_pct"] is not None else None
    target = close * (1 + p["take_profit_pct"] / 100) if p["take_profit_pct"] is not None else None
    return stop, target


class DualMomentum(Book):
    def setup(self) -> None:
        p = self.p.p
        self.ret = {s: bt.ind.ROC(self.by_name[s].close, period=p["lookback_sessions"]) for s in self.traded}

    def rules(self, i: int) -> tuple[dict[str, Entry], set[str]]:
        p = self.p.p
        if not self.datas[0].rebalance[0]:
            return {}, set()
        returns = {a: self.ret[a][0] for a in p["assets"]}
        known = {a: r for a, r in returns.items() if not math.isnan(r)}
        if not known:
            return {}, set()
        ranked = sorted(known, key=lambda a: -known[a])  # stable: the first listed wins a tie
        best = ranked[0]
        risk_free = p["risk_free_rate_pct"] / 100 * p["lookback_sessions"] / 252
        excess = known[best] - risk_free
        if excess >= 0:
            lead = known[best] - known[ranked[1]] if len(ranked) > 1 else 0.0
            choice = best
            confidence = min(p["base_confidence"] + p["absolute_weight"] * excess + p["relative_weight"] * lead, 1.0)
        else:
            choice, confidence = p["defensive_asset"], p["base_confidence"]
        entries = {}
        if choice is not None:
            entries[choice] = Entry(max(confidence, 0.0), *_percent_levels(p, self.by_name[choice].close[0]))
        return entries, {s for s in self.traded if s != choice}


class SectorRotation(Book):
    params = (("benchmark", "SPY"),)

    def setup(self) -> None:
        p = self.p.p
        bench = self.by_name[self.p.benchmark]
        bench_rs = bt.ind.ROC(bench.close, period=p["relative_strength_sessions"])
        self.mom = {s: bt.ind.ROC(self.by_name[s].close, period=p["momentum_sessions"]) for s in self.traded}
        self.rs = {
            s: bt.ind.ROC(self.by_name[s].close, period=p["relative_strength_sessions"]) - bench_rs for s in self.traded
        }

    def rules(self, i: int) -> tuple[dict[str, Entry], set[str]]:
        p = self.p.p
        if not self.datas[0].rebalance[0]:
            return {}, set()
        bench_vol = self.by_name[self.p.benchmark].vol[0]
        scores = {}
        for s in self.traded:
            rs = self.rs[s][0]
            score = (p["momentum_weight"] * self.mom[s][0] + p["relative_strength_weight"] * rs) * (
                bench_vol / self.by_name[s].vol[0]
            )
            if not math.isnan(score):
                scores[s] = (score, rs)
        if not scores:
            return {}, set()
        eligible = [s for s in self.traded if s in scores and scores[s][1] >= p["min_relative_strength_pct"] / 100]
        top = sorted(eligible, key=lambda s: -scores[s][0])[: p["top_n"]]  # stable: universe order on ties
        entries = {s: Entry(min(max(p["base_confidence"] + p["score_weight"] * scores[s][0], 0.0), 1.0)) for s in top}
        return entries, {s for s in self.traded if s not in top}


CLASSES: dict[str, type[Book]] = {
    "golden_cross": GoldenCross,
    "mean_reversion": MeanReversion,
    "dual_momentum": DualMomentum,
    "sector_rotation": SectorRotation,
}


def _extra_lines(
    name: str, p: dict[str, Any], close: np.ndarray, volume: np.ndarray, index: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    if name == "golden_cross":
        return {"volume_mean": mean_before(volume, p["volume_window"])}
    if name == "mean_reversion":
        level, half_life = ou_fit(close, p["ou_window"], p["ou_entry_sigma"])
        return {
            "hurst": hurst_exponent(close, p["hurst_window"], p["hurst_max_lag"]),
            "ou_level": level,
            "half_life": half_life,
            "volume_mean": mean_before(volume, p["volume_window"]),
        }
    flags = rebalance_flags(index, p["rebalance_sessions"], p["rebalance_anchor"])
    if name == "dual_momentum":
        return {"rebalance": flags}
    return {"rebalance": flags, "vol": log_return_vol(close, p["volatility_sessions"])}


def run(
    name: str,
    bars: dict[str, pd.DataFrame],
    start: dt.date,
    params: dict[str, Any] | None = None,
) -> EngineResult:
    """Backtest strategy ``name`` on ``bars`` (field -> dates x symbols frame, rows up to
    the last session), trading from ``start``; rows before it only warm up indicators."""
    params = params or load_params()
    if name not in CLASSES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    p, costs = params[name], params["backtest"]
    traded = traded_symbols(name, params)
    needed = traded + ([params["universe"]["benchmark"]] if name == "sector_rotation" else [])
    close = bars["close"]
    missing = [s for s in needed if s not in close.columns]
    if missing:
        raise ValueError(f"{name}: no bars for {', '.join(missing)}")
    index = pd.DatetimeIndex(close.index)
    gaps = close[needed].isna()
    if gaps.to_numpy().any():
        first = gaps.any(axis=1).idxmax()
        raise ValueError(
            f"{name}: missing closes, first on {first.date()} ({', '.join(gaps.columns[gaps.loc[first]])}); "
            "this engine needs a close for every symbol on every row"
        )
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("the rows must be sessions in increasing order")

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, runonce=True, preload=True, quicknotify=False)
    dates = [ts.date() for ts in index]
    for symbol in dict.fromkeys(needed):
        arrays = {f: bars[f][symbol].to_numpy(dtype="float64") for f in FIELDS}
        arrays["open"] = np.where(np.isnan(arrays["open"]), arrays["close"], arrays["open"])  # rule 4
        arrays["volume"] = np.nan_to_num(arrays["volume"], nan=0.0)
        cerebro.adddata(
            make_feed(symbol, arrays, _extra_lines(name, p, arrays["close"], arrays["volume"], index), dates)
        )
    broker = cerebro.broker
    broker.set_cash(float(costs["initial_capital"]))
    broker.set_checksubmit(False)
    # slippage on the open's fill too, and never capped at the bar's high or low
    broker.set_slippage_perc(costs["slippage_pct"] / 100, slip_open=True, slip_match=True, slip_out=True)
    broker.setcommission(
        commission=costs["fees_pct"] / 100, commtype=bt.CommInfoBase.COMM_PERC, percabs=True, stocklike=True
    )
    cerebro.addstrategy(
        CLASSES[name],
        fraction=p["position_fraction"],
        slippage=costs["slippage_pct"] / 100,
        fees=costs["fees_pct"] / 100,
        min_entry=float(costs.get("min_entry_value", 50.0)),
        start=start,
        max_hold=p.get("max_hold_sessions"),
        traded=traded,
        p=p,
    )
    (strategy,) = cerebro.run()
    if strategy.errors:
        raise RuntimeError(f"{name}: backtrader refused orders: {'; '.join(strategy.errors[:5])}")
    equity = pd.Series(strategy.equity, name=name)
    equity.index = pd.DatetimeIndex(equity.index)
    return EngineResult(name, strategy.trades, equity, strategy.skipped)
