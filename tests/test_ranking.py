"""Ranking: the momentum score mapping, eligibility, one signal per symbol, the
correlation rule and deterministic order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from algotrading.decisions.ranking import SELECTED, correlated_clusters, momentum_score, rank_signals

from .planning import base_settings, buy


def signals(*rows) -> pd.DataFrame:
    from algotrading.backtest.walkforward import SIGNAL_COLUMNS

    return pd.DataFrame(list(rows), columns=SIGNAL_COLUMNS)


def corr(names, pairs=()) -> pd.DataFrame:
    m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for a, b, v in pairs:
        m.loc[a, b] = m.loc[b, a] = v
    return m


PARAMS = base_settings().ranking


@pytest.mark.parametrize(
    ("momentum", "threshold", "full", "expected"),
    [
        (0.05, 0.0, 0.10, 0.5),
        (-0.01, 0.0, 0.10, 0.0),
        (0.20, 0.0, 0.10, 1.0),
        (0.10, 0.05, 0.10, 0.5),
        (np.nan, 0.0, 0.1, 0.0),
    ],
)
def test_momentum_score_mapping(momentum, threshold, full, expected):
    assert momentum_score(momentum, threshold, full) == pytest.approx(expected)


def test_score_is_the_weighted_sum():
    r = rank_signals(
        signals(buy("AAA", "mean_reversion", 0.8)),
        pd.Series({"mean_reversion": 0.05}),
        corr(["mean_reversion"]),
        set(),
        PARAMS,
        4,
    )
    row = r.table.iloc[0]
    assert row["score"] == pytest.approx(0.5 * 0.8 + 0.5 * 0.5)
    assert (row["rank"], row["status"], row["reason"]) == (1, SELECTED, "top 4 by score")


def test_ineligible_held_and_unknown_momentum_are_rejected_with_reasons():
    s = signals(
        buy("AAA", "golden_cross"),
        buy("BBB", "mean_reversion"),
        buy("HELD", "mean_reversion"),
        buy("CCC", "dual_momentum"),
    )
    momentum = pd.Series({"golden_cross": -0.01, "mean_reversion": 0.04})
    r = rank_signals(s, momentum, corr(["golden_cross", "mean_reversion"]), {"HELD"}, PARAMS, 4)
    reasons = dict(zip(r.table["symbol"], r.table["reason"], strict=True))
    assert reasons["AAA"] == "golden_cross momentum -1.0% is not above the threshold +0.0%"
    assert reasons["HELD"] == "already held or ordered: HELD is in the portfolio or has an open order (no adding)"
    assert reasons["CCC"] == "dual_momentum has no momentum yet (not enough equity history)"
    assert list(r.selected["symbol"]) == ["BBB"]
    assert r.table.set_index("symbol").loc["AAA", "rank"] == 0
    rules = dict(zip(r.table["symbol"], r.table["rule"], strict=True))  # what replay counts
    assert rules == {"BBB": "selected", "AAA": "momentum_filter", "HELD": "held_or_ordered", "CCC": "no_momentum"}


def test_correlated_strategies_may_not_fill_every_slot():
    names = ["golden_cross", "sector_rotation", "mean_reversion"]
    c = corr(names, [("golden_cross", "sector_rotation", 0.86)])
    s = signals(
        buy("G1", "golden_cross", 0.95),
        buy("G2", "golden_cross", 0.94),
        buy("S1", "sector_rotation", 0.93),
        buy("S2", "sector_rotation", 0.92),
        buy("M1", "mean_reversion", 0.10),
    )
    momentum = pd.Series(dict.fromkeys(names, 0.05))
    r = rank_signals(s, momentum, c, set(), PARAMS, 4)
    assert r.clusters == (("golden_cross", "sector_rotation"),)
    assert list(r.selected["symbol"]) == ["G1", "G2", "S1", "M1"]
    s2 = r.table.set_index("symbol").loc["S2"]
    assert s2["status"] == "ranked"
    assert (
        s2["reason"]
        == "passed over: correlated strategies (golden_cross/sector_rotation 0.86) may not fill all 4 slots"
    )
    assert s2["rule"] == "correlation_cap"
    # with no signal from another strategy, the correlated ones do fill the slots
    r = rank_signals(s.iloc[:4], momentum, c, set(), PARAMS, 4)
    assert list(r.selected["symbol"]) == ["G1", "G2", "S1", "S2"]


def test_a_single_strategy_is_not_a_correlated_group():
    s = signals(*[buy(f"M{i}", "mean_reversion", 0.9 - i / 100) for i in range(5)], buy("G1", "golden_cross", 0.1))
    r = rank_signals(
        s,
        pd.Series({"mean_reversion": 0.05, "golden_cross": 0.05}),
        corr(["mean_reversion", "golden_cross"]),
        set(),
        PARAMS,
        4,
    )
    assert list(r.selected["symbol"]) == ["M0", "M1", "M2", "M3"]


def test_ties_are_broken_by_symbol_then_strategy_whatever_the_input_order():
    rows = [buy(x, "mean_reversion", 0.7) for x in ("DDD", "BBB", "CCC", "AAA", "EEE")]
    momentum = pd.Series({"mean_reversion": 0.05})
    first = rank_signals(signals(*rows), momentum, corr(["mean_reversion"]), set(), PARAMS, 4)
    second = rank_signals(signals(*reversed(rows)), momentum, corr(["mean_reversion"]), set(), PARAMS, 4)
    assert list(first.table["symbol"]) == ["AAA", "BBB", "CCC", "DDD", "EEE"]
    pd.testing.assert_frame_equal(first.table, second.table)


def test_clusters_are_connected_groups():
    names = ["a", "b", "c", "d"]
    c = corr(names, [("a", "b", 0.9), ("b", "c", 0.85), ("c", "d", 0.5)])
    assert correlated_clusters(c, 0.8) == (("a", "b", "c"),)
    assert correlated_clusters(c, 0.95) == ()


def test_the_rows_the_plan_reads_equal_the_rows_of_the_table_written_to_the_run_folder():
    """rank_signals keeps its rows and builds the table only when read (the replay never
    reads it): both say the same, value for value and type for type."""
    from algotrading.decisions.ranking import Ranking
    from algotrading.decisions.rows import rows as table_rows

    s = signals(
        *[buy(f"M{i}", "mean_reversion", 0.9 - i / 100) for i in range(5)],
        buy("M1", "golden_cross", 0.95),
        buy("N1", "rsi_reversal", 0.6),
    )
    momentum = pd.Series({"mean_reversion": 0.05, "golden_cross": 0.02, "rsi_reversal": np.nan})
    r = rank_signals(s, momentum, corr(["mean_reversion", "golden_cross", "rsi_reversal"]), {"M4"}, PARAMS, 4)
    back = Ranking(r.table, r.clusters)
    assert r.table["rank"].dtype == "int64"
    assert [tuple(map(repr, x)) for x in r.rows] == [tuple(map(repr, x)) for x in table_rows(back.table)]
    assert [tuple(map(type, x)) for x in r.rows] == [tuple(map(type, x)) for x in back.rows]
    assert [x.symbol for x in r.selected_rows] == list(r.selected["symbol"]) == list(back.selected["symbol"])
    empty = rank_signals(signals(), momentum, corr(["mean_reversion"]), set(), PARAMS, 4)
    assert empty.rows == [] and list(empty.table.columns) == list(r.table.columns) and empty.table.empty
