"""The ``algotrading`` command (DESIGN §11). Exit codes: 0 success or market closed,
1 the run failed, 2 bad configuration or usage."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from algotrading import __version__
from algotrading.collector import importing, own_process
from algotrading.errors import TIME_RE, ConfigError, UsageError
from algotrading.logs import configure_console
from algotrading.strategy_names import unknown_strategies

if TYPE_CHECKING:
    from algotrading.config import Settings
    from algotrading.daily.accounts import AccountsFile
    from algotrading.daily.twin import Twin
    from algotrading.jobs.control import RunResult
    from algotrading.jobs.daily import Shared
    from algotrading.monitor.status import Status

# Each command imports its modules when it runs (the imports inside the cmd_* functions):
# all of them cost about 0.8 s before a command can start (measured: config + logs 0.2 s,
# jobs.daily alone 0.7 s), and `--help`, `--version` and usage errors should not wait.
log = logging.getLogger("algotrading.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _settings() -> Settings:
    """The settings (params/*.yaml, the environment, .env), read when a command runs:
    pydantic and the settings' modules cost about 1 s that --help need not wait for."""
    from algotrading.config import load_settings

    return load_settings()


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD, e.g. 2025-12-31") from None


def _hh_mm(text: str) -> str:
    if not TIME_RE.match(text):
        raise argparse.ArgumentTypeError(f"'{text}' is not a time: use HH:MM on a 24-hour clock, e.g. 16:30")
    return text


def _whole_number(text: str, what: str, example: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not {what}: use a whole number >= 1, e.g. {example}")
    return int(text)


def _sessions(text: str) -> int:
    return _whole_number(text, "a number of sessions", "30")


def _positive(text: str) -> int:
    return _whole_number(text, "a count", "2")


def _scalar(text: str) -> int | float | str:
    """A grid value as typed: an int, else a float, else the text (the strategy's
    parameters validate it, as in YAML)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _grid_axis(text: str) -> tuple[str, list[int | float | str]]:
    """``NAME=V1,V2,...`` -> (NAME, [V1, V2, ...])."""
    name, _, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not name.strip() or not items:
        raise argparse.ArgumentTypeError(f"'{text}' is not a grid axis: use NAME=V1,V2,..., e.g. fast_window=20,30,40")
    return name.strip(), [_scalar(v) for v in items]


MODES = """\
modes (chosen by the environment or .env, see .env.example):
  demo   no API keys: bundled prices, a simulated $1,000 account in state/; nothing leaves
         this machine. The default, and what ./run_daily.sh runs on a fresh clone.
  paper  ALPACA_API_KEY and ALPACA_SECRET_KEY set: Alpaca's data and its paper account
         (PAPER_TRADING_MODE=true, the default); orders are sent only with --submit.
  live   PAPER_TRADING_MODE=false and PRODUCTION_MODE=true: real money. Sending needs
         `algotrading validate --live` to pass and --submit --confirm-live.

exit codes: 0 success or market closed, 1 the run failed, 2 bad configuration or usage.
`algotrading COMMAND --help` shows each command's options and examples."""

#: Each command's examples, shown under its --help.
EXAMPLES = {
    "daily": """\
examples:
  algotrading daily                          the latest completed session (demo: the last bundled one)
  algotrading daily --date 2024-01-02        one session; in demo mode a day whose plan has four buys
  algotrading daily --submit                 paper/live: plan, then send the orders (sells first)
  algotrading daily --submit --pending       the morning after: the buys that waited for the sells
  algotrading daily --date 2024-01-02 --force  run a session again (a re-plan if its orders went out)""",
    "strategies": "examples:\n  algotrading strategies",
    "backtest": """\
examples:
  algotrading backtest --strategy golden_cross
  algotrading backtest --strategy mean_reversion --start 2020-01-02 --end 2024-12-31 --out mr.html""",
    "sweep": """\
examples:
  algotrading sweep --strategy golden_cross --grid fast_window=20,30,40 --grid slow_window=100,200
  algotrading sweep --strategy golden_cross --grid fast_window=10,20,30,40,50 --grid slow_window=100,150,200 \\
      --workers 2 --out gc.csv                   on a local Dask cluster of 2 worker processes
  algotrading sweep --strategy golden_cross --grid fast_window=20,50 --grid slow_window=100,200 \\
      --scheduler tcp://10.0.0.5:8786            on an existing cluster (or set ALGOTRADING_DASK_SCHEDULER)""",
    "replay": """\
examples:
  algotrading replay --start 2022-01-03 --end 2022-12-30
  algotrading replay --start 2016-06-01 --end 2025-12-31 --capital 1000""",
    "risk": """\
examples:
  algotrading risk show
  algotrading risk resume --reason 'reviewed the drawdown; resuming'""",
    "outbox": """\
examples:
  algotrading outbox                         the emails waiting
  algotrading outbox send daily-2025-12-31   send one now""",
    "reports": """\
examples:
  algotrading reports prune                  keep keep_full_sessions (params/schedule.yaml) whole
  algotrading reports prune --keep 10""",
    "schedule": """\
examples:
  algotrading schedule print                 the cron block it would install
  algotrading schedule install               cron, in New York time whatever this server's zone
  algotrading schedule install --systemd""",
    "validate": """\
examples:
  algotrading validate
  algotrading validate --live                the checks live trading needs (FAIL blocks sending)""",
    "status": """\
examples:
  algotrading status
  algotrading status --check                 exit 1 when something needs attention (for monitoring)""",
    "alert": """\
examples:
  algotrading alert 'the nightly backup of state/ failed'
  algotrading alert --account main --date 2024-01-02 'the daily job failed 3 times' 'last output: ...'
  (examples/prefect_flow.py sends its alert this way when an account's job fails for good)""",
    "config": """\
examples:
  algotrading config show
  algotrading config show --json""",
}


def _with_examples(sub: argparse._SubParsersAction) -> None:
    for name, parser in sub.choices.items():
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = EXAMPLES.get(name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="algotrading",
        description="Daily after-market trading workflow for a small Alpaca account.",
        epilog=MODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"algotrading {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    daily = sub.add_parser("daily", help="run the daily job for one session (what run_daily.sh calls)")
    daily.add_argument(
        "--date",
        type=_date,
        help="session date YYYY-MM-DD (default: the latest completed session; in demo mode the last bundled one)",
    )
    daily.add_argument(
        "--submit",
        action="store_true",
        help="send the plan's orders to the broker after a successful run (sells first)",
    )
    daily.add_argument(
        "--pending",
        action="store_true",
        help="with --submit, the morning run: send the buys that waited for the sells to fill",
    )
    daily.add_argument("--confirm-live", action="store_true", help="required with --submit in live mode (real money)")
    daily.add_argument(
        "--allow-market-open",
        action="store_true",
        help="with --submit, send even while the market is open (DAY market orders then fill at once, at intraday "
        "prices; the email says so)",
    )
    daily.add_argument(
        "--at",
        type=_hh_mm,
        metavar="HH:MM",
        help="what the schedule passes: do nothing unless it is HH:MM New York time now (cron fires in the host's "
        "zone, at each host time HH:MM New York can be)",
    )
    daily.add_argument(
        "--force",
        action="store_true",
        help="run a session again that already ran successfully (its orders are never re-sent)",
    )
    daily.add_argument(
        "--account",
        metavar="NAME",
        help="run only this account of params/accounts.yaml, alone (its data and strategies computed in its own run, "
        "nothing shared): one task per account under an orchestrator (examples/prefect_flow.py)",
    )
    daily.set_defaults(func=cmd_daily)

    strategies = sub.add_parser("strategies", help="list the strategies and their parameters")
    strategies.add_argument("--json", action="store_true", help="print JSON instead of text")
    strategies.set_defaults(func=cmd_strategies)

    backtest = sub.add_parser("backtest", help="backtest one strategy: print metrics, write an HTML tearsheet")
    backtest.add_argument("--strategy", required=True, help="a strategy name (see `algotrading strategies`)")
    backtest.add_argument("--start", type=_date, help="first session traded (default: 3 years before --end)")
    backtest.add_argument("--end", type=_date, help="last session (default: the latest session of the configured data)")
    backtest.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="trade only these of the strategy's symbols")
    backtest.add_argument("--out", type=Path, metavar="FILE.html", help="write the tearsheet here")
    backtest.set_defaults(func=cmd_backtest)

    sw = sub.add_parser(
        "sweep", help="backtest every combination of a parameter grid: best rows printed, the table written as CSV"
    )
    sw.add_argument("--strategy", required=True, help="a strategy name (see `algotrading strategies`)")
    sw.add_argument(
        "--grid",
        type=_grid_axis,
        action="append",
        required=True,
        metavar="NAME=V1,V2,...",
        help="a parameter and its values; repeat for each parameter swept",
    )
    sw.add_argument("--start", type=_date, help="first session traded (default: 3 years before --end)")
    sw.add_argument("--end", type=_date, help="last session (default: the latest session of the configured data)")
    sw.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="trade only these of the strategy's symbols")
    sw.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (default: in this process, or on "
        "ALGOTRADING_DASK_SCHEDULER's cluster when it is set)",
    )
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS, e.g. tcp://host:8786")
    sw.add_argument(
        "--memory-limit",
        default="auto",
        metavar="SIZE",
        help="with --workers: memory per worker, e.g. 2GiB (default: an equal share of this machine's)",
    )
    sw.add_argument(
        "--max-columns",
        type=_positive,
        default=4000,
        metavar="N",
        help="combinations x symbols backtested at once per process or task: bounds memory (default 4000)",
    )
    sw.add_argument("--top", type=_positive, default=10, metavar="N", help="best rows printed, by Sharpe (default 10)")
    sw.add_argument("--out", type=Path, metavar="FILE.csv", help="the table (default reports/sweep-NAME-START-END.csv)")
    sw.set_defaults(func=cmd_sweep)

    rp = sub.add_parser("replay", help="walk the whole daily decision pipeline through history (simulated account)")
    rp.add_argument("--start", type=_date, required=True, help="first session YYYY-MM-DD")
    rp.add_argument("--end", type=_date, required=True, help="last session YYYY-MM-DD")
    rp.add_argument("--capital", type=float, help="starting cash in dollars (default PORTFOLIO_SIZE)")
    rp.add_argument("--out", type=Path, help="output folder, empty or new (default reports/replay-START-END)")
    rp.add_argument(
        "--auto-resume",
        type=int,
        metavar="SESSIONS",
        help="resume after this many sessions in HALTED / EMERGENCY STOP (default: never, like the daily run)",
    )
    rp.add_argument("--no-html", action="store_true", help="write the CSV files only, not replay.html")
    rp.set_defaults(func=cmd_replay)

    risk = sub.add_parser("risk", help="the persisted risk state (HALTED / EMERGENCY STOP)")
    risk_sub = risk.add_subparsers(dest="risk_command", required=True, metavar="ACTION")
    resume = risk_sub.add_parser("resume", help="clear a HALTED or EMERGENCY STOP state, recording why")
    resume.add_argument("--reason", required=True, help="why trading may resume (kept in the state history)")
    resume.set_defaults(func=cmd_risk_resume)
    show_risk = risk_sub.add_parser("show", help="the current risk state, its history and the equity peak")
    show_risk.set_defaults(func=cmd_risk_show)

    outbox = sub.add_parser("outbox", help="emails not delivered yet: list them, or send one now")
    outbox.add_argument("action", nargs="?", choices=["list", "send"], default="list", help="list (default) or send")
    outbox.add_argument("email_id", nargs="?", help="with send: the message, e.g. daily-2025-12-31")
    outbox.set_defaults(func=cmd_outbox)

    reports = sub.add_parser("reports", help="the session folders under reports/: compact the old ones")
    reports_sub = reports.add_subparsers(dest="reports_command", required=True, metavar="ACTION")
    prune = reports_sub.add_parser(
        "prune",
        help="keep the newest sessions whole; compact older ones to plan.json, run.json, what was sent and "
        "report.html.gz (the daily run does this after each run)",
    )
    prune.add_argument(
        "--keep", type=_sessions, help="full session folders to keep (default: keep_full_sessions in schedule.yaml)"
    )
    prune.set_defaults(func=cmd_reports_prune)

    schedule = sub.add_parser("schedule", help="the 4:30 PM ET schedule: cron line or systemd timer")
    schedule_sub = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    for action, text in (("print", "print the cron block (or systemd units)"), ("install", "install it for this user")):
        p = schedule_sub.add_parser(action, help=text)
        p.add_argument("--systemd", action="store_true", help="systemd user service + timer instead of cron")
        p.add_argument(
            "--submit", action="store_true", help="schedule the runs with --submit (and the morning --pending run)"
        )
        if action == "install":
            p.add_argument(
                "--dir",
                type=Path,
                default=None,
                help="where to write the systemd units (default ~/.config/systemd/user)",
            )
        p.set_defaults(func=cmd_schedule)

    validate = sub.add_parser("validate", help="production-readiness checks: PASS / WARN / FAIL, each with its fix")
    validate.add_argument(
        "--live", action="store_true", help="may real money be traded now? live-only checks FAIL instead of WARN"
    )
    validate.add_argument("--json", action="store_true", help="print JSON instead of the table")
    validate.set_defaults(func=cmd_validate)

    status = sub.add_parser("status", help="health: recent runs, failures, uptime, risk state, alerts, next run")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when something needs a person (a missed run, an undelivered email, a halt)",
    )
    status.set_defaults(func=cmd_status)

    alert = sub.add_parser(
        "alert",
        help="send an urgent alert the way the daily run sends its own: by email (or to the outbox) and to "
        "ALERT_WEBHOOK_URL; for schedulers and monitors outside AlgoTrading",
    )
    alert.add_argument("message", nargs="+", help="one line each; the first is also the email's subject")
    alert.add_argument(
        "--account",
        metavar="NAME",
        help="an account of params/accounts.yaml: to its email_to, kept in its outbox (its key variables may be "
        "unset; if its entry cannot be read, the base settings send it)",
    )
    alert.add_argument("--date", type=_date, help="the session it is about (default: today in New York)")
    alert.set_defaults(func=cmd_alert)

    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser("show", help="print the effective configuration, secrets redacted")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=cmd_config_show)
    _with_examples(sub)
    return parser


def cmd_daily(args: argparse.Namespace) -> int:

    from algotrading.jobs.control import RunError
    from algotrading.storage.sqlite import StoreError

    if args.at:
        from algotrading.ops.schedule import AT_WINDOW_MINUTES, NEW_YORK, is_due

        now = dt.datetime.now(dt.UTC)
        if not is_due(args.at, now):
            print(
                f"scheduled for {args.at} New York time; it is {now.astimezone(NEW_YORK):%H:%M} there now "
                f"(outside {args.at} + {AT_WINDOW_MINUTES} min): nothing to do"
            )
            return EXIT_OK
    if not args.pending:
        _start_kernel_server()
    settings = _settings()
    if args.pending and not args.submit:
        log.error("--pending goes with --submit: `algotrading daily --submit --pending`")
        return EXIT_USAGE
    from algotrading.daily.accounts import load_accounts  # local: the daily run's modules, as above

    accounts = load_accounts(settings.paths.params_dir)
    if accounts is not None and args.account is None:
        return _daily_accounts(args, accounts, settings)
    if accounts is None and args.account is not None:
        log.error(
            "--account %s: there is no params/accounts.yaml; without it the run is the single account", args.account
        )
        return EXIT_USAGE
    try:
        if accounts is not None:
            from algotrading.jobs.accounts import one_account

            with one_account(accounts, args.account, settings.paths, args.submit, args.confirm_live) as (own, twin):
                result = _daily_work(args, own, twin=twin, listed=True)
        else:
            result = _daily_work(args, settings)
    except UsageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except (RunError, StoreError) as exc:  # StoreError: the state failed mid-run (a full disk, a read-only file)
        log.error("%s", exc)
        return EXIT_FAILED
    if result.status != "market_closed":  # that one is already in the log line
        print(result.message if accounts is None else f"{args.account}: {result.status.upper()}: {result.message}")
    return result.exit_code


def _start_kernel_server() -> None:
    """Start the notebook kernels' fork server (report/kernel_forks.py) now: it imports
    the kernels' modules on the other core while this process reads the settings and
    imports the run's own (about 2 s). Not when the notebooks run in this process (the
    test suite's ALGOTRADING_NOTEBOOKS_IN_PROCESS): a run that needs kernels (a live
    account's) starts it when its kernels start."""
    from algotrading.report import inprocess, kernel_forks  # local: the run's modules, as above

    if not inprocess.enabled():
        kernel_forks.start_server()


def _daily_work(
    args: argparse.Namespace,
    settings: Settings,
    shared: Shared | None = None,
    twin: Twin | None = None,
    listed: bool = False,
) -> RunResult:
    """One account's ``algotrading daily``: the morning's waiting buys (``--pending``) or
    the daily run. ``listed``: an account of ``params/accounts.yaml`` (a demo one has no
    morning work: its waiting buys go out with the next daily run); ``shared``: its data
    and strategies come from the run's shared folder; ``twin``: a live account's paper
    twin, which its report compares it with."""
    from algotrading.config import Mode
    from algotrading.jobs.control import RunResult
    from algotrading.jobs.daily import run_daily
    from algotrading.jobs.submission import submit_pending_buys

    if not args.pending:
        return run_daily(
            settings,
            args.date,
            submit=args.submit,
            confirm_live=args.confirm_live,
            force=args.force,
            allow_open=args.allow_market_open,
            shared=shared,
            twin=twin,
        )
    if listed and settings.mode is Mode.DEMO:
        return RunResult(0, "nothing_to_do", "demo: the next daily run sends the buys that waited for sells")
    if settings.mode is Mode.LIVE and not args.confirm_live:
        raise UsageError("live mode: --submit sends real-money orders. Add --confirm-live to confirm.")
    return submit_pending_buys(settings, args.date)


def _daily_accounts(args: argparse.Namespace, accounts: AccountsFile, settings: Settings) -> int:
    """``algotrading daily`` with ``params/accounts.yaml``: every account, one after the
    other, sharing the data and the strategies step; a summary line per account."""
    from algotrading.jobs.accounts import exit_code, for_each_account, refuse_unconfirmed_live, summary

    try:
        refuse_unconfirmed_live(accounts, args.submit, args.confirm_live)
    except UsageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    outcomes = for_each_account(
        accounts, settings.paths, lambda account, shared, twin: _daily_work(args, account, shared, twin, listed=True)
    )
    print(summary(outcomes))
    return exit_code(outcomes)


def cmd_validate(args: argparse.Namespace) -> int:
    """Exit 0 when nothing FAILs, 2 when the configuration itself is refused, else 1."""
    from algotrading.ops.validate import format_table, validate

    try:
        result = validate(_settings(), live=args.live)
    except ConfigError as exc:
        result = validate(None, live=args.live, config_error=exc)
    print(json.dumps(result.to_json(), indent=2) if args.json else format_table(result))
    if result.passed:
        return EXIT_OK
    return EXIT_USAGE if result.mode is None else EXIT_FAILED


def cmd_status(args: argparse.Namespace) -> int:
    """The health of the account, or of each account of ``params/accounts.yaml``."""
    from algotrading.daily.accounts import account_settings, environment, load_accounts
    from algotrading.monitor.status import format_status

    settings = _settings()
    accounts = load_accounts(settings.paths.params_dir)
    if accounts is None:
        status = _status_of(settings)
        if status is None:
            return EXIT_FAILED
        print(json.dumps(status.to_json(), indent=2, default=str) if args.json else format_status(status))
        return EXIT_FAILED if args.check and not status.healthy else EXIT_OK
    healthy, docs, texts = True, {}, []
    for account in accounts.accounts:  # one status per account, read in its own settings
        try:
            own, env = account_settings(account, accounts, settings.paths)
            with environment(env):
                status = _status_of(own)
        except ConfigError as exc:
            healthy = False
            docs[account.name] = {"error": "; ".join(exc.problems)}
            texts.append(f"== account {account.name}: settings refused: {'; '.join(exc.problems)}")
            continue
        healthy = healthy and status is not None and status.healthy
        docs[account.name] = status.to_json() if status is not None else {"error": "its state cannot be read"}
        texts.append(f"== account {account.name} ({account.mode})\n" + (format_status(status) if status else "?"))
    print(json.dumps({"accounts": docs}, indent=2, default=str) if args.json else "\n\n".join(texts))
    return EXIT_FAILED if args.check and not healthy else EXIT_OK


def _status_of(settings: Settings) -> Status | None:
    """One account's health from its state (None, logged, when the state cannot be read)."""
    from algotrading.monitor.status import build_status
    from algotrading.storage.store import FILE_NAME, StoreError, open_store

    try:
        store = open_store(settings.paths.state_dir, create=False)
    except StoreError as exc:
        if (settings.paths.state_dir / FILE_NAME).exists():
            log.error("%s", exc)
            return None
        store = None  # no run yet
    try:
        return build_status(settings, store)
    finally:
        if store is not None:
            store.close()


def cmd_strategies(args: argparse.Namespace) -> int:
    from algotrading.strategies import load_strategies

    settings = _settings()
    strategies = load_strategies(settings, include_disabled=True)
    if args.json:
        doc = [
            {
                "name": s.name,
                "title": s.title,
                "summary": s.summary,
                "enabled": s.params.enabled,
                "symbols": s.symbols(),
                "parameters": s.parameters(),
            }
            for s in strategies
        ]
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK
    for s in strategies:
        state = "enabled" if s.params.enabled else "disabled"
        print(f"{s.name}  ({s.title}, {state}, {len(s.symbols())} symbols)\n  {s.summary}")
        for key, value in s.parameters().items():
            print(f"    {key} = {value}")
        print(f"  [params/strategies/{s.name}.yaml]\n")
    return EXIT_OK


def _known_strategy(name: str) -> None:
    """Refuse a strategy name that is not one (exit 2) before the settings and pandas load."""
    problem = unknown_strategies([name])
    if problem:
        raise ConfigError([problem])


def cmd_backtest(args: argparse.Namespace) -> int:
    _known_strategy(args.strategy)
    with importing():  # pandas, plotly and the backtest's modules, frozen once imported (collector.py)
        from tqdm import tqdm

        from algotrading.backtest.engine import run_backtest
        from algotrading.backtest.window import backtest_window, load_market
        from algotrading.report.tearsheet import summary_text, write_tearsheet
        from algotrading.strategies import load_strategies

    settings = _settings()
    (strategy,) = load_strategies(settings, [args.strategy])
    try:
        start, end = backtest_window(settings, args.start, args.end)
        market, excluded = load_market(settings, strategy, start, end, args.symbols)
    except UsageError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    log.info("backtesting %s on %d symbols, %s .. %s", strategy.name, len(market.symbols), start, end)
    with tqdm(total=2 if args.out else 1, desc=f"backtest {strategy.name}", unit="step", disable=None) as bar:
        result = run_backtest(strategy, market, settings.backtest, start=start, end=end)
        bar.update()
        if args.out:
            bar.set_description("tearsheet")
            subtitle = (
                f"{start} .. {end}, {settings.mode.value} data, {len(strategy.symbols())} strategy symbols; "
                f"fees {settings.backtest.fees_pct:g}%, slippage {settings.backtest.slippage_pct:g}%"
            )
            write_tearsheet(result, args.out, strategy.parameters(), subtitle)
            bar.update()
    print(summary_text(result, settings.backtest.initial_capital, excluded))
    if args.out:
        print(f"tearsheet: {args.out}")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    """Exit 0 with the table written, 2 on a bad request or an unreachable scheduler, 1
    when a Dask worker died."""
    import time

    _known_strategy(args.strategy)
    from algotrading.backtest.grid import WorkerDied, run_sweep, scheduler_address
    from algotrading.backtest.window import backtest_window, load_market
    from algotrading.strategies import load_strategies

    settings = _settings()
    (strategy,) = load_strategies(settings, [args.strategy])
    grid = dict(args.grid)
    try:
        if len(grid) < len(args.grid):
            raise UsageError("--grid: each parameter once (give all its values in one NAME=V1,V2,...)")
        unknown = sorted(set(grid) - set(strategy.parameters()))
        if unknown:
            raise UsageError(
                f"--grid {', '.join(unknown)}: not a parameter of {strategy.name} "
                f"(its parameters: {', '.join(strategy.parameters())})"
            )
        if args.workers is not None and args.scheduler:
            raise UsageError("--workers starts a local cluster, --scheduler uses an existing one: give one of them")
        start, end = backtest_window(settings, args.start, args.end)
        market, _ = load_market(settings, strategy, start, end, args.symbols)
        scheduler = scheduler_address(args.scheduler, args.workers, settings)
        where = scheduler or (f"{args.workers} local Dask workers" if args.workers else "this process")
        log.info("sweeping %s on %d symbols, %s .. %s, on %s", strategy.name, len(market.symbols), start, end, where)
        started = time.perf_counter()
        table = run_sweep(
            strategy,
            market,
            grid,
            settings.backtest,
            start=start,
            end=end,
            max_columns=args.max_columns,
            workers=args.workers,
            scheduler=scheduler,
            memory_limit=args.memory_limit,
        )
    except UsageError as exc:  # ClusterUnreachable too
        log.error("%s", exc)
        return EXIT_USAGE
    except WorkerDied as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    seconds = time.perf_counter() - started
    out = args.out or settings.paths.reports_dir / f"sweep-{strategy.name}-{start}-{end}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    invalid = int(table["error"].notna().sum()) if "error" in table else 0
    print(
        f"{strategy.name}: {len(table)} combinations ({invalid} invalid), {start} .. {end}, "
        f"{len(market.symbols)} symbols, {seconds:.1f} s on {where}"
    )
    best = table.drop(columns=["error"], errors="ignore").dropna(subset=["sharpe"])
    best = best.sort_values("sharpe", ascending=False, kind="stable").head(args.top).astype({"orders": "int64"})
    print(best.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"table: {out}")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from algotrading.replay import ReplayError, replay
    from algotrading.replay.engine import iterate_with_bar
    from algotrading.replay.render import render_replay
    from algotrading.replay.views import load, sessions_note

    settings = _settings()
    out = args.out or settings.paths.reports_dir / f"replay-{args.start}-{args.end}"
    quiet = logging.getLogger("algotrading")  # per-order chatter of thousands of sessions: warnings only
    level = quiet.level
    if not args.verbose:
        quiet.setLevel(logging.WARNING)
        logging.getLogger("algotrading.replay").setLevel(logging.INFO)
    try:
        result = replay(
            settings, args.start, args.end, out, args.capital, progress=iterate_with_bar, auto_resume=args.auto_resume
        )
    except ReplayError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    finally:
        quiet.setLevel(level)
    state = (
        "complete"
        if result.complete
        else f"INTERRUPTED after {result.sessions_done} of {result.sessions_total} sessions"
    )
    equity = f"${result.final_equity:,.2f}" if result.final_equity is not None else "n/a"
    print(
        f"replay {args.start} .. {args.end}: {state}; {result.sessions_done} sessions in {result.seconds:.1f} s; "
        f"final equity {equity}"
    )
    if result.sessions_done:
        print(sessions_note(load(out)))
    print(f"outputs: {out}/ (equity.csv, orders.csv, events.csv, rules.csv, positions.csv, summary.json)")
    if not args.no_html and result.sessions_done:
        try:
            print(f"report: {render_replay(settings, out)}")
        except KeyboardInterrupt:
            print(
                "report not rendered (interrupted); the CSV files are complete for the sessions done", file=sys.stderr
            )
            return 130
    return EXIT_OK if result.complete else 130


def cmd_outbox(args: argparse.Namespace) -> int:
    from algotrading.notify.delivery import send_now
    from algotrading.storage.store import StoreError, open_store

    settings = _settings()
    if args.action == "send" and not args.email_id:
        log.error("outbox send needs the message's id, e.g. `algotrading outbox send daily-2025-12-31`")
        return EXIT_USAGE
    try:
        with open_store(settings.paths.state_dir) as store:
            if args.action == "list":
                pending = store.emails(status="pending")
                for e in pending:
                    print(f"{e['id']}  {e['subject']}  ({e['attempts']} tries; {e['last_error'] or 'not tried yet'})")
                print(f"{len(pending)} email(s) waiting" if pending else "the outbox has nothing waiting")
                return EXIT_OK
            try:
                delivery = send_now(settings, store, args.email_id)
            except KeyError as exc:
                log.error("%s", exc.args[0])
                return EXIT_USAGE
    except StoreError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    print(f"{delivery.email_id}: {delivery.status} ({delivery.detail})")
    return EXIT_FAILED if delivery.failed else EXIT_OK


def cmd_reports_prune(args: argparse.Namespace) -> int:
    from algotrading.daily.retention import prune
    from algotrading.jobs.control import RunError, run_lock

    settings = _settings()
    keep = args.keep or settings.schedule.keep_full_sessions
    try:
        with run_lock(settings.paths.state_dir):  # never while a daily run writes its folder
            done = prune(settings.paths.reports_dir, keep)
    except (RunError, OSError) as exc:
        log.error("reports not compacted: %s", exc)
        return EXIT_FAILED
    print(done.words())
    return EXIT_OK


def cmd_risk_resume(args: argparse.Namespace) -> int:
    from algotrading.decisions.risk import RiskState
    from algotrading.storage.store import StoreError, open_store

    settings = _settings()
    if not args.reason.strip():
        log.error("--reason must say why trading may resume")
        return EXIT_USAGE
    try:
        with open_store(settings.paths.state_dir, create=False) as store:
            before = store.risk_status()
            if before.state is RiskState.ACTIVE:
                print("risk state is already ACTIVE: nothing to resume")
                return EXIT_OK
            # from the latest recorded session on, the drawdown is measured from the equity then
            store.set_risk_state(RiskState.ACTIVE, args.reason.strip(), "user", store.latest_equity_session())
    except StoreError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    print(f"risk state {before.state.value} -> ACTIVE (was: {before.reason}); reason recorded: {args.reason.strip()}")
    print("the drawdown is now measured from the equity of the latest recorded session (the peak restarts there)")
    return EXIT_OK


def cmd_risk_show(args: argparse.Namespace) -> int:
    from algotrading.storage.store import StoreError, open_store

    settings = _settings()
    try:
        with open_store(settings.paths.state_dir, create=False) as store:
            status = store.risk_status()
            events = store.risk_events()
            history = store.equity_history()
    except StoreError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    print(f"risk state: {status.state.value}" + (f" since {status.since}: {status.reason}" if status.since else ""))
    if len(history):
        last = history.iloc[-1]
        print(
            f"equity ${last['equity']:,.2f} on {last['session_date']:%Y-%m-%d}, peak ${last['peak_equity']:,.2f}, "
            f"drawdown {last['drawdown']:.2%} ({len(history)} sessions recorded)"
        )
    for e in events.itertuples():
        print(f"  {e.at}  {e.from_state} -> {e.to_state}  [{e.actor}] {e.reason}")
    return EXIT_OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from algotrading.ops import schedule

    settings = _settings()
    if args.schedule_command == "print":
        if args.systemd:
            for name, text in schedule.systemd_units(settings, args.submit).items():
                print(f"# ~/.config/systemd/user/{name}\n{text}")
        else:
            print(schedule.cron_text(settings, args.submit), end="")
        return EXIT_OK
    try:
        if args.systemd:
            paths = schedule.install_systemd(settings, args.dir or schedule.systemd_user_dir(), args.submit)
            timers = " ".join(p.name for p in paths if p.suffix == ".timer")
            print("\n".join(f"wrote {p}" for p in paths))
            print(f"now run: systemctl --user daemon-reload && systemctl --user enable --now {timers}")
            print("and, to run while logged out: loginctl enable-linger $USER")
        else:
            schedule.install_cron(settings, args.submit)
            print("installed into this user's crontab:")
            print(schedule.cron_text(settings, args.submit), end="")
    except schedule.ScheduleError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    return EXIT_OK


def cmd_alert(args: argparse.Namespace) -> int:
    """``algotrading alert``: one urgent alert through the run's own path (the email, or the
    outbox the next run re-sends from, and the webhook)."""
    import hashlib

    from algotrading import calendar as cal
    from algotrading.daily.accounts import alert_settings, load_accounts
    from algotrading.notify.daily import send_alert
    from algotrading.storage.store import Alert, open_store

    settings = _settings()  # the base settings: refused, there is no way to send (exit 2)
    if args.account is not None:
        try:
            accounts = load_accounts(settings.paths.params_dir)
            account = accounts.account(args.account) if accounts is not None else None
            if accounts is None or account is None:
                raise ConfigError([f"params/accounts.yaml has no account {args.account}"])
            settings = alert_settings(account, accounts, settings.paths)
        except ConfigError as exc:
            log.warning("the alert goes out with the base settings: %s", "; ".join(exc.problems))
    session = args.date or dt.datetime.now(cal.NY).date()
    text = [" ".join(line.split()) for line in args.message]
    key = "external:" + hashlib.sha256("\n".join(text).encode()).hexdigest()[:12]
    alerts = [Alert(f"{key}:{i}", "external", "urgent", line) for i, line in enumerate(text)]
    with open_store(settings.paths.state_dir) as store:
        delivery = send_alert(settings, store, session, alerts)
    print(f"alert {delivery.email_id}: {delivery.status}: {delivery.detail}")
    return EXIT_FAILED if delivery.failed else EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    from algotrading.daily.accounts import describe, load_accounts  # local: only this command needs them

    settings = _settings()
    data = settings.redacted()
    accounts = load_accounts(settings.paths.params_dir)
    if accounts is not None:  # names of the key variables and whether they are set, never their values
        data["accounts"] = {a.pop("name"): a for a in describe(accounts, settings.paths)}
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return EXIT_OK
    print(
        f"mode: {settings.mode.value}   (demo without Alpaca keys, paper with keys, live needs "
        "PAPER_TRADING_MODE=false + PRODUCTION_MODE=true)"
    )
    for line in _flatten(data):
        key = line[0]
        parts = key.split(".")
        source = next(
            (settings.sources[k] for i in range(len(parts), 1, -1) if (k := ".".join(parts[:i])) in settings.sources),
            "",
        )
        print(f"  {key} = {line[1]}" + (f"   [{source}]" if source else ""))
    return EXIT_OK


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "groups":
            out += _flatten(value, f"{name}.")
        elif key == "groups" and isinstance(value, dict):
            out += [(f"{name}.{g}", ", ".join(symbols)) for g, symbols in value.items()]
        elif name != "mode":
            out.append((name, value))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and hasattr(signal, "SIGPIPE"):
        # the console command: `algotrading config show | head` ends quietly. Not when
        # called in-process (tests, notebooks): a process-wide SIG_DFL would kill the
        # caller on its next write to a closed pipe or socket.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Everything a command creates is private to the user (folders 0700, files 0600): the
    # state and reports hold the account number, positions and the outbox. The notebooks'
    # kernels inherit it. In-process callers (tests, notebooks) keep their own umask, and
    # their collector (the console command freezes what it imports and ends without
    # collecting it: collector.py).
    if argv is None:
        os.umask(0o077)
        own_process()
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_console(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
