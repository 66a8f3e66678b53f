"""Build the bundled demo prices and the test fixtures from the shared raw data.

This is a maintainer tool: it is run by hand when the bundled data must change, never at
run or test time. It reads the shared price files (see their SOURCE.md), keeps the
symbols of ``params/universe.yaml`` plus the benchmark and the volatility index for
2016-01-01 .. 2025-12-31, and writes

* ``src/algotrading/data/bundled/prices.parquet`` (long format, see ``algotrading.data.bars``)
* ``tests/fixtures/raw_split_windows.csv.gz``: the unadjusted-price rows around every
  split in the raw Alpha Vantage file, for the split-detection test.

Usage::

    python scripts/build_bundled_data.py /path/to/shared/data/prices
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
START, END = "2016-01-01", "2025-12-31"
WINDOW = 25  # rows kept on each side of a split for the test fixture


def universe_symbols() -> list[str]:
    """All symbols the default universe needs (groups, benchmark, volatility index)."""
    doc = yaml.safe_load((ROOT / "params" / "universe.yaml").read_text())
    symbols = [s for group in doc["groups"].values() for s in group]
    symbols += [doc["benchmark"], doc["volatility_index"]]
    return sorted(set(symbols))


def build_prices(src: Path) -> pd.DataFrame:
    """Keep the universe's rows for the bundled date range, typed as the package expects."""
    frames = [
        pd.read_csv(src / "us_equity_etf_daily.csv.gz", parse_dates=["date"]),
        pd.read_csv(src / "us_indices_daily.csv.gz", parse_dates=["date"]),
    ]
    bars = pd.concat(frames, ignore_index=True)
    wanted = universe_symbols()
    missing = sorted(set(wanted) - set(bars["symbol"]))
    if missing:
        raise SystemExit(f"symbols not in the shared data: {missing}")
    bars = bars[bars["symbol"].isin(wanted) & bars["date"].between(START, END)]
    bars = bars[["symbol", "date", "open", "high", "low", "close", "volume"]]
    bars["date"] = bars["date"].astype("datetime64[ns]")
    bars["volume"] = bars["volume"].astype("float64")
    return bars.sort_values(["symbol", "date"]).reset_index(drop=True)


def build_split_fixture(src: Path) -> pd.DataFrame:
    """The rows around each split of the raw (unadjusted) file, one window per split.

    ``window`` names the split (``SYMBOL@YYYY-MM-DD``); two close splits of one symbol
    share rows, each window holding its own copy, so a test can check windows one by one.
    """
    raw = pd.read_csv(src / "us_stocks_raw_with_adjclose_1999_2021.csv.gz", parse_dates=["date"])
    raw = raw.sort_values(["symbol", "date"]).reset_index(drop=True)
    windows = []
    for idx in raw.index[raw["split_factor"] != 1.0]:
        rows = raw.iloc[max(idx - WINDOW, 0) : idx + WINDOW]
        rows = rows[rows["symbol"] == raw.at[idx, "symbol"]]
        windows.append(rows.assign(window=f"{raw.at[idx, 'symbol']}@{raw.at[idx, 'date'].date()}"))
    out = pd.concat(windows, ignore_index=True)
    return out[["window", "symbol", "date", "open", "high", "low", "close", "volume", "split_factor"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_prices", type=Path)
    args = parser.parse_args()

    prices = build_prices(args.shared_prices)
    out = ROOT / "src" / "algotrading" / "data" / "bundled" / "prices.parquet"
    prices.to_parquet(out, index=False, compression="zstd", compression_level=19)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(
        f"{out.relative_to(ROOT)}: {len(prices)} rows, {prices['symbol'].nunique()} symbols, "
        f"{prices['date'].min().date()}..{prices['date'].max().date()}, "
        f"{out.stat().st_size / 1e6:.2f} MB, sha256 {digest}"
    )

    fixture = build_split_fixture(args.shared_prices)
    fx = ROOT / "tests" / "fixtures" / "raw_split_windows.csv.gz"
    fixture.to_csv(fx, index=False, float_format="%.7g")
    print(
        f"{fx.relative_to(ROOT)}: {len(fixture)} rows in {fixture['window'].nunique()} windows, "
        f"{fx.stat().st_size / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    main()
