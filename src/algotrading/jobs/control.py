"""What keeps a job within bounds and says how it went: one run at a time (a lock), time
limits (a hung kernel cannot hold the run into the next day), step timing, and the
result and errors a job returns to the command line."""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from papermill.exceptions import PapermillExecutionError

log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """The run cannot proceed (exit code 1); the message says why and what to do."""


@dataclass
class RunResult:
    """Outcome of ``algotrading daily``."""

    exit_code: int
    status: str  # ok | market_closed | failed
    message: str
    session_date: dt.date | None = None
    report_dir: Path | None = None


@dataclass
class StepTimer:
    """Times named steps and remembers which one is running (for failure reports)."""

    seconds: dict[str, float] = field(default_factory=dict)
    current: str | None = None

    @contextmanager
    def step(self, name: str, number: int, total: int) -> Iterator[None]:
        self.current = name
        log.info("[%d/%d] %s ...", number, total, name)
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 3)
        log.info("[%d/%d] %s done in %.1f s", number, total, name, self.seconds[name])
        self.current = None


@contextmanager
def run_lock(state_dir: Path) -> Iterator[None]:
    """One daily run at a time: an exclusive ``flock`` on ``state_dir/daily.lock``.

    The lock dies with the process, so a crashed run never leaves it stuck.
    """
    path = state_dir / "daily.lock"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise RunError(
            f"cannot open the run lock {path} ({exc.strerror}): make {state_dir} writable for this user, "
            "or set ALGOTRADING_STATE_DIR to a writable folder"
        ) from exc
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise RunError(
                f"another daily run holds {path} ({holder}); wait for it to finish, then run again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


class RunTimeout(RuntimeError):
    """A notebook or the whole run took longer than its limit."""


#: How soon an expired deadline raises again when its first exception was swallowed.
RETRY_SECONDS = 2.0


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise :class:`RunTimeout` in this (main) thread after ``seconds``, so a hung kernel
    cannot hold the run (and the lock) into the next day. A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    remaining = signal.getitimer(signal.ITIMER_REAL)[0]  # an outer deadline's time left (0: none)
    limit = min(seconds, remaining) if remaining > 0 else seconds
    reason = f"{what} took longer than {seconds:g} s" if limit == seconds else "the whole run reached its time limit"

    def expire(signum: int, frame: Any) -> None:
        # The exception lands in whatever runs in this thread at that instant. Inside
        # nbclient's event loop that may be a helper task whose error is dropped (seen on
        # a loaded machine: the 20 s notebook limit ran on to the 600 s cell limit), so
        # ask again until it reaches the ``with`` block, whose ``finally`` stops the timer.
        signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        raise RunTimeout(reason)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining > 0:  # an outer deadline was running: put back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - started), 0.001))


def short_error(exc: BaseException, limit: int = 500, folder: Path | None = None) -> str:
    """One readable line for a failure; a failing notebook cell is named by its number,
    a full disk is called so with the file it could not write (else ``folder``, where the
    failing step was writing)."""
    if isinstance(exc, PapermillExecutionError):
        text = f"{exc.ename}: {exc.evalue} (notebook cell [{exc.exec_count}])"
    elif isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" writing {exc.filename}" if exc.filename else (f" under {folder}" if folder else "")
        text = f"disk full{where}: free space on that disk (old reports/<date> folders can go) and run again"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
