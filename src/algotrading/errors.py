"""The errors every command can end in, and the one pattern the command line checks
before any setting is read. A foundation with no imports of its own, so `algotrading
--help` and a usage error answer without loading pydantic, pandas or the settings
(issue 17: <= 1 s); :mod:`algotrading.config` re-exports them."""

from __future__ import annotations

import re

#: A time of day as HH:MM on a 24-hour clock (params/schedule.yaml, `schedule --at`).
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class UsageError(ValueError):
    """A request that cannot be served as asked (exit code 2, like a bad configuration);
    the message says why."""


class ConfigError(Exception):
    """One or more configuration problems; each item names the setting and the fix."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems

    def __str__(self) -> str:
        lines = [f"Configuration problem{'s' if len(self.problems) > 1 else ''}:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)
