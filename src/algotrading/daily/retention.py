"""How long a session's full run folder is kept (``keep_full_sessions`` in
params/schedule.yaml), and what an older one is compacted to.

A run folder holds about 34 MB (the executed notebooks, the data, the report with
plotly.js inlined); a year of sessions would fill 8-9 GB. The newest sessions stay
complete; older ones keep what the record needs: ``plan.json`` (every decision),
``run.json`` (what ran, with which data and versions), ``submission.json`` and
``replaced/`` (what was sent to the broker), ``alerts.json`` and ``previous_orders.json``
(small), and the report, gzip-compressed (``report.html.gz``, readable with ``zcat`` or
any browser after ``gunzip``). A compaction is written atomically: the compressed
report first, then the rest is removed, so a kill in between leaves a folder that the
next pass finishes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from algotrading.daily import artifacts
from algotrading.storage.files import atomic_write_bytes

log = logging.getLogger(__name__)
SESSION_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REPORT_GZ = artifacts.REPORT_HTML + ".gz"
#: What a compacted session folder keeps.
KEPT = frozenset(
    {
        artifacts.PLAN,
        artifacts.RUN,
        artifacts.SUBMISSION,
        artifacts.REPLACED,
        artifacts.ALERTS,
        artifacts.PREVIOUS_ORDERS,
        REPORT_GZ,
    }
)


@dataclass(frozen=True)
class Pruned:
    """What one pass did."""

    compacted: tuple[str, ...]  # the sessions compacted by this pass
    kept_full: int  # session folders left complete
    bytes_before: int
    bytes_after: int

    def words(self) -> str:
        if not self.compacted:
            return f"reports: nothing to compact ({self.kept_full} full session folder(s) kept)"
        freed = (self.bytes_before - self.bytes_after) / 1e6
        return (
            f"reports: compacted {len(self.compacted)} session folder(s) ({self.compacted[0]} .. "
            f"{self.compacted[-1]}), {freed:,.1f} MB freed; {self.kept_full} full session folder(s) kept"
        )


def session_dirs(reports: Path) -> list[Path]:
    """The session folders of ``reports/``, oldest first."""
    if not reports.is_dir():
        return []
    return sorted(p for p in reports.iterdir() if p.is_dir() and SESSION_DIR.match(p.name))


def prune(reports: Path, keep_full: int, protect: dt.date | None = None) -> Pruned:
    """Compact every session folder but the newest ``keep_full`` (and ``protect``, the
    session being run)."""
    folders = session_dirs(reports)
    old = [f for f in folders[: max(len(folders) - keep_full, 0)] if protect is None or f.name != protect.isoformat()]
    todo = [f for f in old if _needs_compacting(f)]
    before = sum(_size(f) for f in todo)
    for folder in todo:
        compact(folder)
    after = sum(_size(f) for f in todo)
    return Pruned(tuple(f.name for f in todo), len(folders) - len(old), before, after)


def compact(folder: Path) -> None:
    """Keep only :data:`KEPT` in ``folder``, with the report gzip-compressed."""
    report = folder / artifacts.REPORT_HTML
    if report.is_file():
        atomic_write_bytes(folder / REPORT_GZ, gzip.compress(report.read_bytes(), compresslevel=9, mtime=0))
    for path in folder.iterdir():
        if path.name in KEPT:
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    log.info("compacted %s", folder)


def _needs_compacting(folder: Path) -> bool:
    return any(p.name not in KEPT for p in folder.iterdir())


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
