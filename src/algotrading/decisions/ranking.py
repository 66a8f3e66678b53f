"""Signal ranking (Requirement 3.1, DESIGN §5).

For each BUY signal of the session:

1. its strategy must be eligible: momentum > ``MIN_MOMENTUM_THRESHOLD``;
2. momentum score = clip((momentum - threshold) / ``momentum_full_score``, 0, 1): 0 at
   the threshold, 1 at ``momentum_full_score`` above it (default 0.10: a strategy whose
   equity rose 10% more than the threshold in 90 days scores 1), linear in between;
3. score = ``CONFIDENCE_WEIGHT`` x confidence + ``MOMENTUM_WEIGHT`` x momentum score;
4. one signal per symbol: the best score wins, the others are listed as agreeing;
   a symbol already held is not a candidate (no adding to positions);
5. order by score, then confidence, then momentum, then symbol and strategy name (so
   the result never depends on input order), and take the top ``MAX_POSITIONS``, except
   that strategies correlated above ``max_correlation`` with each other may not fill
   every slot while a signal from another strategy is available.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from algotrading.config import RankingParams
from algotrading.decisions.rows import row_type
from algotrading.decisions.rows import rows as table_rows

SELECTED, RANKED, REJECTED = "selected", "ranked", "rejected"
#: ``rule``: the ranking rule behind the status (held_or_ordered, no_momentum, momentum_filter,
#: one_per_symbol, correlation_cap, top_n; "selected" for the chosen ones), for counting.
COLUMNS = [
    "rank",
    "symbol",
    "strategy",
    "confidence",
    "momentum",
    "momentum_score",
    "score",
    "status",
    "agreeing",
    "reason",
    "rule",
]


class Ranking:
    """Every BUY signal with its score and what ranking decided about it.

    Made from its ``table`` (COLUMNS, selected first in rank order, then the rest; e.g.
    read back from a run folder) or from its ``rows`` (what :func:`rank_signals` makes):
    each form is built from the other only when first asked for. The plan and the replay
    read only the rows, so a replay builds no table (a DataFrame of Arrow strings per
    session cost more than the ranking itself)."""

    def __init__(
        self,
        table: pd.DataFrame | None,
        clusters: tuple[tuple[str, ...], ...],
        rows: Sequence[Any] | None = None,
    ) -> None:
        if table is None and rows is None:
            raise ValueError("a Ranking needs its table or its rows")
        self._table = table
        self._rows = None if rows is None else list(rows)
        self.clusters = clusters  # groups of strategies correlated above the limit

    @property
    def table(self) -> pd.DataFrame:
        """COLUMNS, selected first in rank order, then the rest."""
        if self._table is None:
            assert self._rows is not None  # one of the two is always given
            self._table = _table(self._rows)
        return self._table

    @cached_property
    def selected(self) -> pd.DataFrame:
        return self.table[self.table["status"] == SELECTED]

    @cached_property
    def rows(self) -> list[Any]:
        """The table's rows as named tuples (made once: the plan walks them twice)."""
        return self._rows if self._rows is not None else table_rows(self.table)

    @cached_property
    def selected_rows(self) -> list[Any]:
        """The selected rows, in rank order (the rows of :attr:`selected`)."""
        return [r for r in self.rows if r.status == SELECTED]


def _table(rows: list[Any]) -> pd.DataFrame:
    """The ranking's table from its rows (named tuples whose fields are COLUMNS)."""
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    columns: dict[str, Any] = {c: [getattr(r, c) for r in rows] for c in COLUMNS}
    columns["rank"] = np.asarray(columns["rank"], dtype="int64")
    return pd.DataFrame(columns)


def momentum_score(momentum: float, threshold: float, full_score: float) -> float:
    """Map momentum onto [0, 1] (see the module docstring); NaN momentum scores 0."""
    if momentum is None or np.isnan(momentum):
        return 0.0
    return float(min(max((momentum - threshold) / full_score, 0.0), 1.0))


