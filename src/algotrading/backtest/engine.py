"""Backtests on vectorbt: one strategy's book over its symbols, with the live rules'
timing.

* A signal at session D's close fills at D+1's open (orders shifted one session): no
  look-ahead.
* What is bought and sold, and how much, is the book's (``backtest/book.py``, README
  "A strategy's book"): positions its cash paid for, in fractional shares. vectorbt fills
  those orders at the same prices, with the fees and slippage of ``params/backtest.yaml``,
  and values the book: equity, positions and round trips come from vectorbt.

vectorbt runs with an explicitly chosen engine (DESIGN §9: ``engine='auto'`` switches to
vectorbt-rust silently once it is installed): "rust" when vectorbt-rust is importable
(no numba compile, 0.7 s for the first call instead of 15 s measured here), else numba.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from tqdm import tqdm

from algotrading import faults
from algotrading.backtest.book import PositionBook, fill_prices, simulate
from algotrading.collector import importing
from algotrading.config import BacktestParams
from algotrading.data.market import MarketData
from algotrading.indicators import TRADING_DAYS
from algotrading.strategies.base import SignalFrames, Strategy

METRIC_NAMES = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "trades",
    "exposure",
    "fees_paid",
)


@dataclass(frozen=True)
class BacktestResult:
    """A strategy's simulated book: equity from ``start``, trades and metrics."""

    strategy: str
    equity: pd.Series
    benchmark: pd.Series  # buy-and-hold of the benchmark from the same capital
    trades: pd.DataFrame
    metrics: dict[str, float]
    positions: pd.Series  # open positions after each session
    book: PositionBook = field(repr=False)
    fees: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"), repr=False)  # paid per session

    def metrics_asof(self, session: dt.date | pd.Timestamp) -> dict[str, float]:
        """The metrics as a backtest ending ``session`` gives them: a replay computes one
        backtest for many sessions, and a session's numbers must not see its future.
        A trade still open at ``session`` counts as open (its later exit is not known)."""
        end = pd.Timestamp(session)
        if len(self.equity) == 0 or self.equity.index[-1] <= end:
            return self.metrics
        trades = self.trades[self.trades["entry_date"] <= end].copy()
        later = trades["exit_date"] > end
        trades.loc[later, "status"] = "open"
        fees = float(self.fees.loc[:end].sum())
        return compute_metrics(self.equity.loc[:end], trades, self.positions.loc[:end], fees)


#: Optional packages vectorbt imports when installed, for features this package never
#: uses; hidden while vectorbt is imported (seconds measured on the 2-core machine).
#: quantstats: only vectorbt's ``.qs`` adapter (0.93 s of the 3.3 s import; a test extra,
#: the independent check of the metrics). ipywidgets: plotly's ``FigureWidget``, which
#: widgets-off vectorbt never makes, and tqdm's notebook bars (0.55 s of 7.0 s on a loaded
#: machine); hidden only outside a Jupyter kernel, where tqdm would warn and draw text bars.
HIDDEN_DURING_IMPORT = ("quantstats", "ipywidgets")


def _extras_to_hide() -> list[str]:
    """The packages of :data:`HIDDEN_DURING_IMPORT` to hide now: those not imported yet,
    and ipywidgets only when this process is not a Jupyter kernel."""
    in_kernel = "ipykernel" in sys.modules
    return [n for n in HIDDEN_DURING_IMPORT if n not in sys.modules and not (in_kernel and n == "ipywidgets")]


@lru_cache(maxsize=1)
def vectorbt() -> Any:
    """Import vectorbt with the engine set explicitly and widgets off (DESIGN §9).

    The extras of :func:`_extras_to_hide` are hidden during vectorbt's import, so a
    backtest costs the same with or without them installed; importing them later works
    as usual. In the package's own processes the import runs without the garbage
    collector and what it made is then frozen (collector.importing). Done once per
    process: every later call (each backtest, each sweep chunk) gets the same module."""
    hidden = _extras_to_hide()
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        with importing():
            import vectorbt as vbt  # local: 2.4 s to import; only a backtest needs it (DESIGN §9)
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]

    try:
        import vectorbt_rust  # noqa: F401  (local, with vectorbt: the optional Rust engine)

        engine = "rust"
    except ImportError:
        engine = "numba"
    vbt.settings["engine"] = engine
    vbt.settings.plotting["use_widgets"] = False
    return vbt


