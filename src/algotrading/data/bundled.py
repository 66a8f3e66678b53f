"""The bundled demo prices: real adjusted daily bars shipped inside the package, so a
fresh clone runs with no keys and no network. Provenance: ``bundled/SOURCE.md``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from algotrading.data.bars import normalize_bars

BUNDLED_FILE = "prices.parquet"


def bundled_path() -> Path:
    """Location of the bundled Parquet file inside the installed package."""
    return Path(str(resources.files("algotrading.data") / "bundled" / BUNDLED_FILE))


@lru_cache(maxsize=1)
def _load_all() -> pd.DataFrame:
    path = bundled_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"bundled demo data {path} is missing: reinstall the package (./run_daily.sh does) "
            "or restore the file from the repository"
        )
    return normalize_bars(pd.read_parquet(path))


class BundledBarsProvider:
    """Serves bars from the bundled Parquet file (demo mode and tests)."""

    name = "bundled"

    def get_bars(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        data = _load_all()
        mask = data["symbol"].isin(list(symbols)) & data["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        return data.loc[mask].reset_index(drop=True)

    def unavailable(self, symbols: Sequence[str]) -> dict[str, str]:
        known = set(_load_all()["symbol"].unique())
        return {s: "not in the bundled demo data" for s in symbols if s not in known}

    def symbols(self) -> list[str]:
        """Every symbol in the bundled file."""
        return sorted(_load_all()["symbol"].unique())

    def last_session(self) -> dt.date:
        """The latest session the bundled data covers (demo mode's default run date)."""
        return _load_all()["date"].max().date()

    def first_session(self) -> dt.date:
        return _load_all()["date"].min().date()
