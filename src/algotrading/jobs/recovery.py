"""What a killed run left behind, put right before the next run starts (under the run lock,
so nothing else is running).

A run builds ``reports/.staging/<D>-<run id>/`` and promotes it with two renames: the old
``reports/<D>`` to ``<staging>.replaced``, then the staging folder to ``reports/<D>``. A
kill between the two leaves no ``reports/<D>``: the new folder is put in place when it is
complete (its ``run.json`` says ok), else the old one is put back. Every other leftover
of ``.staging`` is removed (a run killed before its promotion is re-run), and ledger rows
still ``running`` become ``interrupted``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from algotrading.daily import artifacts
from algotrading.storage.store import Store

log = logging.getLogger(__name__)
STAGING = ".staging"
REPLACED = ".replaced"


@dataclass
class Recovery:
    """What :func:`recover` did, for the log and the tests."""

    restored: list[str] = field(default_factory=list)  # reports/<D> put back (old) or completed (new)
    removed: list[str] = field(default_factory=list)  # leftover staging folders
    interrupted: list[str] = field(default_factory=list)  # run ids marked interrupted


def recover(reports: Path, store: Store) -> Recovery:
    """Finish or undo half-done promotions, clean ``.staging``, mark killed runs."""
    out = Recovery()
    staging = reports / STAGING
    if staging.is_dir():
        for old in sorted(staging.glob(f"*{REPLACED}")):
            _finish_promotion(reports, old, out)
        for leftover in sorted(p for p in staging.iterdir() if p.is_dir()):
            shutil.rmtree(leftover, ignore_errors=True)
            out.removed.append(leftover.name)
    out.interrupted = store.interrupt_runs("interrupted: the process ended before the run finished (killed or crashed)")
    for what, items in (("restored", out.restored), ("removed", out.removed), ("marked interrupted", out.interrupted)):
        if items:
            log.warning("recovery: %s %s", what, ", ".join(items))
    return out


def _finish_promotion(reports: Path, old: Path, out: Recovery) -> None:
    """``old`` is ``<D>-<run id>.replaced``: the previous ``reports/<D>``."""
    name = old.name.removesuffix(REPLACED)
    final = reports / name[:10]  # the session, YYYY-MM-DD
    new = old.with_name(name)
    if final.exists():  # the second rename happened: the old copy is only waiting to be deleted
        shutil.rmtree(old, ignore_errors=True)
        return
    if new.is_dir() and _complete(new):
        os.replace(new, final)
        shutil.rmtree(old, ignore_errors=True)
        out.restored.append(f"{final.name} (the new run's outputs, complete)")
    else:
        os.replace(old, final)
        out.restored.append(f"{final.name} (the previous outputs)")


def _complete(folder: Path) -> bool:
    try:
        return json.loads((folder / artifacts.RUN).read_text()).get("status") == "ok"
    except (OSError, ValueError):
        return False
