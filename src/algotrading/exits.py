"""How the package's processes end: quickly, once their work is written.

A process that imported vectorbt, pandas and the notebook stack holds about 450,000
objects, and the interpreter's shutdown runs full garbage collections over all of them
after the last useful instruction: measured 1.3-1.4 s of exit after ``import vectorbt``
alone, 1.2-1.7 s for the kernels' fork server, 2.3-2.4 s for a test worker; frozen,
0.1-0.15 s (the worker 0.6-0.8 s). :func:`end_quickly` is for the processes that exit
that way: the console command (cli.py), the notebook kernels' fork server
(report/kernel_warmup.py), and the test processes (tests/imports_first.py).
"""

from __future__ import annotations

import atexit
import gc


def end_quickly() -> None:
    """Let this process's interpreter end without collecting what it imported.

    atexit runs its handlers last-in, first-out, so the one registered here runs after
    those of every module imported later (the work's own: files and databases written
    and closed, log handlers flushed); it moves every object into the collector's
    permanent generation (:func:`gc.freeze`), and the shutdown frees them by reference
    counting only (logging's own handler, registered before, still flushes the log).
    What that skips is the finalizers of objects left in reference cycles: no output
    depends on one (files are written atomically and closed, the store commits before it
    returns), and the operating system releases what they held. Call it only where the
    process is yours to end: a notebook or a library caller keeps its collector."""
    atexit.register(gc.freeze)