def correlated_clusters(correlation: pd.DataFrame, limit: float) -> tuple[tuple[str, ...], ...]:
    """Groups (2 or more) of strategies linked by correlations above ``limit``.

    The values are read by position from one array (a replay asks this every session,
    and ``DataFrame.at`` cost more than the whole grouping)."""
    names = list(correlation.index)
    values = correlation.to_numpy()
    column = {c: j for j, c in enumerate(correlation.columns)}
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            j = column.get(b)
            value = values[i, j] if j is not None else np.nan
            if pd.notna(value) and value > limit:
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(root(n), []).append(n)
    return tuple(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def rank_signals(
    signals: pd.DataFrame | Sequence[Any],
    momentum: pd.Series,
    correlation: pd.DataFrame,
    held: set[str],
    params: RankingParams,
    top_n: int,
) -> Ranking:
    """Rank the session's BUY signals (see the module docstring). ``signals``: the
    session's signal table, or its rows (:func:`~algotrading.decisions.rows.rows`)."""
    threshold = params.min_momentum_threshold
    rows: list[dict[str, Any]] = []
    for s in table_rows(signals):
        if s.action != "BUY":
            continue
        m = float(momentum.get(s.strategy, np.nan))
        ms = momentum_score(m, threshold, params.momentum_full_score)
        score = params.confidence_weight * float(s.confidence) + params.momentum_weight * ms
        rows.append(
            {
                "symbol": s.symbol,
                "strategy": s.strategy,
                "confidence": float(s.confidence),
                "momentum": m,
                "momentum_score": ms,
                "score": score,
                "status": RANKED,
                "agreeing": "",
                "reason": "",
                "rule": "",
            }
        )
    rows.sort(
        key=lambda r: (
            -r["score"],
            -r["confidence"],
            -r["momentum"] if r["momentum"] == r["momentum"] else np.inf,
            r["symbol"],
            r["strategy"],
        )
    )
    for r in rows:
        if r["symbol"] in held:
            _reject(
                r,
                "held_or_ordered",
                f"already held or ordered: {r['symbol']} is in the portfolio or has an open order (no adding)",
            )
        elif np.isnan(r["momentum"]):
            _reject(r, "no_momentum", f"{r['strategy']} has no momentum yet (not enough equity history)")
        elif not r["momentum"] > threshold:
            _reject(
                r,
                "momentum_filter",
                f"{r['strategy']} momentum {r['momentum']:+.1%} is not above the threshold {threshold:+.1%}",
            )
    _one_per_symbol(rows)
    clusters = correlated_clusters(correlation, params.max_correlation)
    _select(rows, clusters, correlation, top_n)
    order = {SELECTED: 0, RANKED: 1, REJECTED: 2}
    rows.sort(key=lambda r: order[r["status"]])  # stable: rank order within each status
    rank = 0
    for r in rows:
        rank = rank + 1 if r["status"] != REJECTED else rank
        r["rank"] = rank if r["status"] != REJECTED else 0
    make = row_type(tuple(COLUMNS))._make
    return Ranking(None, clusters, [make([r[c] for c in COLUMNS]) for r in rows])


def _reject(row: dict[str, Any], rule: str, reason: str) -> None:
    row["status"] = REJECTED
    row["rule"] = rule
    row["reason"] = reason


def _one_per_symbol(rows: list[dict[str, Any]]) -> None:
    """Keep the best-ranked live signal per symbol; the others agree with it."""
    best: dict[str, dict[str, Any]] = {}
    for r in rows:  # in rank order
        if r["status"] == REJECTED:
            continue
        winner = best.setdefault(r["symbol"], r)
        if winner is r:
            continue
        winner["agreeing"] = ", ".join(x for x in (winner["agreeing"], r["strategy"]) if x)
        _reject(
            r,
            "one_per_symbol",
            f"{winner['strategy']}'s signal for {r['symbol']} ranks higher "
            f"(score {winner['score']:.3f} vs {r['score']:.3f}); counted as agreeing",
        )


def _select(
    rows: list[dict[str, Any]], clusters: tuple[tuple[str, ...], ...], correlation: pd.DataFrame, top_n: int
) -> None:
    cluster_of = {name: c for c in clusters for name in c}
    live = [r for r in rows if r["status"] != REJECTED]
    chosen: list[dict[str, Any]] = []
    for pos, r in enumerate(live):
        if len(chosen) == top_n:
            r["rule"], r["reason"] = "top_n", f"below the top {top_n}"
            continue
        cluster = cluster_of.get(r["strategy"])
        fills_all = (
            cluster is not None
            and len(chosen) == top_n - 1
            and all(cluster_of.get(c["strategy"]) == cluster for c in chosen)
        )
        alternative = any(cluster_of.get(o["strategy"]) != cluster for o in live[pos + 1 :])
        if fills_all and alternative:
            assert cluster is not None  # fills_all requires a cluster
            pairs = [f"{a}/{b} {correlation.at[a, b]:.2f}" for k, a in enumerate(cluster) for b in cluster[k + 1 :]]
            r["rule"] = "correlation_cap"
            r["reason"] = f"passed over: correlated strategies ({', '.join(pairs)}) may not fill all {top_n} slots"
            continue
        chosen.append(r)
        r["status"] = SELECTED
        r["rule"], r["reason"] = "selected", f"top {top_n} by score"
