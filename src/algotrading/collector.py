"""When the package's own processes let Python's cyclic garbage collector work.

A process that imported vectorbt, pandas and the notebook stack holds about 450,000
objects that live as long as the process. The collector walks all of them in every full
collection: several times while they are imported (a full collection comes each time
the objects grow by a quarter), at every later full collection, and again at the
interpreter's shutdown. Measured on the 2-core machine: ``import vectorbt`` 2.3 s with
the collector, 1.8 s without; the backtest after it 1.0 s, 0.7 s with the imports frozen;
the exit after ``import vectorbt`` 1.3-1.4 s, 0.1 s frozen (the kernels' fork server
1.2-1.7 s -> 0.13-0.15 s, a test worker 2.3-2.4 s -> 0.6-0.8 s).

Only a process that is the package's to start and end does this (:func:`own_process`):
the console command (cli.py), the notebook kernels' fork server
(report/kernel_warmup.py), the replay's worker (replay/engine.py) and the test processes
(tests/imports_first.py). A notebook
or a library caller keeps its collector as it is: :func:`importing` changes nothing there.

What a frozen object gives up is being freed as part of a reference cycle; reference
counting still frees it. Imported modules, classes and functions live until the exit,
and the exit's own (skipped) collections would only have run finalizers of cycles: no
output depends on one (files are written atomically and closed, the store commits
before it returns), and the operating system releases what they held.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_owned = False


def own_process() -> None:
    """Mark this process as the package's own: :func:`importing` freezes what it imports,
    and the interpreter ends without collecting it.

    atexit runs its handlers last-in, first-out, so the freeze registered here runs after
    those of every module imported later (the work's own: files and databases written
    and closed, log handlers flushed); the shutdown then frees objects by reference
    counting only (logging's own handler, registered before, still flushes the log)."""
    global _owned
    _owned = True
    atexit.register(gc.freeze)


@contextmanager
def importing() -> Iterator[None]:
    """Import a heavy stack without the collector, then move every object alive into its
    permanent generation (:func:`gc.freeze`), so no later collection walks them again.

    Does nothing in a process that is not the package's own, and nothing inside a block
    where the collector is already off (an outer ``importing`` freezes at its end). The
    collector is switched back on also when an import fails."""
    if not _owned or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
