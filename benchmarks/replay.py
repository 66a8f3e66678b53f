"""Benchmark: replay of the whole daily decision pipeline (issue 8).

1. 2016-06-01 .. 2025-12-31 on the default universe (bundled data). Target (issue 17):
   <= 25 s and <= 1 GB peak on the 2-core machine (issue 8 had <= 60 s and <= 2 GB).
2. How it grows with the number of sessions (1, 3 and 10 years ending 2025-12-31) and with
   the universe over 3 years: 50 symbols (the default 61 less 11 stocks), 100 and 200
   (extra synthetic stocks, each a real stock's bars scaled by its own random walk, added
   to the ``stocks`` group).

Each measurement runs in a fresh process, so peak RSS is its own.

    .venv/bin/python benchmarks/replay.py            # everything (about 8 minutes)
    .venv/bin/python benchmarks/replay.py --quick    # the 10-year figure only
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r'''
import datetime as dt, json, sys, time, resource, logging
from pathlib import Path
import numpy as np, pandas as pd
from algotrading.config import load_settings
from algotrading.data.bundled import BundledBarsProvider
from algotrading.replay import replay

start, end = dt.date.fromisoformat(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])
total, out = int(sys.argv[3]), Path(sys.argv[4])
logging.basicConfig(level=logging.WARNING)
settings = load_settings()
base = BundledBarsProvider()

class Synthetic:
    """The bundled bars plus synthetic stocks named <REAL>X<k>: the real stock's bars
    times exp(a random walk of 1% daily steps), deterministic per name."""
    name = "bundled+synthetic"
    def __init__(self, extra):
        self.extra = extra
    def unavailable(self, symbols):
        return {}
    def get_bars(self, symbols, first, last):
        real = [s for s in symbols if s not in self.extra]
        bars = base.get_bars(real + sorted({v for v in self.extra.values()}), first, last)
        parts = [bars[bars["symbol"].isin(real)]]
        for name, source in self.extra.items():
            b = bars[bars["symbol"] == source].copy()
            rng = np.random.default_rng(abs(hash(name)) % 2**32)
            walk = np.exp(np.cumsum(rng.normal(0, 0.01, len(b))))
            for col in ("open", "high", "low", "close"):
                b[col] = b[col].to_numpy() * walk
            b["symbol"] = name
            parts.append(b)
        return pd.concat(parts, ignore_index=True)

provider = None
universe = settings.universe
current = len(universe.all_symbols)
if total < current:  # fewer symbols: the last stocks dropped
    stocks = universe.groups["stocks"]
    groups = dict(universe.groups) | {"stocks": list(stocks)[: len(stocks) - (current - total)]}
    settings = settings.model_copy(update={"universe": universe.model_copy(update={"groups": groups})})
elif total > current:
    stocks = universe.groups["stocks"]
    extra = {
        f"{stocks[k % len(stocks)]}X{k // len(stocks) + 1}": stocks[k % len(stocks)] for k in range(total - current)
    }
    groups = dict(universe.groups) | {"stocks": list(stocks) + list(extra)}
    settings = settings.model_copy(update={"universe": universe.model_copy(update={"groups": groups})})
    provider = Synthetic(extra)
t = time.perf_counter()
result = replay(settings, start, end, out, provider=provider)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "sessions": result.sessions_done, "symbols": len(settings.universe.all_symbols),
                  "final_equity": result.final_equity,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
'''


def measure(start: str, end: str, symbols: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="algotrading-replay-bench-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, start, end, str(symbols), str(Path(tmp) / "out")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"replay {start}..{end} ({symbols} symbols) failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def show(label: str, r: dict) -> None:
    print(
        f"{label:<44} {r['sessions']:5d} sessions {r['symbols']:4d} symbols {r['seconds']:7.1f} s "
        f"{1000 * r['seconds'] / r['sessions']:6.1f} ms/session  peak RSS {r['peak_rss_mb']:6.0f} MB "
        f"(its worker {r['worker_peak_rss_mb']:4.0f} MB)  "
        f"final equity ${r['final_equity']:,.2f}",
        flush=True,
    )


def main() -> None:
    quick = "--quick" in sys.argv
    full = measure("2016-06-01", "2025-12-31", 61)
    show("2016-06-01 .. 2025-12-31, default universe", full)
    if not quick:
        for years, start in ((1, "2025-01-02"), (3, "2023-01-03")):
            show(f"{years} year(s) to 2025-12-31, default universe", measure(start, "2025-12-31", 61))
        for symbols in (50, 100, 200):
            show(f"3 years to 2025-12-31, {symbols} symbols", measure("2023-01-03", "2025-12-31", symbols))
        for symbols in (50, 61, 100, 200):  # one session: the daily run's computing, without notebooks
            show(f"1 session (2025-12-31), {symbols} symbols", measure("2025-12-31", "2025-12-31", symbols))
    print(
        f"RESULT replay_seconds={full['seconds']:.1f} peak_rss_mb={full['peak_rss_mb']:.0f} "
        f"worker_peak_rss_mb={full['worker_peak_rss_mb']:.0f} "
        f"together_mb={full['peak_rss_mb'] + full['worker_peak_rss_mb']:.0f} "
        "target<=25s <=1024MB (issue 17; issue 8 had 60 s, 2 GB) "
        f"({dt.date.today()})"
    )


if __name__ == "__main__":
    main()