def portfolio(
    close: pd.DataFrame, prices: pd.DataFrame, orders: pd.DataFrame, params: BacktestParams, group_by: Any
) -> Any:
    """The vectorbt portfolio of a book's ``orders`` at ``prices`` (:func:`fill_prices`):
    a buy of the book's shares, a sell of the whole position (target 0 shares, so the
    position closes exactly); each group shares one cash account. Missing closes are
    filled only where no position can exist (before a symbol's first bar), so
    valuations stay defined."""
    vbt = vectorbt()
    from vectorbt.portfolio.enums import SizeType  # local, with vectorbt (see vectorbt())

    shares = orders.to_numpy()
    sells = shares < 0
    return vbt.Portfolio.from_orders(
        close=close.ffill().bfill(),
        size=np.where(sells, 0.0, shares),
        size_type=np.where(sells, SizeType.TargetAmount, SizeType.Amount),
        direction="longonly",
        price=prices,
        fees=params.fees_pct / 100,
        slippage=params.slippage_pct / 100,
        init_cash=params.initial_capital,
        cash_sharing=True,
        group_by=group_by,
        call_seq="auto",
        freq="1D",
    )


def warm_up() -> None:
    """Build and read one portfolio of two sessions and two symbols as every backtest's is
    built (:func:`portfolio`) and read (:func:`run_backtest`): numba's first call (its
    typing, the functions loaded from their cache) and vectorbt's first calls happen
    here, 0.17 s, once in the process that forks the notebook kernels
    (report/kernel_warmup.py) instead of in every kernel that backtests."""
    index = pd.DatetimeIndex(["2024-01-02", "2024-01-03"])
    close = pd.DataFrame({"A": [10.0, 11.0], "B": [20.0, 21.0]}, index=index)
    orders = pd.DataFrame({"A": [1.0, -1.0], "B": [np.nan, np.nan]}, index=index)
    params = BacktestParams(
        initial_capital=1000,
        fees_pct=0.1,
        slippage_pct=0.1,
        min_entry_value=0,
        warmup_sessions=0,
        correlation_sessions=20,
    )
    pf = portfolio(close, close, orders, params, group_by=True)
    pf.value()
    pf.asset_value(group_by=False)
    _ = pf.trades.records, pf.orders.records


