"""The daily job under Prefect instead of cron: one task per account, retries, alerting.

What: a Prefect 3 flow that runs the real ``algotrading daily`` command once per account
of ``params/accounts.yaml`` (``--account NAME``; without the file, once for the single
account of ``.env``), each as a subprocess in its own process group, with the same flags
the cron job or systemd timer would pass (``--submit``, ``--confirm-live``, the morning's
``--pending``). A run that fails (exit 1, or killed) is retried; a refused configuration
(exit 2) is not, since the same command would be refused again. When an account's job
has failed for good, the flow sends an alert through AlgoTrading's own path
(``algotrading alert --account NAME``: the email, or the outbox the next run re-sends
from, and ``ALERT_WEBHOOK_URL``), so you hear of it as you would from cron, and the flow
run ends Failed in Prefect's UI.

Why this is safe to retry: the command keeps its own guarantees. Its lock runs one job
per account at a time, its ledger makes a session that already ran a no-op, its start-up
recovery puts right what a killed run left, and every order has a deterministic
``client_order_id`` looked up before sending: a retry is the same command a person would
run again after a crash, and it never sends an order twice (tests/test_crash*.py kill the
real command at each dangerous point and run it again; tests/test_orchestrator.py does it
through this flow).

Why one task per account: an account fails, retries and alerts on its own, and the UI
shows each. The price: each account computes the session's data and strategies step in
its own run, where one ``algotrading daily`` shares it between the accounts of the file:
about 5 s per extra account on the bundled data (README, "Several accounts": three
accounts took 30.4 s in one run, 40.1 s as three). Accounts run one after the other
unless ``at_once`` is raised (a run with its notebook kernels peaks at about 1.5 GB).

Run it (README, "Under an orchestrator (Prefect)"):

    scripts/bootstrap.sh --orchestrator                        # prefect into .venv (once)
    .venv/bin/python examples/prefect_flow.py --date 2024-01-02  # one run now, like ./run_daily.sh
    .venv/bin/python examples/prefect_flow.py serve --submit     # on a schedule, New York time
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any

# No usage statistics leave this machine: the server's telemetry and the client's.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from prefect import allow_failure, flow, get_run_logger, serve, task  # noqa: E402
from prefect.futures import as_completed  # noqa: E402
from prefect.runtime import deployment, flow_run, task_run  # noqa: E402
from prefect.schedules import Cron  # noqa: E402

from algotrading.config import ConfigError, load_settings  # noqa: E402
from algotrading.daily.accounts import AccountsFile, load_accounts  # noqa: E402
from algotrading.ops.schedule import MORNING, SCHEDULED_BY, confirms_live, has_morning_run  # noqa: E402
from algotrading.paths import Paths  # noqa: E402

#: The clone the flow runs (the commands start here, as cron's ``cd`` does).
ROOT = Path(__file__).resolve().parents[1]
#: The ``algotrading`` command of the environment this flow runs in.
ALGOTRADING = (sys.executable, "-m", "algotrading")
EXIT_USAGE = 2  # the command's exit code for a refused configuration or usage (cli.py)
RETRIES = 2
RETRY_DELAY_SECONDS = 300.0  # a broker or network hiccup after the close: try again 5 and 10 minutes later
NEW_YORK = "America/New_York"
TAIL_LINES = 40  # of a failed attempt's output, kept for the alert
STOP_GRACE_SECONDS = 30  # after SIGTERM, before SIGKILL
OUTPUT_GRACE_SECONDS = 30  # for the rest of the output once the command has exited


class DailyJobFailed(RuntimeError):
    """One attempt of ``algotrading daily`` that did not exit 0."""

    def __init__(
        self,
        account: str | None,
        command: list[str],
        returncode: int,
        tail: list[str],
        attempt: int,
        timeout: float | None,
    ) -> None:
        self.account, self.command, self.returncode, self.tail = account, command, returncode, tail
        self.attempt, self.timeout = attempt, timeout
        super().__init__(self.headline())

    def __reduce__(self) -> tuple[Any, ...]:  # Prefect may pickle what a task raised
        return type(self), (self.account, self.command, self.returncode, self.tail, self.attempt, self.timeout)

    @property
    def retryable(self) -> bool:
        """Exit 2 is a configuration or usage the command refuses: the same again would be refused."""
        return self.returncode != EXIT_USAGE

    def meaning(self) -> str:
        """What the exit code says, short enough for the alert's subject."""
        if self.returncode == EXIT_USAGE:
            return "exit 2"
        if self.returncode < 0:
            why = "killed" if self.timeout is None else f"stopped after {self.timeout:g} s"
            return f"{why}, signal {-self.returncode}"
        return f"exit {self.returncode}"

    def headline(self, final: bool = False) -> str:
        """What happened, in a line short enough for an email subject (``final``: the
        last attempt, for the alert)."""
        who = f"account {self.account}: " if self.account else ""
        if not self.retryable:
            return f"{who}its configuration is refused (exit 2), not retried"
        if final:
            return f"{who}the daily job failed {self.attempt} time(s) ({self.meaning()}), no retry left"
        return f"{who}the daily job failed ({self.meaning()}), attempt {self.attempt}"

    def __str__(self) -> str:
        return f"{self.headline()}: `{shown(self.command)}`"


