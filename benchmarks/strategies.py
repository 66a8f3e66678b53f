"""Benchmark: all four strategies over the default universe (bundled data, 2016-2025)
plus their performance tracking, in one process.

Target (issue 3): <= 10 s with vectorbt warm, on the 2-core machine. The first pass
includes imports and any one-time compilation; the second is the warm figure.

    .venv/bin/python benchmarks/strategies.py
"""

from __future__ import annotations

from common import peak_rss_mb, timed

results: dict[str, float] = {}
with timed("import algotrading + vectorbt", results):
    from algotrading.backtest.engine import vectorbt
    from algotrading.backtest.walkforward import run_strategies
    from algotrading.config import load_settings
    from algotrading.data.bundled import BundledBarsProvider
    from algotrading.data.market import MarketData

    vbt = vectorbt()

settings = load_settings()
provider = BundledBarsProvider()
with timed("load bundled bars, reshape to wide frames", results):
    bars = provider.get_bars(settings.universe.all_symbols, provider.first_session(), provider.last_session())
    market = MarketData.from_bars(bars)
session = provider.last_session()
for label in ("first pass (cold)", "second pass (warm)", "third pass (warm)"):
    with timed(f"4 strategies + backtests + tracking, {label}", results):
        run = run_strategies(settings, market, session)
print(
    f"\n{len(market.symbols)} symbols x {len(market.dates)} sessions ({market.dates[0].date()} .. {session}), "
    f"engine={vbt.settings['engine']}; {len(run.signals)} signals on {session}"
)
warm = min(
    results["4 strategies + backtests + tracking, second pass (warm)"],
    results["4 strategies + backtests + tracking, third pass (warm)"],
)
print(f"RESULT strategies_warm_seconds={warm:.2f} peak_rss_mb={peak_rss_mb():.0f} target<=10s")
