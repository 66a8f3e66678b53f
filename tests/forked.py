"""The real ``algotrading`` command as a process of its own, forked from a warm server.

The crash tests (tests/killing.py) start the daily command a dozen times and kill it with
SIGKILL at named points. Each fresh interpreter spent about 4 of its 7-8 s importing the
stack (pandas, vectorbt, IPython, nbconvert, plotly) before doing anything. Here the
standard library's ``forkserver`` imports that stack once per test worker, and every
command is a fork of that server: a separate process with its own pid, environment,
working folder, standard streams and exit status, that runs the console script's own
code (:func:`algotrading.cli.main` with ``sys.argv``, as ``.venv/bin/algotrading``
does) and that a fault point kills for real. Nothing of a run is shared: the server only
imported modules, it never ran a command.

What the console script itself adds (its interpreter start, the umask it sets) is tested
by the tests that start ``.venv/bin/algotrading`` (test_private_files, test_cli).

This module is imported by the fork server too (its ``_command``), so it imports nothing
of the tests.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from algotrading.report import kernel_forks

#: Imported once by the fork server: what a daily run imports (measured with sys.modules
#: after a run; the rest of its modules come with these).
PRELOAD = (
    "algotrading.cli",
    "algotrading.jobs.daily",
    "algotrading.report.inprocess",
    "algotrading.report.render",
    "algotrading.notify.daily",
    "algotrading.replay.engine",
    "vectorbt",
    "IPython",
    "papermill",
    "nbconvert",
    "plotly.graph_objects",
    "matplotlib.pyplot",
)
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__, *PRELOAD])


def run_command(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``algotrading ARGS`` in a forked process with exactly ``env``; its exit status (a
    negative signal number when killed) and its output, as :func:`subprocess.run` gives."""
    # The same server forks the daily runs' notebook kernels in this process: started the
    # kernels' way (their modules first, as a kernel imports them, then PRELOAD).
    kernel_forks.start_server()
    with tempfile.TemporaryDirectory(prefix="algotrading-command-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        process = _CONTEXT.Process(target=_command, args=(list(args), dict(env), str(cwd), str(out), str(err)))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["algotrading", *args], timeout, _read(out), _read(err))
        return subprocess.CompletedProcess(["algotrading", *args], process.exitcode, _read(out), _read(err))


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _command(args: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """In the forked process: the console script's run, with the given environment and
    streams, ended as an interpreter ends (its atexit handlers, then the exit status)."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
    sys.argv = [str(Path(sys.prefix) / "bin" / "algotrading"), *args]
    from algotrading.cli import main

    code: int | str | None = 1
    try:
        code = main()
    except SystemExit as stop:
        code = stop.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
    sys.exit(code)
