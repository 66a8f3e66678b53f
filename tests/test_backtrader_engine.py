"""The package's backtests against an independent event-driven engine on backtrader
(``tests/backtrader_engine.py``: the README's strategy table and book rule written again,
without the package's strategy, indicator or book code).

For each strategy on the bundled data, 2018-2025, with 300 warm-up sessions before as
``algotrading backtest --start 2018-01-01 --end 2025-12-31`` loads them: the same round
trips (symbol, entry session, exit session), the same fill prices to 1e-9 and the final
equity within 0.1%. Then two edges of the rule on small changes of the same data.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from algotrading import calendar as cal
from algotrading.backtest.engine import BacktestResult, run_backtest
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.strategies import load_strategies

from . import backtrader_engine as bte

START, END = dt.date(2018, 1, 2), dt.date(2025, 12, 31)
PRICE_RTOL = 1e-9
EQUITY_RTOL = 1e-3


@pytest.fixture(scope="module")
def settings():
    return load_settings()


@pytest.fixture(scope="module")
def market(settings) -> MarketData:
    """The bundled bars from ``warmup_sessions`` before START to END (backtest/window.py)."""
    first = cal.session_window(START, settings.backtest.warmup_sessions + 1)[0]
    bars = BundledBarsProvider().get_bars(settings.universe.all_symbols, first, END)
    return MarketData.from_bars(bars)


@pytest.fixture(scope="module")
def strategies(settings):
    return {s.name: s for s in load_strategies(settings)}


def _bars(market: MarketData) -> dict[str, pd.DataFrame]:
    return {f: getattr(market, f) for f in bte.FIELDS}


def _engine_trades(result: bte.EngineResult) -> pd.DataFrame:
    rows = [
        {
            "symbol": t.symbol,
            "entry_date": pd.Timestamp(t.entry_date),
            "exit_date": pd.Timestamp(t.exit_date) if t.exit_date else pd.NaT,
            "entry_price": t.entry_price,
            "exit_price": t.exit_price if t.exit_price is not None else np.nan,
        }
        for t in result.trades
    ]
    return pd.DataFrame(rows).sort_values(["entry_date", "symbol"]).reset_index(drop=True)


def _round_trips(trades: pd.DataFrame) -> list[tuple[str, str, str]]:
    def day(ts) -> str:
        return "open" if pd.isna(ts) else ts.date().isoformat()

    return [(r.symbol, day(r.entry_date), day(r.exit_date)) for r in trades.itertuples()]


def _first_difference(ours: list, theirs: list, label_ours: str, label_theirs: str, around: int = 6) -> str:
    """The two lists of round trips side by side from a little before their first difference."""
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    lo = max(0, first - 2)
    lines = [f"first difference at round trip #{first} (of {len(ours)} {label_ours}, {len(theirs)} {label_theirs}):"]
    lines.append(f"      {label_ours:<40} {label_theirs}")
    for i in range(lo, lo + around + 2):
        a = " ".join(ours[i]) if i < len(ours) else "-"
        b = " ".join(theirs[i]) if i < len(theirs) else "-"
        lines.append(f"{'>>' if i == first else '  '}{i:4} {a:<40} {b}")
    return "\n".join(lines)


def _compare(name: str, package: BacktestResult, engine: bte.EngineResult) -> dict[str, float]:
    theirs = package.trades.sort_values(["entry_date", "symbol"]).reset_index(drop=True)
    ours = _engine_trades(engine)
    trips_ours, trips_theirs = _round_trips(ours), _round_trips(theirs)
    if trips_ours != trips_theirs:  # the message alone: the first differing trades, side by side
        pytest.fail(
            f"{name}: the round trips differ\n" + _first_difference(trips_ours, trips_theirs, "backtrader", "package"),
            pytrace=False,
        )
    entry_diff = float((ours["entry_price"] / theirs["entry_price"] - 1).abs().max())
    closed = theirs["exit_price"].notna()
    exit_diff = (
        float((ours["exit_price"][closed] / theirs["exit_price"][closed] - 1).abs().max()) if closed.any() else 0
    )
    price_diff = max(entry_diff, exit_diff)
    final_ours, final_theirs = float(engine.equity.iloc[-1]), float(package.equity.iloc[-1])
    both = pd.concat([engine.equity, package.equity], axis=1, keys=["ours", "theirs"]).dropna()
    summary = {
        "trades": len(theirs),
        "price_diff": price_diff,
        "equity_ours": final_ours,
        "equity_theirs": final_theirs,
        "equity_diff": final_ours / final_theirs - 1,
        "daily_equity_diff": float((both["ours"] / both["theirs"] - 1).abs().max()),
    }
    print(
        f"\n{name}: package {len(theirs)} trades, backtrader {len(ours)}, matched {len(theirs)}; "
        f"max price difference {price_diff:.1e} (relative); final equity ${final_ours:,.2f} (backtrader) vs "
        f"${final_theirs:,.2f} (package), {summary['equity_diff']:+.2e}; daily equity within "
        f"{summary['daily_equity_diff']:.1e}"
    )
    mismatched = ~np.isclose(ours["entry_price"], theirs["entry_price"], rtol=PRICE_RTOL, atol=0) | (
        closed & ~np.isclose(ours["exit_price"], theirs["exit_price"], rtol=PRICE_RTOL, atol=0)
    )
    if mismatched.any():
        table = pd.concat(
            [ours[mismatched], theirs[mismatched][["entry_price", "exit_price"]].add_prefix("package_")], axis=1
        )
        pytest.fail(f"{name}: fill prices differ\n{table.head(10).to_string()}", pytrace=False)
    assert abs(summary["equity_diff"]) <= EQUITY_RTOL, (
        f"{name}: final equity ${final_ours:,.2f} (backtrader) vs ${final_theirs:,.2f} (package)"
    )
    assert len(engine.equity) == len(package.equity) and engine.equity.index.equals(package.equity.index)
    skipped = package.book.skipped  # on the signal sessions: the buy was to fill at the next one
    rows, cols = np.nonzero(skipped.to_numpy(dtype=bool))
    skipped_theirs = sorted((skipped.index[i + 1].date(), skipped.columns[j]) for i, j in zip(rows, cols, strict=True))
    skipped_ours = sorted((day, symbol) for day, symbol, _ in engine.skipped)
    if skipped_ours != skipped_theirs:
        only_ours = sorted(set(skipped_ours) - set(skipped_theirs))[:5]
        only_theirs = sorted(set(skipped_theirs) - set(skipped_ours))[:5]
        pytest.fail(
            f"{name}: different buys skipped for want of cash: {len(skipped_ours)} (backtrader) vs "
            f"{len(skipped_theirs)} (package); first only in backtrader {only_ours}, only in the package {only_theirs}",
            pytrace=False,
        )
    print(f"{name}: the same {len(skipped_theirs)} buys skipped for want of cash (under the minimum)")
    return summary


@pytest.mark.parametrize(
    ("name", "min_trades"),
    [("golden_cross", 30), ("mean_reversion", 500), ("dual_momentum", 20), ("sector_rotation", 50)],
)
def test_the_package_backtest_makes_the_trades_an_independent_engine_makes(
    settings, market, strategies, name, min_trades
):
    package = run_backtest(strategies[name], market, settings.backtest, start=START, end=END)
    engine = bte.run(name, _bars(market), START)
    summary = _compare(name, package, engine)
    assert summary["trades"] >= min_trades  # eight years of this strategy trade at least this much
    assert package.equity.index[0].date() == START and package.equity.index[-1].date() == END


def test_a_missing_open_fills_at_that_sessions_close(settings, market, strategies):
    """Rule 4: dual momentum's first entry and first exit sessions lose their opens; both
    engines fill those orders at the session's close (with slippage) and still agree."""
    baseline = bte.run("dual_momentum", _bars(market), START)
    trade = baseline.trades[0]
    assert trade.exit_date is not None
    opens = market.open.copy()
    opens.loc[pd.Timestamp(trade.entry_date), trade.symbol] = np.nan
    opens.loc[pd.Timestamp(trade.exit_date), trade.symbol] = np.nan
    gappy = MarketData(open=opens, high=market.high, low=market.low, close=market.close, volume=market.volume)

    engine = bte.run("dual_momentum", _bars(gappy), START)
    package = run_backtest(strategies["dual_momentum"], gappy, settings.backtest, start=START, end=END)
    _compare("dual_momentum, two opens missing", package, engine)
    slip = settings.backtest.slippage_pct / 100
    first = engine.trades[0]
    assert (first.symbol, first.entry_date, first.exit_date) == (trade.symbol, trade.entry_date, trade.exit_date)
    assert first.entry_price == pytest.approx(
        market.close.at[pd.Timestamp(first.entry_date), first.symbol] * (1 + slip)
    )
    assert first.exit_price == pytest.approx(market.close.at[pd.Timestamp(first.exit_date), first.symbol] * (1 - slip))


def test_the_engine_refuses_what_it_cannot_model(market):
    bars = _bars(market)
    close = bars["close"].copy()
    close.loc["2019-03-04", "XLK"] = np.nan
    with pytest.raises(ValueError, match=r"missing closes, first on 2019-03-04 \(XLK\)"):
        bte.run("sector_rotation", bars | {"close": close}, START)
    with pytest.raises(ValueError, match="no bars for SPY"):
        bte.run("sector_rotation", {f: frame.drop(columns="SPY") for f, frame in bars.items()}, START)
    with pytest.raises(ValueError, match="unknown strategy 'momentum'"):
        bte.run("momentum", bars, START)
