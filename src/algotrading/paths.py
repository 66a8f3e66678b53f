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


def _env_path(name: str, default: Path, dotenv: dict[str, str | None], root: Path) -> Path:
    """The folder ``name`` names: the process environment first, then ``.env`` (a
    relative path there is relative to the project folder), else ``default``."""
    value = os.environ.get(name)
    if value:
        return Path(value).expanduser().resolve()
    value = dotenv.get(name)
    if value:
        path = Path(value).expanduser()
        return (path if path.is_absolute() else root / path).resolve()
    return default


def _dotenv_paths(env_file: Path | None) -> dict[str, str | None]:
    """The ``ALGOTRADING_*_DIR`` lines of ``env_file`` (none when it is missing or
    unreadable: reading the settings reports an unreadable ``.env`` with its fix)."""
    if env_file is None or not env_file.is_file():
        return {}
    from dotenv import dotenv_values  # local: pydantic-settings' own dotenv reader

    try:
        values = dotenv_values(env_file)
    except (OSError, UnicodeDecodeError):
        return {}
    return {k.upper(): v for k, v in values.items() if k.upper() in PATH_VARIABLES}


#: The folders a ``.env`` (or the environment) can move (``.env.example``).
PATH_VARIABLES = (
    "ALGOTRADING_PARAMS_DIR",
    "ALGOTRADING_REPORTS_DIR",
    "ALGOTRADING_STATE_DIR",
    "ALGOTRADING_NOTEBOOKS_DIR",
)


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
        none (the tests do, so a developer's own ``.env`` never leaks into them). The
        folders may be set in that file too; the environment wins, as for every setting.
        """
        root = project_root()
        env_file_var = os.environ.get("ALGOTRADING_ENV_FILE")
        if env_file_var is None:
            env_file: Path | None = root / ".env"
        elif env_file_var == "":
            env_file = None
        else:
            env_file = Path(env_file_var).expanduser().resolve()
        dotenv = _dotenv_paths(env_file)
        return cls(
            root=root,
            params_dir=_env_path("ALGOTRADING_PARAMS_DIR", root / "params", dotenv, root),
            reports_dir=_env_path("ALGOTRADING_REPORTS_DIR", root / "reports", dotenv, root),
            state_dir=_env_path("ALGOTRADING_STATE_DIR", root / "state", dotenv, root),
            notebooks_dir=_env_path("ALGOTRADING_NOTEBOOKS_DIR", root / "notebooks", dotenv, root),
            env_file=env_file,
        )
