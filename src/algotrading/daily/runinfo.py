"""What ``run.json`` records about a run besides its result: package versions and the
git revision of the code that ran (so any plan can be traced to exact code and data)."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = (
    "algotrading",
    "pandas",
    "numpy",
    "vectorbt",
    "plotly",
    "papermill",
    "nbconvert",
    "exchange-calendars",
    "alpaca-py",
    "pydantic",
    "pydantic-settings",
    "pyarrow",
)


def versions() -> dict[str, str | None]:
    """Python and the tracked packages' installed versions (``None`` if absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision(root: Path) -> dict[str, object]:
    """``{"revision": sha or None, "dirty": bool or None}`` for the checkout at ``root``."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5, check=True
            )
            return done.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    revision = git("rev-parse", "HEAD")
    if revision is None:
        return {"revision": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"revision": revision, "dirty": bool(status) if status is not None else None}
