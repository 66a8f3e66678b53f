"""Replay: the whole daily decision pipeline walked forward through history (issue 8)."""

from algotrading.replay.engine import ReplayError, ReplayResult, replay

__all__ = ["ReplayError", "ReplayResult", "replay"]