def run_backtest(
    strategy: Strategy,
    market: MarketData,
    params: BacktestParams,
    start: dt.date | None = None,
    end: dt.date | None = None,
    frames: SignalFrames | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``market`` rows up to ``end``, trading from ``start``.

    Rows before ``start`` only warm up the indicators. Pass ``frames`` when they were
    already computed on the same data (the daily run does, to compute them once).
    """
    data = market.between(None, end)
    frames = frames if frames is not None else strategy.generate(data)
    if end is not None:
        frames = frames.upto(end)
    symbols = frames.symbols
    close = data.close[symbols]
    prices = fill_prices(data.open[symbols], close)
    book = simulate(frames, close, prices, params, strategy.params.position_fraction, start)
    pf = portfolio(close, prices, book.orders, params, group_by=True)
    first = pd.Timestamp(start) if start is not None else close.index[0]
    equity = pf.value().loc[first:].rename(strategy.name)
    asset_value = pf.asset_value(group_by=False).loc[first:]
    positions = (asset_value.abs() > 1e-9).sum(axis=1).rename("positions")
    trades = _trades(pf, symbols)
    bench = _benchmark(market, strategy.universe.benchmark, equity.index, params.initial_capital)
    records = pf.orders.records
    paid = np.asarray(records["fees"], dtype="float64")
    fees = pd.Series(paid, index=close.index[np.asarray(records["idx"])]).groupby(level=0).sum().loc[first:]
    metrics = compute_metrics(equity, trades, positions, float(paid.sum()))
    return BacktestResult(strategy.name, equity, bench, trades, metrics, positions, book, fees)


def _trades(pf: Any, symbols: list[str]) -> pd.DataFrame:
    """Round trips (open ones included) as a plain table."""
    records = pf.trades.records
    if len(records) == 0:
        return pd.DataFrame(
            columns=[
                "symbol",
                "entry_date",
                "exit_date",
                "size",
                "entry_price",
                "exit_price",
                "pnl",
                "return",
                "status",
            ]
        )
    index = pf.wrapper.index
    table = pd.DataFrame(
        {
            "symbol": np.asarray(symbols, dtype=object)[records["col"]],
            "entry_date": index[records["entry_idx"]],
            "exit_date": index[records["exit_idx"]],
            "size": records["size"],
            "entry_price": records["entry_price"],
            "exit_price": records["exit_price"],
            "pnl": records["pnl"],
            "return": records["return"],
            "status": np.where(records["status"] == 1, "closed", "open"),
        }
    )
    table.loc[table["status"] == "open", ["exit_date", "exit_price"]] = [pd.NaT, np.nan]
    return table.sort_values(["entry_date", "symbol"]).reset_index(drop=True)


def _benchmark(market: MarketData, symbol: str, index: pd.DatetimeIndex, capital: float) -> pd.Series:
    if symbol not in market.close.columns or len(index) == 0:
        return pd.Series(np.nan, index=index, name=symbol)
    return buy_and_hold(market.close[symbol].reindex(index), capital).rename(symbol)


def buy_and_hold(prices: pd.Series, capital: float) -> pd.Series:
    """``capital`` put into ``prices`` at its first known price and held (gaps carry the
    last price; NaN everywhere when there is no price at all)."""
    prices = prices.astype("float64").ffill()
    known = prices.dropna()
    if known.empty:
        return prices * np.nan
    return capital * prices / known.iloc[0]


def benchmark_metrics(equity: pd.Series) -> dict[str, float]:
    """:func:`compute_metrics` of a buy-and-hold equity: always invested, no trades or
    fees of its own (those metrics are NaN)."""
    equity = equity.dropna()
    out = compute_metrics(equity, pd.DataFrame(columns=["status", "pnl"]), pd.Series(1, index=equity.index), 0.0)
    return out | {"win_rate": float("nan"), "trades": float("nan"), "fees_paid": float("nan")}


def compute_metrics(
    equity: pd.Series, trades: pd.DataFrame, positions: pd.Series, fees_paid: float
) -> dict[str, float]:
    """Total return, CAGR, Sharpe and Sortino (daily, annualised with 252, no risk-free
    rate), max drawdown (a negative fraction), win rate of closed trades, number of
    trades, exposure (share of sessions with a position), fees paid.

    Checked against quantstats on the same returns (tests/test_metrics_quantstats.py).
    Two differences are deliberate: the CAGR's years are calendar years
    ((last - first).days / 365.25, so a holiday-light year is not longer), where
    quantstats counts sessions / 252; and the win rate counts a closed trade with zero
    pnl as not won, where quantstats leaves zeros out."""
    out: dict[str, float] = dict.fromkeys(METRIC_NAMES, float("nan"))
    if len(equity) < 2:
        return out
    returns = equity.pct_change().dropna()
    total = float(equity.iloc[-1] / equity.iloc[0] - 1)
    years = (equity.index[-1] - equity.index[0]).days / 365.25
    std = float(returns.std(ddof=1))
    downside = float(np.sqrt(np.mean(np.minimum(returns.to_numpy(), 0.0) ** 2)))
    closed = trades[trades["status"] == "closed"]
    out.update(
        total_return=total,
        cagr=(1 + total) ** (1 / years) - 1 if years > 0 and total > -1 else float("nan"),
        sharpe=float(returns.mean() / std * math.sqrt(TRADING_DAYS)) if std > 0 else float("nan"),
        sortino=float(returns.mean() / downside * math.sqrt(TRADING_DAYS)) if downside > 0 else float("nan"),
        max_drawdown=float((equity / equity.cummax() - 1).min()),
        win_rate=float((closed["pnl"] > 0).mean()) if len(closed) else float("nan"),
        trades=float(len(trades)),
        exposure=float((positions > 0).mean()),
        fees_paid=fees_paid,
    )
    return out


#: One combination of a sweep: its parameters and the strategy made with them.
Combination = tuple[dict[str, Any], Strategy]


@dataclass(frozen=True)
class SweepPlan:
    """A sweep cut into work: the grid's parameter names, the invalid combinations' rows
    (parameters and the reason), and the valid combinations in chunks of at most
    ``max_columns`` columns each. Shared by the in-process sweep and the Dask one
    (``backtest/grid.py``), so both run the same chunks and build the same table."""

    names: list[str]
    invalid: list[dict[str, Any]]
    chunks: list[list[Combination]]

    @property
    def size(self) -> int:
        """The number of valid combinations (what a progress bar counts)."""
        return sum(len(c) for c in self.chunks)


def plan_sweep(
    strategy: Strategy, grid: dict[str, list[Any]], max_columns: int = 4000, min_chunks: int = 1
) -> SweepPlan:
    """Every combination of ``grid`` (parameter name -> values), validated, in chunks.

    A chunk holds at most ``max_columns // symbols`` combinations (DESIGN §9: chunk wide
    sweeps to bound memory) and, with ``min_chunks``, few enough that there are at least
    that many chunks (so several workers all get work); never fewer than one."""
    names = list(grid)
    invalid: list[dict[str, Any]] = []
    pending: list[Combination] = []
    for values in itertools.product(*grid.values()):
        combo = dict(zip(names, values, strict=True))
        try:
            pending.append((combo, strategy.with_params(**combo)))
        except ValidationError as exc:
            invalid.append(combo | {"error": "; ".join(e["msg"] for e in exc.errors())})
    per_combo = max(1, max_columns // max(1, len(strategy.symbols())))
    per_combo = max(1, min(per_combo, math.ceil(len(pending) / max(1, min_chunks))))
    chunks = [pending[i : i + per_combo] for i in range(0, len(pending), per_combo)]
    return SweepPlan(names, invalid, chunks)


def sweep_frame(plan: SweepPlan, chunk_rows: list[list[dict[str, Any]]]) -> pd.DataFrame:
    """The sweep's table: the invalid combinations' rows, then each chunk's rows in
    ``plan.chunks`` order, sorted by the parameters. ``chunk_rows`` must be in chunk
    order, whatever order they were computed in."""
    rows = plan.invalid + [row for rows in chunk_rows for row in rows]
    return pd.DataFrame(rows).sort_values(plan.names).reset_index(drop=True)


def sweep_bar(plan: SweepPlan) -> tqdm:
    """The sweep's progress bar, in combinations: on a terminal only (``disable=None``:
    none in cron logs, CI or a notebook's saved output)."""
    return tqdm(total=plan.size, unit="combination", desc="sweep", disable=None, mininterval=0.5)