def shown(command: list[str]) -> str:
    """The command as a person would type it."""
    return " ".join(["algotrading", *command[len(ALGOTRADING) :]])


def _worth_retrying(task: Any, run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn``: retry a failed run or a killed one, never exit 2."""
    return bool(getattr(state.result(raise_on_failure=False), "retryable", True))


def _run_name() -> str:
    return f"daily-{task_run.parameters.get('account') or 'account'}"


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the command's process group, SIGKILL if it is still there after the grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:  # gone already
            return


def _pump(process: subprocess.Popen[str], tail: deque[str], logger: Any) -> None:
    """The command's output, line by line, into the task's log and ``tail``."""
    assert process.stdout is not None
    with process.stdout:
        for line in process.stdout:
            tail.append(line.rstrip())
            logger.info("%s", tail[-1])


@task(
    task_run_name=_run_name,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAY_SECONDS,
    retry_condition_fn=_worth_retrying,
)
def daily_job(account: str | None, flags: list[str], timeout_seconds: float, scheduled_by: str) -> tuple[str, int]:
    """``algotrading daily FLAGS [--account ACCOUNT]`` once, its output in the task's log.
    ``scheduled_by``: the deployment whose schedule started the flow run, told to the
    command (``algotrading validate``'s schedule check, which a live ``--submit`` runs,
    cannot see Prefect's schedule otherwise); empty for a run started by hand.
    Returns its last line (the account's outcome) and the attempt that succeeded; raises
    :class:`DailyJobFailed`."""
    logger = get_run_logger()
    command = [*ALGOTRADING, "daily", *flags, *(["--account", account] if account else [])]
    env = os.environ | {"NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / "state" / "numba-cache"))}
    if scheduled_by:
        env[SCHEDULED_BY] = scheduled_by
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    # its own process group: a timeout or a cancelled flow run stops the command with what it started
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    reader = threading.Thread(target=_pump, args=(process, tail, logger), daemon=True)
    reader.start()
    timed_out = False
    try:
        returncode = process.wait(timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        _stop(process)
        returncode = process.wait()
    except BaseException:  # cancelled or interrupted: the command does not outlive its task
        _stop(process)
        raise
    reader.join(OUTPUT_GRACE_SECONDS)  # a notebook kernel outliving a killed run may hold the pipe a moment
    attempt = task_run.run_count
    said = list(tail.copy())  # a copy in one step: the reader may still be adding (above)
    if returncode != 0:
        raise DailyJobFailed(account, command, returncode, said, attempt, timeout_seconds if timed_out else None)
    return (said[-1] if said else "done"), attempt


_UNREAD = object()  # the accounts file not read yet


def accounts_file() -> AccountsFile | None:
    """``params/accounts.yaml`` by the package's own loader; None without the file, or when
    it is refused: the whole-file command then says why (exit 2)."""
    try:
        return load_accounts(Paths.from_env().params_dir)
    except ConfigError:
        return None


def account_names(file: Any = _UNREAD) -> list[str | None]:
    """The accounts of the file (``file``: already read) in the order a run takes them
    (each paper twin right before its live account); ``[None]`` without it: the single
    account."""
    file = accounts_file() if file is _UNREAD else file
    return [None] if file is None else [a.name for a in file.run_order()]


def run_names(accounts: list[str] | None, file: Any = _UNREAD) -> list[str | None]:
    """The accounts a flow run takes, in the run's order (each paper twin right before its
    live account), whatever order they were named in; each once; a name the file lacks
    last (its command says why, exit 2)."""
    everyone = account_names(file)
    if not accounts:
        return everyone
    return sorted(dict.fromkeys(accounts), key=lambda n: everyone.index(n) if n in everyone else len(everyone))


def twins(file: Any = _UNREAD) -> dict[str, str]:
    """Live account -> its paper twin (``twin_of`` in ``params/accounts.yaml``): the live
    account's task waits for the twin's, whose state its report compares with."""
    file = accounts_file() if file is _UNREAD else file
    return {} if file is None else {a.twin_of: a.name for a in file.accounts if a.twin_of is not None}


def task_timeout() -> float:
    """The run's own limit (``run_timeout_seconds``) and 10 minutes for its email and
    submission, as the systemd unit's ``TimeoutStartSec``: the command stops itself first."""
    try:
        return load_settings().schedule.run_timeout_seconds + 600.0
    except ConfigError:
        return 3600.0 + 600.0


def daily_flags(date: dt.date | None, submit: bool, confirm_live: bool, pending: bool) -> list[str]:
    chosen = {"--submit": submit, "--confirm-live": confirm_live, "--pending": pending}
    return (["--date", date.isoformat()] if date else []) + [flag for flag, on in chosen.items() if on]


def alert_account(failure: BaseException, account: str | None, date: dt.date | None) -> str:
    """The account's alert for a job that failed for good, by ``algotrading alert``."""
    if isinstance(failure, DailyJobFailed):
        said = [line for line in failure.tail if line.strip()]
        lines = [
            failure.headline(final=True),
            f"command ({failure.attempt} attempt(s)): {shown(failure.command)}",
            *[f"output: {x}" for x in said[-6:]],
        ]
        if not failure.retryable:
            lines.append("fix what the output names, then run the flow (or the command) again")
        else:
            lines.append(
                "a run that reached its steps emailed its own failure (step, log, partial notebook); "
                "running the flow or the command again re-does only what is missing and never sends an order twice"
            )
    else:  # the task itself broke (the command could not start, ...)
        who = f"account {account}: " if account else ""
        lines = [f"{who}the daily job could not run under Prefect: {type(failure).__name__}: {failure}"]
    command = [*ALGOTRADING, "alert", *(["--account", account] if account else [])]
    command += [*(["--date", date.isoformat()] if date else []), *lines]
    sent = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return (sent.stdout.strip() or sent.stderr.strip()) + (f" (exit {sent.returncode})" if sent.returncode else "")


@flow(name="algotrading-daily")
def daily(
    date: dt.date | None = None,
    submit: bool = False,
    confirm_live: bool = False,
    pending: bool = False,
    accounts: list[str] | None = None,
    at_once: int = 1,
    retries: int = RETRIES,
    retry_delay_seconds: float = RETRY_DELAY_SECONDS,
) -> dict[str, str]:
    """``algotrading daily`` for each account (``accounts``: these of the file only), at
    most ``at_once`` at a time, each retried up to ``retries`` times; an account that
    failed for good is alerted, and the flow run then fails naming it. Returns each
    account's outcome line."""
    logger = get_run_logger()
    file = accounts_file()  # read once for the run's order and the twins
    names = run_names(accounts, file)
    flags = daily_flags(date, submit, confirm_live, pending)
    job = daily_job.with_options(retries=retries, retry_delay_seconds=retry_delay_seconds)
    timeout = task_timeout()
    scheduled_by = f"Prefect deployment {flow_run.flow_name}/{deployment.name}" if deployment.name else ""
    futures: list[Any] = []
    slots = max(at_once, 1)
    twin_of = twins(file)
    for i, name in enumerate(names):  # `slots` chains: each task waits for the one `slots` places before it
        before = [allow_failure(futures[i - slots])] if i >= slots else []
        if name in twin_of and twin_of[name] in names[:i]:  # and a live account for its paper twin
            before.append(allow_failure(futures[names.index(twin_of[name])]))
        futures.append(job.submit(name, flags, timeout, scheduled_by, wait_for=before))
    outcomes: dict[str, str] = {}
    done: dict[str, str] = {}
    named = {future.task_run_id: name for future, name in zip(futures, names, strict=True)}
    for future in as_completed(futures):  # each account alerted as soon as it failed for good
        name = named[future.task_run_id]
        future.wait()  # keeps the final state (with what the task raised) in the future
        if future.state.is_completed():
            line, attempt = future.result()
            done[name or "account"] = f" (attempt {attempt})" if attempt > 1 else ""
            outcomes[name or "account"] = line + done[name or "account"]
            continue
        failure = future.state.result(raise_on_failure=False)
        outcomes[name or "account"] = f"FAILED: {failure}"
        try:
            said = alert_account(failure, name, date)
        except (OSError, subprocess.SubprocessError) as exc:  # the next accounts' alerts must still go out
            said = f"the alert could not be sent: {type(exc).__name__}: {exc}"
        logger.error("%s; alert: %s", failure, said)
    outcomes = {label: outcomes[label] for label in (name or "account" for name in names)}  # the file's order
    for label, line in outcomes.items():
        logger.info("%s", line if line.startswith(f"{label}: ") else f"{label}: {line}")
    failed = [label for label, line in outcomes.items() if line.startswith("FAILED: ")]
    if failed:
        ok = ", ".join(label + done[label] for label in outcomes if label in done) or "none"
        raise RuntimeError(
            f"{len(failed)} of {len(names)} account(s) failed for good (alerted): {', '.join(failed)}; done: {ok}"
        )
    return outcomes


def deployments(submit: bool) -> list[Any]:
    """The flow on AlgoTrading's schedule, in New York time (Prefect's cron takes a zone
    and follows its daylight saving time, so no ``--at`` guard is needed): the daily run
    at ``DAILY_EXECUTION_TIME`` (16:30) Monday to Friday, and with ``--submit``, for paper
    or live accounts, the morning ``--pending`` run at 09:45; the same flags ``algotrading
    schedule install`` gives cron. Holidays are no-ops (the NYSE calendar)."""
    settings = load_settings()
    hh, mm = settings.schedule.daily_execution_time.split(":")
    live = submit and confirms_live(settings)
    parameters: dict[str, Any] = {"submit": submit, "confirm_live": live}
    served = [
        daily.to_deployment(
            name="after-the-close",
            schedule=Cron(f"{int(mm)} {int(hh)} * * 1-5", timezone=NEW_YORK),
            parameters=parameters,
        )
    ]
    if has_morning_run(settings, submit):
        hh, mm = MORNING.split(":")
        served.append(
            daily.to_deployment(
                name="morning-pending",
                schedule=Cron(f"{int(mm)} {int(hh)} * * 1-5", timezone=NEW_YORK),
                parameters=parameters | {"pending": True},
            )
        )
    return served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("action", nargs="?", choices=["run", "serve"], default="run", help="run once now (default)")
    parser.add_argument("--date", type=dt.date.fromisoformat, help="run: the session (default: the latest)")
    parser.add_argument("--submit", action="store_true", help="send the plans' orders (and serve the morning run)")
    parser.add_argument("--confirm-live", action="store_true", help="run: required with --submit for a live account")
    parser.add_argument("--pending", action="store_true", help="run: the morning's buys that waited for sells")
    parser.add_argument("--account", action="append", metavar="NAME", help="run: only these accounts of the file")
    parser.add_argument("--at-once", type=int, default=1, metavar="N", help="run: accounts at the same time")
    args = parser.parse_args(argv)
    if args.action == "serve":
        serve(*deployments(args.submit))
        return 0
    state = daily(
        args.date, args.submit, args.confirm_live, args.pending, args.account, args.at_once, return_state=True
    )
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    sys.exit(main())
