"""Benchmark: a 10 x 10 Golden Cross window sweep (fast x slow) over the default universe,
bundled data 2016-2025, in one process.

Target (issue 3): <= 30 s and <= 4 GB peak memory on the 2-core machine.

    .venv/bin/python benchmarks/sweep.py
"""

from __future__ import annotations

import datetime as dt

from common import peak_rss_mb, timed

results: dict[str, float] = {}
with timed("import algotrading + vectorbt", results):
    from algotrading.backtest.engine import sweep, vectorbt
    from algotrading.config import load_settings
    from algotrading.data.bundled import BundledBarsProvider
    from algotrading.data.market import MarketData
    from algotrading.strategies import load_strategies

    vectorbt()

settings = load_settings()
provider = BundledBarsProvider()
bars = provider.get_bars(settings.universe.all_symbols, provider.first_session(), provider.last_session())
market = MarketData.from_bars(bars)
(gc,) = load_strategies(settings, ["golden_cross"])
grid = {
    "fast_window": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    "slow_window": [100, 120, 140, 160, 180, 200, 220, 240, 260, 280],
}
with timed("warm-up sweep 2 x 2", results):
    sweep(
        gc, market, {"fast_window": [20, 50], "slow_window": [100, 200]}, settings.backtest, start=dt.date(2017, 1, 3)
    )
with timed("sweep 10 x 10 (100 combinations x 60 symbols)", results):
    table = sweep(gc, market, grid, settings.backtest, start=dt.date(2017, 1, 3))
best = table.sort_values("sharpe", ascending=False).iloc[0]
print(
    f"\nbest Sharpe {best['sharpe']:.2f} at fast={best['fast_window']}, slow={best['slow_window']}; "
    f"SMA 50/200: {table.set_index(['fast_window', 'slow_window']).loc[(50, 200), 'sharpe']:.2f}"
)
print(
    f"RESULT sweep_seconds={results['sweep 10 x 10 (100 combinations x 60 symbols)']:.2f} "
    f"peak_rss_mb={peak_rss_mb():.0f} target<=30s,<=4096MB"
)
