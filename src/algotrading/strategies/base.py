"""What every strategy is: a name, a validated parameter model, and one method that turns
prices into signal frames (DESIGN §4).

A strategy computes, for every symbol and session at once, whether its entry rule fires
(BUY, with a confidence in [0, 1]), whether its exit rule holds (SELL), and the stop and
target levels a position opened that day would carry. The backtest and the daily run
read the same frames, so what is tested is what trades. Position-dependent exits (a
stop, a target, a maximum holding time) are applied to positions by
``algotrading.backtest.book`` and, for real holdings, by the risk rules.
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from algotrading import calendar as cal
from algotrading.config import Universe
from algotrading.data.market import MarketData


class StrategyUnavailable(RuntimeError):
    """A strategy cannot run on this session's data (e.g. its benchmark was excluded)."""


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class StrategyParams(BaseModel):
    """Parameters every strategy has; each strategy adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(description="true or false")
    position_fraction: float = Field(
        gt=0, le=1, description="fraction of the strategy's capital per position in its backtest, e.g. 0.25"
    )
    stop_loss_pct: float | None = Field(gt=0, lt=100, description="a percent below the entry close, or null")
    take_profit_pct: float | None = Field(gt=0, description="a percent above the entry close, or null")


class GroupStrategyParams(StrategyParams):
    """Parameters of a strategy that trades whole universe groups."""

    groups: list[str] = Field(description="universe groups traded, e.g. [stocks, broad_etfs]")


@dataclass(frozen=True)
class Signal:
    """One strategy's view of one symbol on one session."""

    session: dt.date
    symbol: str
    strategy: str
    action: Action
    confidence: float
    price: float  # the session's close
    reason: str
    stop_price: float | None = None
    target_price: float | None = None
    fresh: bool = True  # for SELL: the exit condition became true within the last sessions
    facts: Mapping[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "symbol": self.symbol,
            "strategy": self.strategy,
            "action": self.action.value,
            "confidence": self.confidence,
            "price": self.price,
            "stop_price": self.stop_price,
            "target_price": self.target_price,
            "fresh": self.fresh,
            "reason": self.reason,
            "facts": dict(self.facts),
        }


@dataclass(frozen=True)
class SignalFrames:
    """A strategy's rules evaluated on every session (rows) and symbol (columns).

    ``entry``/``exit`` are booleans; ``confidence`` is the BUY confidence (NaN where no
    entry); ``stop``/``target`` are price levels for a position opened at that row's
    close (None when the strategy has none); ``max_hold`` caps a position's life in
    sessions; ``exit_fresh`` marks exits whose condition newly became true (the report
    lists those; a held position is sold whenever ``exit`` holds); ``facts`` are the
    named frames that explain a signal.
    """

    strategy: str
    entry: pd.DataFrame
    exit: pd.DataFrame
    confidence: pd.DataFrame
    exit_fresh: pd.DataFrame
    stop: pd.DataFrame | None = None
    target: pd.DataFrame | None = None
    max_hold: int | None = None
    facts: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        return list(self.entry.columns)

    @cached_property
    def grid(self) -> FrameGrid:
        """The frames as arrays addressed by row and column position, made once."""
        return FrameGrid.of(self)

    def upto(self, day: dt.date | pd.Timestamp) -> SignalFrames:
        return self.between(None, day)

    def between(self, first: dt.date | pd.Timestamp | None, last: dt.date | pd.Timestamp) -> SignalFrames:
        """The rows from ``first`` (None: the beginning) to ``last``, both included."""
        lo, end = (pd.Timestamp(first) if first is not None else None), pd.Timestamp(last)

        def cut(frame: pd.DataFrame | None) -> pd.DataFrame | None:
            return None if frame is None else frame.loc[lo:end]

        return SignalFrames(
            strategy=self.strategy,
            entry=self.entry.loc[lo:end],
            exit=self.exit.loc[lo:end],
            confidence=self.confidence.loc[lo:end],
            exit_fresh=self.exit_fresh.loc[lo:end],
            stop=cut(self.stop),
            target=cut(self.target),
            max_hold=self.max_hold,
            facts={k: v.loc[lo:end] for k, v in self.facts.items()},
        )


@dataclass(frozen=True)
class FrameGrid:
    """:class:`SignalFrames` as plain arrays: ``rows`` maps a session to its row, the
    other arrays are rows x ``symbols`` (the entry frame's columns, which the other frames
    share); each fact is its values and its own columns' positions."""

    rows: dict[pd.Timestamp, int]
    symbols: list[str]
    entry: np.ndarray
    exit: np.ndarray
    confidence: np.ndarray
    exit_fresh: np.ndarray
    stop: np.ndarray | None
    target: np.ndarray | None
    facts: dict[str, tuple[np.ndarray, dict[str, int]]]

    @classmethod
    def of(cls, frames: SignalFrames) -> FrameGrid:
        symbols, index = frames.symbols, frames.entry.index

        def aligned(frame: pd.DataFrame, columns: list[str] | None = None, dtype: Any = None) -> np.ndarray:
            """``frame`` on the entry frame's rows (and ``columns``, when given), as an array."""
            wanted = list(frame.columns) if columns is None else columns
            same = list(frame.columns) == wanted and frame.index.equals(index)
            return (frame if same else frame.reindex(index=index, columns=wanted)).to_numpy(dtype=dtype)

        def optional(frame: pd.DataFrame | None) -> np.ndarray | None:
            return None if frame is None else aligned(frame, symbols)

        facts = {
            name: (aligned(frame), {c: k for k, c in enumerate(frame.columns)}) for name, frame in frames.facts.items()
        }
        return cls(
            rows={ts: k for k, ts in enumerate(index)},
            symbols=symbols,
            entry=aligned(frames.entry, symbols, bool),
            exit=aligned(frames.exit, symbols, bool),
            confidence=aligned(frames.confidence, symbols),
            exit_fresh=aligned(frames.exit_fresh, symbols),
            stop=optional(frames.stop),
            target=optional(frames.target),
            facts=facts,
        )


