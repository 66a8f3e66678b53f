"""When the package's own processes let the garbage collector work (collector.py): imports
without it, then frozen; a caller that is not the package's own keeps its collector."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from algotrading import collector
from algotrading.collector import importing


def _tracked(obj: object) -> bool:
    """True while the collector walks ``obj`` (a frozen object is in no generation)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture
def collector_on() -> Iterator[None]:
    """The collector on before and after, whatever the test does with it."""
    gc.enable()
    yield
    gc.enable()


def test_an_own_process_imports_without_the_collector_and_then_freezes_what_it_made(monkeypatch, collector_on):
    monkeypatch.setattr(collector, "_owned", True)
    with importing():
        assert not gc.isenabled()
        made = [[] for _ in range(1000)]
    assert gc.isenabled()
    assert not _tracked(made) and not _tracked(made[0])
    later: list[object] = []
    assert _tracked(later)  # objects made after the block are collected as usual


def test_another_caller_keeps_its_collector_as_it_is(monkeypatch, collector_on):
    """A notebook or a library caller (not the package's own process): nothing changes."""
    monkeypatch.setattr(collector, "_owned", False)
    frozen = gc.get_freeze_count()
    with importing():
        assert gc.isenabled()
        made: list[object] = []
    assert gc.isenabled() and _tracked(made) and gc.get_freeze_count() <= frozen  # frozen ones may be freed


def test_the_collector_comes_back_on_when_an_import_fails(monkeypatch, collector_on):
    monkeypatch.setattr(collector, "_owned", True)
    with pytest.raises(ModuleNotFoundError), importing():
        import algotrading_has_no_such_module  # noqa: F401  (local: the failing import is the test)
    assert gc.isenabled()


def test_a_block_where_the_collector_is_already_off_leaves_it_off_and_freezes_nothing(monkeypatch, collector_on):
    """The outer block (or a caller who switched it off) decides."""
    monkeypatch.setattr(collector, "_owned", True)
    gc.disable()
    frozen = gc.get_freeze_count()
    with importing():
        made: list[object] = []
    assert not gc.isenabled() and _tracked(made) and gc.get_freeze_count() <= frozen


_VECTORBT_PROBE = """
import gc
from algotrading.collector import own_process
full = []
gc.callbacks.append(lambda phase, info: full.append(1) if phase == "start" and info["generation"] == 2 else None)
own_process()
from algotrading.backtest.engine import vectorbt  # pandas and the package: collected as usual
full.clear()
vbt = vectorbt()
print(len(full), gc.isenabled(), any(o is vbt.Portfolio for o in gc.get_objects()), gc.get_freeze_count() > 300_000)
"""


def test_the_console_imports_vectorbt_without_a_full_collection_and_freezes_it():
    """What `algotrading backtest` does: vectorbt's import (about 450,000 objects, 5-6 full
    collections with the collector on) makes none, and its classes are out of the later
    collections' walk. A fresh process: the test workers imported vectorbt long ago."""
    done = subprocess.run([sys.executable, "-c", _VECTORBT_PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True", "False", "True"]
