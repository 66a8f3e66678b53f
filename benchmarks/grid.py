"""Benchmark: Golden Cross window sweeps (fast x slow) over the default universe, bundled
data 2016-2025, of 100 and 400 combinations: in one process (the baseline), and on a
local Dask cluster of 1 and of 2 worker processes (issue 18, point 3).

Each configuration runs in a fresh Python process, so its peak memory is its own: the
process's peak RSS in-process; each worker's peak RSS (``ru_maxrss``, read in the worker)
on Dask. A warm-up sweep first (2 x 2, on every worker) keeps vectorbt's import out of
the timings. Every table is checked equal to the in-process one. CPU seconds (user +
system, over the workers) are printed beside wall time: on a shared machine the wall time
also counts other programs' turns on the cores.

    .venv/bin/python benchmarks/grid.py                 # all six, about 5 minutes on 2 cores
    .venv/bin/python benchmarks/grid.py --one 2 100     # one configuration: workers (0: in-process), size
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = dt.date(2017, 1, 3)
GRIDS = {
    100: {"fast_window": list(range(10, 101, 10)), "slow_window": list(range(100, 281, 20))},
    400: {"fast_window": list(range(5, 101, 5)), "slow_window": list(range(100, 291, 10))},
}
WARM_UP = {"fast_window": [20, 50], "slow_window": [100, 200]}
WORKERS = (0, 1, 2)  # 0: in-process (engine.sweep), the baseline


def worker_peak_mb() -> float:
    """This process's peak RSS in MB (run in each worker by ``client.run``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time (user + system) this process used so far: unlike wall time, not inflated
    by other programs sharing the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(workers: int, size: int, table_path: Path) -> dict[str, object]:
    """One configuration in this process: seconds of the sweep and peak MB per process."""
    from algotrading.backtest.engine import sweep, vectorbt
    from algotrading.backtest.grid import grid_sweep, open_client
    from algotrading.config import load_settings
    from algotrading.data.bundled import BundledBarsProvider
    from algotrading.data.market import MarketData
    from algotrading.strategies import load_strategies

    settings = load_settings()
    provider = BundledBarsProvider()
    bars = provider.get_bars(settings.universe.all_symbols, provider.first_session(), provider.last_session())
    market = MarketData.from_bars(bars)
    (gc,) = load_strategies(settings, ["golden_cross"])
    if workers == 0:
        vectorbt()
        sweep(gc, market, WARM_UP, settings.backtest, start=START)
        cpu, started = cpu_seconds(), time.perf_counter()
        table = sweep(gc, market, GRIDS[size], settings.backtest, start=START)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
        peaks = [worker_peak_mb()]
    else:
        with open_client(workers=workers) as client:
            grid_sweep(client, gc, market, WARM_UP, settings.backtest, start=START)
            cpu, started = sum(client.run(cpu_seconds).values()), time.perf_counter()
            table = grid_sweep(client, gc, market, GRIDS[size], settings.backtest, start=START)
            seconds = time.perf_counter() - started
            cpu = sum(client.run(cpu_seconds).values()) - cpu
            peaks = list(client.run(worker_peak_mb).values())
    table.to_pickle(table_path)
    return {
        "workers": workers,
        "size": size,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_mb": peaks,
        "client_mb": worker_peak_mb(),
    }


def label(workers: int) -> str:
    return "in-process" if workers == 0 else f"{workers} Dask worker{'s' if workers > 1 else ''}"


def main() -> None:
    import pandas as pd

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in GRIDS:
            for workers in WORKERS:
                table = Path(tmp) / f"{size}-{workers}.pkl"
                done = subprocess.run(
                    [sys.executable, __file__, "--one", str(workers), str(size), "--table", str(table)],
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    sys.exit(f"{size} combinations on {label(workers)} failed:\n{done.stderr[-3000:]}")
                line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
                result = json.loads(line.removeprefix("RESULT "))
                base = next((r for r in results if r["size"] == size and r["workers"] == 0), result)
                result["speed_up"] = base["seconds"] / result["seconds"]
                pd.testing.assert_frame_equal(pd.read_pickle(table), pd.read_pickle(Path(tmp) / f"{size}-0.pkl"))
                results.append(result)
                peaks = ", ".join(f"{p:.0f}" for p in result["peak_mb"])
                print(
                    f"{size:>4} combinations  {label(workers):<15} {result['seconds']:7.2f} s  "
                    f"speed-up {result['speed_up']:4.2f}x  CPU {result['cpu_seconds']:6.1f} s  "
                    f"peak MB per {'process' if workers == 0 else 'worker'}: "
                    f"{peaks}" + (f" (client {result['client_mb']:.0f})" if workers else ""),
                    flush=True,
                )
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; every table equal")
    for r in results:
        print(
            f"RESULT grid size={r['size']} workers={r['workers']} seconds={r['seconds']:.2f} "
            f"speed_up={r['speed_up']:.2f} cpu_seconds={r['cpu_seconds']:.1f} "
            f"peak_mb_per_worker={max(r['peak_mb']):.0f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, type=int, metavar=("WORKERS", "SIZE"), help="run one configuration")
    parser.add_argument("--table", type=Path, help="with --one: where to write its table (a pickle)")
    args = parser.parse_args()
    if args.one:
        out = run_one(*args.one, args.table or Path(tempfile.mkdtemp()) / "table.pkl")
        print("RESULT " + json.dumps(out), flush=True)
    else:
        main()
