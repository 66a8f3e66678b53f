"""A small table's rows as named tuples, fast.

The decision steps walk tables of a few dozen rows (the session's signals, the ranking)
every session, and a replay asks them thousands of times. ``DataFrame.itertuples`` pays
for a new named-tuple class, a Series per column and element-wise iteration of Arrow
string columns on each call; this reads each column once as a Python list (the same
Python scalars ``itertuples`` gives) and reuses one class per set of column names.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import pandas as pd


@lru_cache(maxsize=64)
def row_type(columns: tuple[str, ...]) -> Any:
    """The named-tuple class of rows with these fields (one per set of fields)."""
    return namedtuple("Row", columns, rename=True)  # noqa: PYI024 - fields are the table's own


def rows(frame: pd.DataFrame | Sequence[Any]) -> list[Any]:
    """The rows of ``frame`` as named tuples whose fields are its columns (no index);
    rows already made (a sequence of them) are returned as they are."""
    if not isinstance(frame, pd.DataFrame):
        return list(frame)
    if frame.empty:
        return []
    if not frame.columns.is_unique:  # a column label names one column only
        return list(frame.itertuples(index=False))
    make = row_type(tuple(str(c) for c in frame.columns))._make
    return [make(values) for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True)]
