"""The strategies: a registry from name to class, and loading their parameters from
``params/strategies/<name>.yaml`` (every file required, every key checked)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from algotrading.config import ConfigError, Settings, Universe, describe_validation_error, read_yaml
from algotrading.strategies.base import Action, Signal, SignalFrames, Strategy, StrategyParams, StrategyUnavailable
from algotrading.strategies.dual_momentum import DualMomentum
from algotrading.strategies.golden_cross import GoldenCross
from algotrading.strategies.mean_reversion import MeanReversion
from algotrading.strategies.sector_rotation import SectorRotation
from algotrading.strategy_names import unknown_strategies

REGISTRY: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (GoldenCross, MeanReversion, DualMomentum, SectorRotation)
}

__all__ = [
    "REGISTRY",
    "Action",
    "Signal",
    "SignalFrames",
    "Strategy",
    "StrategyParams",
    "StrategyUnavailable",
    "load_strategies",
]


def load_strategies(
    settings: Settings, names: list[str] | None = None, include_disabled: bool = False
) -> list[Strategy]:
    """Build the strategies from their YAML files, in registry order.

    ``names`` picks some (unknown names are an error); otherwise every enabled one.
    All problems are collected into one :class:`ConfigError`.
    """
    folder = settings.paths.params_dir / "strategies"
    problems: list[str] = []
    unknown = unknown_strategies(names or [])
    if unknown:
        problems.append(unknown)
    stray = sorted(p.stem for p in folder.glob("*.yaml") if p.stem not in REGISTRY) if folder.is_dir() else []
    if stray:
        problems.append(
            f"params/strategies/ has {', '.join(s + '.yaml' for s in stray)} but no such strategy is registered "
            f"({', '.join(REGISTRY)}): rename or remove the file."
        )
    strategies = [_load_one(cls, folder, settings.universe, problems) for cls in REGISTRY.values()]
    if problems:
        raise ConfigError(problems)
    chosen = [s for s in strategies if s is not None]
    if names:
        return [s for s in chosen if s.name in names]
    return [s for s in chosen if include_disabled or s.params.enabled]


def _load_one(cls: type[Strategy], folder: Path, universe: Universe, problems: list[str]) -> Strategy | None:
    label = f"params/strategies/{cls.name}.yaml"
    path = folder / f"{cls.name}.yaml"
    if not path.is_file():
        problems.append(f"{label} is missing: restore it from the repository.")
        return None
    try:
        doc = read_yaml(path) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{label} is not valid YAML ({exc}): fix the syntax.")
        return None
    try:
        params = cls.Params.model_validate(doc)
    except ValidationError as exc:
        problems.extend(describe_validation_error(label, cls.Params, err) for err in exc.errors())
        return None
    strategy = cls(params, universe)
    try:
        symbols = strategy.symbols()
    except ValueError as exc:
        problems.append(f"{label}: {exc}.")
        return None
    outside = [s for s in symbols if s not in universe.all_symbols]
    if outside:
        problems.append(
            f"{label}: {', '.join(outside)} not in params/universe.yaml: add them to a group or remove them here."
        )
        return None
    return strategy
