"""Benchmark: how long the command line makes a user wait (issue 17), each command a fresh
process, timed end to end (interpreter start, imports, the work, exit):

- ``algotrading --help`` and a usage error (an unknown strategy, refused from the light
  list of names before the settings and pandas load; a bad date, which argparse finds):
  target <= 1 s each;
- ``algotrading backtest --strategy golden_cross`` (2018-01-02 .. 2025-12-31, bundled
  data): target <= 3 s on a warm machine (numba cache and page cache warm).

Each command runs once to warm the caches, then ``--runs`` times (default 5); the figures
are the minimum and the median.

    .venv/bin/python benchmarks/cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("algotrading"))

CASES = [
    ("algotrading --help", [CLI, "--help"], 0, 1.0),
    ("algotrading daily --date 2025-13-01 (argparse error)", [CLI, "daily", "--date", "2025-13-01"], 2, 1.0),
    ("algotrading backtest --strategy nope (usage error)", [CLI, "backtest", "--strategy", "nope"], 2, 1.0),
    (
        "algotrading backtest --strategy golden_cross (2018-2025)",
        [CLI, "backtest", "--strategy", "golden_cross", "--start", "2018-01-02", "--end", "2025-12-31"],
        0,
        3.0,
    ),
]


def timed(argv: list[str], expected: int) -> float:
    env = os.environ | {"ALGOTRADING_ENV_FILE": "", "NUMBA_CACHE_DIR": str(ROOT / "state" / "numba-cache")}
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != expected:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}, expected {expected}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for label, argv, expected, target in CASES:
        timed(argv, expected)  # warm-up
        runs = [timed(argv, expected) for _ in range(args.runs)]
        print(
            f"RESULT {label:<56} min {min(runs):5.2f} s  median {statistics.median(runs):5.2f} s  "
            f"max {max(runs):5.2f} s   target <= {target:g} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
