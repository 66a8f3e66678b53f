"""Atomic file writes: a reader (or a crash) never sees half a file.

Each write goes to a temporary file in the same folder, is flushed to disk, then
renamed over the target (``os.replace`` is atomic on one filesystem).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    _atomic(path, lambda p: frame.to_parquet(p, index=False, compression="zstd"))


class StorageError(RuntimeError):
    """Outputs cannot be written here; the message says why and what to do."""


def private_dir(folder: Path) -> Path:
    """``folder``, created private to the user (0700) if missing; one of ours that group or
    others may read is tightened to the owner only. The state and reports folders hold the
    account number, positions and the outbox (a git clone makes ``reports/`` 0755). A
    folder owned by someone else is left alone: ``algotrading validate`` warns about it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        folder.chmod(stat.S_IMODE(info.st_mode) & ~0o077)
    return folder


def check_writable(folder: Path, min_free_mb: int = 0) -> float:
    """Fail early, before any data is fetched (so before any order or email), when outputs
    could not be written: an unwritable folder or too little free disk. Returns the free MB."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StorageError(
            f"cannot write to the reports folder {folder} ({exc.strerror or exc}): fix its permissions "
            "or free disk space, or set ALGOTRADING_REPORTS_DIR to a writable folder"
        ) from exc
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < min_free_mb:
        raise StorageError(
            f"only {free_mb:.0f} MB free under {folder} (min_free_disk_mb {min_free_mb} in params/schedule.yaml): "
            "free disk space (old reports/<date> folders can go) before the next run"
        )
    return free_mb
