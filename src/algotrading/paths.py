"""Where AlgoTrading reads its parameters and writes its outputs.

Everything is relative to the project folder (the clone holding ``params/``), so the
command behaves the same from any working directory; each location can be moved with an
environment variable (DESIGN §11), which is how the tests isolate their runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The clone this package runs from: ``ALGOTRADING_HOME``, else the source checkout
    (``src/algotrading`` -> two levels up) when it holds ``params/``, else the working dir."""
    home = os.environ.get("ALGOTRADING_HOME")
    if home:
        return Path(home).expanduser().resolve()
    checkout = PACKAGE_DIR.parents[1]
    if (checkout / "params").is_dir():
        return checkout
    return Path.cwd()


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Paths:
    """The folders and files one run uses."""

    root: Path
    params_dir: Path
    reports_dir: Path
    state_dir: Path
    notebooks_dir: Path
    env_file: Path | None

    @classmethod
    def from_env(cls) -> Paths:
        """Resolve every location from the environment, with project-relative defaults.

        ``ALGOTRADING_ENV_FILE`` names the dotenv file; set it to an empty string to read
        none (the tests do, so a developer's own ``.env`` never leaks into them).
        """
        root = project_root()
        env_file_var = os.environ.get("ALGOTRADING_ENV_FILE")
        if env_file_var is None:
            env_file: Path | None = root / ".env"
        elif env_file_var == "":
            env_file = None
        else:
            env_file = Path(env_file_var).expanduser().resolve()
        return cls(
            root=root,
            params_dir=_env_path("ALGOTRADING_PARAMS_DIR", root / "params"),
            reports_dir=_env_path("ALGOTRADING_REPORTS_DIR", root / "reports"),
            state_dir=_env_path("ALGOTRADING_STATE_DIR", root / "state"),
            notebooks_dir=_env_path("ALGOTRADING_NOTEBOOKS_DIR", root / "notebooks"),
            env_file=env_file,
        )
