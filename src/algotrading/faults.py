"""Named points where a test can kill the real process (``kill -9``), to prove that a run
killed anywhere loses nothing and sends nothing twice.

``ALGOTRADING_FAULT_AT=<point>`` makes the process SIGKILL itself when it reaches that
point: no ``finally``, no atexit, exactly what a power cut or the OOM killer leaves.
Unset (always, outside the crash tests) a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

#: The points, in the order a run reaches them.
POINTS = (
    "notebook:30_safety",  # a second into the safety notebook (the strategies and ranking ones done)
    "promote:between_renames",  # the old reports/<D> moved aside, the new one not yet in place
    "run:marked_done",  # the ledger says ok; the email not yet sent
    "email:accepted",  # the SMTP server accepted the email; the outbox not yet updated
    "submit:after_first_order",  # one order of the plan at the broker, the rest not yet sent
    "sweep:chunk",  # not the daily run: a sweep's chunk starts (in a Dask worker, the worker dies)
    "replay:from_worker",  # not the daily run: a replay got a stretch its worker prepared (the replay dies)
)
VARIABLE = "ALGOTRADING_FAULT_AT"


def reach(point: str) -> None:
    """Die here, as by ``kill -9``, when the environment names this point."""
    if os.environ.get(VARIABLE) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def reach_during(point: str, seconds: float = 1.0) -> None:
    """Die ``seconds`` after this point, while the step that starts here runs (a notebook:
    its kernel is busy and the runner waits on it), when the environment names it."""
    if os.environ.get(VARIABLE) == point:
        threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGKILL)).start()
