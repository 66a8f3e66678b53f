"""How money and ratios read in the report and the email: $1,234.56 and -$12.34
(+$162.40 when signed), percentages as percentages, and n/a for what is not known."""

from __future__ import annotations

import math
from typing import Any


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: Any, signed: bool = False, missing: str = "n/a") -> str:
    """``-$12.34``, ``$1,234.56``; with ``signed`` also ``+$162.40``."""
    if _missing(value):
        return missing
    value = float(value)
    sign = "-" if value < 0 else "+" if signed and value > 0 else ""
    return f"{sign}${abs(value):,.2f}"


def pct(value: Any, signed: bool = False, digits: int = 2, missing: str = "n/a") -> str:
    """A fraction as a percentage: 0.0123 -> ``1.23%`` (``+1.23%`` signed)."""
    if _missing(value):
        return missing
    return f"{float(value):+.{digits}%}" if signed else f"{float(value):.{digits}%}"


def source_notes(sources: dict[str, str], notes: dict[str, str], volatility_index: str | None) -> list[str]:
    """One line per (source, reason) for the symbols that did not come from the first
    choice, e.g. an Alpaca outage served by Yahoo. The volatility index always comes from
    the fallback (Alpaca has no index data): not news."""
    groups: dict[tuple[str, str], list[str]] = {}
    for symbol, note in notes.items():
        if note and symbol != volatility_index and sources.get(symbol):
            groups.setdefault((sources[symbol], note), []).append(symbol)
    lines = []
    for (source, note), symbols in groups.items():
        named = ", ".join(symbols[:5]) + (", ..." if len(symbols) > 5 else "")
        lines.append(f"{len(symbols)} symbol(s) from {source} ({named}): {note}")
    return lines
