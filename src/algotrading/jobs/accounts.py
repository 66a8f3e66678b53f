"""One daily run for several accounts (issue 18, ``params/accounts.yaml``).

The session's data and the strategies step run once per data source (the bundled data
for demo accounts, Alpaca's for paper and live ones) into ``reports/_shared/<D>/<source>/``;
each account then runs the existing daily run (:func:`~algotrading.jobs.daily.run_daily`)
in its own environment (daily/accounts.py), with its own state folder, lock, ledger and
``reports/<account>/<D>/``, the strategies' outputs copied in instead of computed again.
One account's failure stops none of the others; the outcome of each is returned.

``algotrading daily --account NAME`` (:func:`one_account`) runs one account of the file
alone, computing its data and strategies in its own run: for an orchestrator that runs
each account as a task of its own, possibly at the same time as the others
(``examples/prefect_flow.py``); the shared folder serves the accounts of one process.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from algotrading.config import ConfigError, Mode, Settings, UsageError
from algotrading.daily.accounts import SHARED_DIR, Account, AccountsFile, account_settings, environment, twin_for
from algotrading.daily.twin import Twin
from algotrading.jobs.control import RunResult, short_error
from algotrading.jobs.daily import Shared, run_shared
from algotrading.paths import Paths

log = logging.getLogger(__name__)

#: What to do for one account: the daily run, or the morning's pending buys. The third
#: argument: a live account's paper twin (daily/twin.py), None for every other account.
Work = Callable[[Settings, Shared, Twin | None], RunResult]


@dataclass(frozen=True)
class AccountOutcome:
    """One account's result in the run's summary."""

    name: str
    result: RunResult

    def line(self) -> str:
        """Status, then the plan in one line (or the error), then the report's path."""
        message = self.result.message
        where = self.result.report_dir
        if where is not None and str(where) not in message:
            message += f" ({where})"
        return f"{self.name}: {self.result.status.upper()}: {message}"


@dataclass
class SharedOnce:
    """The shared folder of one data source, computed the first time an account asks
    (never when every account of it had already run); a failure is remembered, so each
    account fails with it instead of computing it again."""

    settings: Settings  # the first account of this data source's, with the base folders
    reports_dir: Path
    source: str
    now: dt.datetime
    done: dict[dt.date, Path | Exception] = field(default_factory=dict)

    def __call__(self, session: dt.date) -> Path:
        if session not in self.done:
            folder = self.reports_dir / SHARED_DIR / session.isoformat() / self.source
            try:
                self.done[session] = run_shared(self.settings, session, self.now, folder)
            except Exception as exc:  # every account of this source fails with it, recorded in its own run
                log.error("the shared data and strategies step for %s failed: %s", session, short_error(exc))
                self.done[session] = exc
        outcome = self.done[session]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def data_source(settings: Settings) -> str:
    """Which data an account's strategies run on: the bundled data (demo) or Alpaca's."""
    return "demo" if settings.mode is Mode.DEMO else "alpaca"


def for_each_account(
    accounts: AccountsFile, base: Paths, work: Work, now: dt.datetime | None = None
) -> list[AccountOutcome]:
    """Run ``work`` for every account in its own environment, in file order but each paper
    twin right before its live account (:meth:`AccountsFile.run_order`); a problem of one
    (its settings, its run) becomes its outcome and the next account runs."""
    now = now or dt.datetime.now(dt.UTC)
    shared: dict[str, SharedOnce] = {}
    outcomes = []
    for account in accounts.run_order():
        result = _one(account, accounts, base, work, now, shared)
        level = logging.INFO if result.exit_code == 0 else logging.ERROR
        log.log(level, "account %s: %s", account.name, result.message)
        outcomes.append(AccountOutcome(account.name, result))
    _drop_old_shared(base.reports_dir / SHARED_DIR, {d for s in shared.values() for d in s.done})
    return outcomes


def _one(
    account: Account,
    accounts: AccountsFile,
    base: Paths,
    work: Work,
    now: dt.datetime,
    shared: dict[str, SharedOnce],
) -> RunResult:
    try:
        settings, env = account_settings(account, accounts, base)
    except ConfigError as exc:
        return RunResult(1, "failed", "; ".join(exc.problems))
    source = data_source(settings)
    if source not in shared:
        own = settings.model_copy(update={"paths": base})  # the shared data's cache is the base state's
        shared[source] = SharedOnce(own, base.reports_dir, source, now)
    try:
        with environment(env):
            return work(settings, shared[source], twin_for(account, accounts, base))
    except (ConfigError, UsageError) as exc:
        return RunResult(1, "failed", f"account '{account.name}': {exc}")
    except Exception as exc:  # a lock held, a broken state file, ...: this account only
        log.debug("account %s failed", account.name, exc_info=True)
        return RunResult(1, "failed", f"account '{account.name}': {short_error(exc)}")


def _drop_old_shared(folder: Path, keep: set[dt.date]) -> None:
    """The shared folders only serve the accounts of one run (each account keeps copies
    of what it used): keep the sessions of this run, remove the older ones."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name not in {d.isoformat() for d in keep}:
            shutil.rmtree(path, ignore_errors=True)


def summary(outcomes: list[AccountOutcome]) -> str:
    """The run's summary: a headline, then one line per account."""
    failed = [o.name for o in outcomes if o.result.exit_code != 0]
    head = f"{len(outcomes)} account(s): {len(outcomes) - len(failed)} ok" + (
        f", {len(failed)} FAILED ({', '.join(failed)})" if failed else ""
    )
    return "\n".join([head, *(f"  {o.line()}" for o in outcomes)])


def exit_code(outcomes: list[AccountOutcome]) -> int:
    """0 only when every account succeeded (or had nothing to do), else 1."""
    return 0 if all(o.result.exit_code == 0 for o in outcomes) else 1


@contextmanager
def one_account(
    accounts: AccountsFile, name: str, base: Paths, submit: bool, confirm_live: bool
) -> Iterator[tuple[Settings, Twin | None]]:
    """The settings of account ``name`` of the file and its paper twin (a live account's,
    else None), the block run in its environment (its folders, keys, limits and
    recipients), as :func:`for_each_account` runs each.
    Raises :class:`UsageError` for a name the file does not list or an unconfirmed live
    ``--submit``, and :class:`ConfigError` for the account's own problems (a key variable
    unset, limits that cannot work together): alone, the account's run cannot start, so
    these are exit 2, as for a single account's settings."""
    account = accounts.account(name)
    if account is None:
        raise UsageError(
            f"--account {name}: params/accounts.yaml has no such account (its accounts: {', '.join(accounts.names())})"
        )
    refuse_unconfirmed_live(AccountsFile(accounts=[account]), submit, confirm_live)
    settings, env = account_settings(account, accounts, base)
    with environment(env):
        yield settings, twin_for(account, accounts, base)


def refuse_unconfirmed_live(accounts: AccountsFile, submit: bool, confirm_live: bool) -> None:
    """--submit with a live account needs --confirm-live, as for a single live account:
    refused before any account runs (exit 2)."""
    live = [a.name for a in accounts.accounts if a.mode == "live"]
    if submit and live and not confirm_live:
        raise UsageError(
            f"live account(s) {', '.join(live)}: --submit sends real-money orders. Add --confirm-live to confirm, "
            "after `algotrading validate --live` passes."
        )