def sweep(
    strategy: Strategy,
    market: MarketData,
    grid: dict[str, list[Any]],
    params: BacktestParams,
    start: dt.date | None = None,
    end: dt.date | None = None,
    max_columns: int = 4000,
) -> pd.DataFrame:
    """Backtest every combination of ``grid`` (parameter name -> values) in this process.

    The combinations' frames are laid side by side (columns: combination x symbol) so
    the position walk and vectorbt each run once per chunk of at most ``max_columns``
    columns (DESIGN §9: chunk wide sweeps to bound memory); each combination is its own
    cash-sharing group. Invalid combinations (e.g. fast >= slow) are reported with NaN
    metrics and the reason. Returns one row per combination: its parameters, total
    return, CAGR, Sharpe, max drawdown and orders. ``backtest/grid.py`` runs the same
    chunks on Dask workers.
    """
    plan = plan_sweep(strategy, grid, max_columns)
    data = market.between(None, end)
    done: list[list[dict[str, Any]]] = []
    with sweep_bar(plan) as bar:
        for chunk in plan.chunks:
            done.append(sweep_chunk(chunk, data, params, start))
            bar.update(len(chunk))
    return sweep_frame(plan, done)


def sweep_chunk(
    chunk: list[Combination], data: MarketData, params: BacktestParams, start: dt.date | None
) -> list[dict[str, Any]]:
    """Backtest one chunk of combinations side by side on ``data`` (already cut at the
    sweep's end): one row per combination, in chunk order. The unit of work of both the
    in-process sweep and a Dask task (``backtest/grid.py``)."""
    faults.reach("sweep:chunk")  # a test kills a Dask worker here
    frames = [s.generate(data) for _, s in chunk]
    symbols = frames[0].symbols

    def side_by_side(parts: list[pd.DataFrame | None]) -> pd.DataFrame | None:
        """Columns ``"<combination>:<symbol>"``, combinations in chunk order."""
        if any(p is None for p in parts):
            return None
        out = pd.concat(parts, axis=1)
        out.columns = [f"{k}:{s}" for k in range(len(parts)) for s in symbols]
        return out

    combined = SignalFrames(
        strategy="sweep",
        entry=side_by_side([f.entry for f in frames]),
        exit=side_by_side([f.exit for f in frames]),
        confidence=side_by_side([f.confidence for f in frames]),
        exit_fresh=side_by_side([f.exit_fresh for f in frames]),
        stop=side_by_side([f.stop for f in frames]),
        target=side_by_side([f.target for f in frames]),
        max_hold=frames[0].max_hold,
    )
    close = side_by_side([data.close[symbols]] * len(chunk))
    opens = side_by_side([data.open[symbols]] * len(chunk))
    assert close is not None and opens is not None  # side_by_side returns None only for a missing part
    prices = fill_prices(opens, close)
    group = np.repeat(np.arange(len(chunk)), len(symbols))
    fraction = np.asarray([s.params.position_fraction for _, s in chunk])
    book = simulate(combined, close, prices, params, fraction, start, groups=group, names=symbols * len(chunk))
    pf = portfolio(close, prices, book.orders, params, group_by=group)
    first = pd.Timestamp(start) if start is not None else close.index[0]
    values = pf.value().loc[first:]
    if isinstance(values, pd.Series):  # one group: vectorbt returns a Series
        values = values.to_frame(0)
    values.columns = range(len(chunk))
    orders = pf.orders.records["col"]
    counts = np.bincount(group[orders], minlength=len(chunk))
    no_trades = pd.DataFrame(columns=["status", "pnl"])
    out = []
    for key, (combo, _) in enumerate(chunk):
        equity = values[key]
        m = compute_metrics(equity, no_trades, pd.Series(0, index=equity.index), 0.0)
        out.append(
            combo | {k: m[k] for k in ("total_return", "cagr", "sharpe", "max_drawdown")} | {"orders": int(counts[key])}
        )
    return out