def _clean(value: Any) -> Any:
    """A fact value as plain JSON-able Python (NaN -> None, numpy scalars -> Python)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) else round(number, 6)


class Strategy(ABC):
    """Base class: subclasses set ``name``, ``title``, ``Params`` and implement
    :meth:`generate` and :meth:`explain`."""

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[StrategyParams]]

    def __init__(self, params: StrategyParams, universe: Universe) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(f"{self.name} needs {self.Params.__name__}, not {type(params).__name__}")
        self.params = params
        self.universe = universe

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    # -- what a subclass provides -------------------------------------------------------
    def symbols(self) -> list[str]:
        """The symbols this strategy trades: its groups' symbols (override otherwise)."""
        if not isinstance(self.params, GroupStrategyParams):
            raise NotImplementedError(f"{type(self).__name__} must say which symbols it trades")
        return group_symbols(self.universe, self.params.groups)

    @abstractmethod
    def generate(self, market: MarketData) -> SignalFrames:
        """Evaluate the rules on every row of ``market`` (its own symbols only).

        Row D must depend on rows up to D only: appending later rows never changes it.
        """

    @abstractmethod
    def explain(self, action: Action, facts: Mapping[str, Any]) -> str:
        """One sentence saying why a signal with these facts has this action."""

    # -- shared behaviour ---------------------------------------------------------------
    def with_params(self, **changes: Any) -> Strategy:
        """A copy with some parameters changed (validated like the YAML file)."""
        params = self.Params.model_validate(self.params.model_dump() | changes)
        return type(self)(params, self.universe)

    def signals_on(self, frames: SignalFrames, session: dt.date, close: pd.DataFrame) -> list[Signal]:
        """The BUY and SELL signals of ``session`` (HOLD is every other symbol and is not listed).

        Reads the session's row of each frame by position (:attr:`SignalFrames.grid`) and
        builds facts only for the symbols that signal: a replay asks this every session.
        """
        grid = frames.grid
        row = grid.rows.get(pd.Timestamp(session))
        if row is None:
            return []
        active = np.flatnonzero(grid.entry[row] | grid.exit[row])
        if not len(active):
            return []
        prices = close.loc[pd.Timestamp(session)]
        out: list[Signal] = []
        for col in active.tolist():  # only the symbols with a signal (the others are HOLD)
            symbol = grid.symbols[col]
            is_entry, is_exit = bool(grid.entry[row, col]), bool(grid.exit[row, col])
            facts = {
                name: _clean(values[row, where[symbol]])
                for name, (values, where) in grid.facts.items()
                if symbol in where
            }
            action = Action.BUY if is_entry else Action.SELL
            out.append(
                Signal(
                    session=session,
                    symbol=symbol,
                    strategy=self.name,
                    action=action,
                    confidence=round(float(grid.confidence[row, col]), 4) if is_entry else 1.0,
                    price=float(prices[symbol]),
                    reason=self.explain(action, facts),
                    stop_price=_level(grid.stop, row, col) if is_entry else None,
                    target_price=_level(grid.target, row, col) if is_entry else None,
                    fresh=bool(grid.exit_fresh[row, col]) if is_exit else True,
                    facts=facts,
                )
            )
        return out

    def parameters(self) -> dict[str, Any]:
        return self.params.model_dump()

    def max_hold(self) -> int | None:
        """Sessions after which a position of this strategy is closed (None: no limit)."""
        return None


def _level(values: np.ndarray | None, row: int, col: int) -> float | None:
    if values is None:
        return None
    value = values[row, col]
    return None if pd.isna(value) else round(float(value), 4)


def percent_levels(
    close: pd.DataFrame, stop_loss_pct: float | None, take_profit_pct: float | None
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Stop and target price levels a fixed percent below/above each close."""
    stop = close * (1 - stop_loss_pct / 100) if stop_loss_pct is not None else None
    target = close * (1 + take_profit_pct / 100) if take_profit_pct is not None else None
    return stop, target


def row_frame(values: np.ndarray, like: pd.DataFrame) -> pd.DataFrame:
    """A frame shaped like ``like`` whose every column repeats the per-row ``values``."""
    return pd.DataFrame(
        np.repeat(np.asarray(values)[:, None], like.shape[1], axis=1), index=like.index, columns=like.columns
    )


def group_symbols(universe: Universe, groups: list[str]) -> list[str]:
    """Symbols of the named groups, in universe order; unknown group names raise."""
    unknown = [g for g in groups if g not in universe.groups]
    if unknown:
        raise ValueError(f"unknown universe group(s) {unknown}; params/universe.yaml has {list(universe.groups)}")
    return [s for g in groups for s in universe.groups[g]]


def rebalance_days(dates: pd.DatetimeIndex, every: int, anchor: dt.date) -> pd.Series:
    """True on sessions that are a whole number of ``every`` sessions from ``anchor``.

    Counted on the NYSE calendar, not on the frame's rows, so the schedule is the same
    whatever history a run loads.
    """
    numbers = cal.session_numbers(dates)
    first = anchor if cal.is_session(anchor) else cal.next_session(anchor)
    start = int(cal.session_numbers(pd.DatetimeIndex([pd.Timestamp(first)])).iloc[0])
    return ((numbers - start) % every == 0) & (numbers >= start)
