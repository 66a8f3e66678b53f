"""The command line a person meets first: --help, examples, quick and exact usage errors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from algotrading.cli import EXAMPLES, build_parser, main
from algotrading.config import UsageError, load_settings


def help_of(*args: str) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*args, "--help"])
    assert info.value.code == 0


def test_help_explains_the_three_modes_and_every_command_has_examples(capsys):
    help_of()
    top = capsys.readouterr().out
    for line in (
        "demo   no API keys",
        "paper  ALPACA_API_KEY and ALPACA_SECRET_KEY",
        "live   PAPER_TRADING_MODE=false",
    ):
        assert line in top
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands == set(EXAMPLES)
    for name in sorted(commands):
        help_of(name)
        shown = capsys.readouterr().out
        assert "examples:\n  algotrading " + name in shown, name


def test_argument_errors_come_before_the_heavy_imports():
    """A typo is answered at once: the command parses its arguments before it imports
    pandas, vectorbt or papermill (measured by the real console command)."""
    done = subprocess.run(
        [sys.executable, "-m", "algotrading", "daily", "--date", "2024-13-01"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "'2024-13-01' is not a date: use YYYY-MM-DD" in done.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, algotrading.cli; print(sorted(m for m in ('pandas', 'vectorbt', "
            "'papermill', 'nbconvert') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "[]", probe.stdout  # the cause of a slow error, checked without a clock


_EXIT_PROBE = """
import atexit, gc, sys
import algotrading.cli as cli
atexit.register(lambda: print("at the end:", gc.get_freeze_count() > 0, flush=True))
configure = cli.configure_console
def configure_and_register(*args, **kwargs):  # called by main() once the command is parsed
    atexit.register(lambda: print("in the command's handlers:", gc.get_freeze_count() > 0, flush=True))
    return configure(*args, **kwargs)
cli.configure_console = configure_and_register
console = sys.argv[1] == "console"
sys.argv = ["algotrading", "config", "show"]
sys.exit(cli.main() if console else cli.main(["config", "show"]))
"""


@pytest.mark.parametrize("caller", ["console", "in-process"])
def test_the_console_command_freezes_its_objects_after_the_exit_handlers_of_its_run(workdirs, caller):
    """The console command ends without the interpreter's full collections over every
    imported object (collector.own_process): an exit handler registered while the command
    runs (as its modules' are) still runs before the collector is frozen, and the freeze
    comes before the handlers registered ahead of main(); only for the console command:
    a caller that passes its own arguments keeps its collector."""
    done = subprocess.run([sys.executable, "-c", _EXIT_PROBE, caller], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    frozen = caller == "console"
    assert done.stdout.splitlines()[-2:] == ["in the command's handlers: False", f"at the end: {frozen}"]


def test_a_backtest_window_error_names_what_the_user_typed_and_what_was_a_default(workdirs):
    from algotrading.backtest.window import backtest_window

    with pytest.raises(UsageError, match=r"^--start 2026-01-05 must be before the default end 2025-12-31 "):
        backtest_window(load_settings(), dt.date(2026, 1, 5), None)
    with pytest.raises(UsageError, match=r"^--start 2025-06-02 must be before --end 2025-06-02"):
        backtest_window(load_settings(), dt.date(2025, 6, 2), dt.date(2025, 6, 2))


def test_a_limits_conflict_names_the_values_in_dollars(workdirs, monkeypatch, capsys):
    monkeypatch.setenv("MIN_CASH_BUFFER", "1000")
    assert main(["config", "show"]) == 2
    assert "MIN_CASH_BUFFER ($1000) is not below PORTFOLIO_SIZE ($1000)" in capsys.readouterr().err
