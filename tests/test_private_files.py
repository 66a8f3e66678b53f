"""What the command creates is private to the user: the state and reports hold the account
number, positions and the outbox (issue 15: they were created 0644, readable by everyone)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from algotrading.storage.files import private_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_command_creates_folders_0700_and_files_0600(workdirs, tmp_path):
    out = tmp_path / "replay"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "algotrading"), "replay", "--start", "2025-12-30", "--end", "2025-12-31"]
        + ["--no-html", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"NUMBA_CACHE_DIR": str(ROOT / "state" / "numba-cache")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    made = [out, *out.rglob("*")]
    files = [p for p in made if p.is_file()]
    assert len(files) >= 6 and any(p.suffix == ".sqlite3" for p in files)
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in made}
    assert {k: oct(m) for k, m in modes.items() if m != (0o700 if (tmp_path / k).is_dir() else 0o600)} == {}


def test_private_dir_creates_0700_and_tightens_an_open_folder_of_ours(tmp_path):
    fresh = private_dir(tmp_path / "a" / "state")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    cloned = tmp_path / "reports"
    cloned.mkdir()
    cloned.chmod(0o755)  # what `git clone` makes of reports/
    private_dir(cloned)
    assert stat.S_IMODE(cloned.stat().st_mode) == 0o700
    kept = tmp_path / "group"
    kept.mkdir()
    kept.chmod(0o710)
    private_dir(kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700  # only the group/other bits go
