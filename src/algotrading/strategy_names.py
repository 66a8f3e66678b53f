"""The strategies' names, in the registry's order (``algotrading.strategies.REGISTRY``
is built from the classes; tests/test_strategies.py keeps the two equal), and the error
for a name that is not one of them. Light to import: the command line refuses an unknown
strategy before it imports pandas and reads the settings (issue 17: <= 1 s)."""

from __future__ import annotations

from collections.abc import Iterable

STRATEGY_NAMES: tuple[str, ...] = ("golden_cross", "mean_reversion", "dual_momentum", "sector_rotation")


def unknown_strategies(names: Iterable[str]) -> str | None:
    """The problem with ``names`` that are not strategies (naming the strategies), or None."""
    unknown = [n for n in names if n not in STRATEGY_NAMES]
    if not unknown:
        return None
    return f"unknown strategy {', '.join(unknown)}: the strategies are {', '.join(STRATEGY_NAMES)}."
