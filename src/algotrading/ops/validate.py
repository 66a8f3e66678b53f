"""Production readiness (Requirement 4.1): ``algotrading validate [--live]``.

Each check returns PASS, WARN or FAIL with what it saw and, when not PASS, the fix.
``--live`` asks "may real money be traded now?": the live-only checks (live account and
keys, paper mode off, email, schedule, both automatic stops on) then FAIL instead of
WARN. The daily run runs the same checks first and writes them to
``reports/<D>/validation.json``; a live submission refuses to send anything unless they
all pass, checked again right before the orders go out.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from algotrading import calendar as cal
from algotrading.broker import BrokerError, make_broker
from algotrading.broker.base import AccountInfo
from algotrading.config import ConfigError, Mode, Settings
from algotrading.data import make_provider
from algotrading.data.bars import empty_bars, sourced_bars
from algotrading.data.bundled import BundledBarsProvider
from algotrading.data.market import MarketData
from algotrading.notify.smtp import EmailError, check_login
from algotrading.ops import schedule
from algotrading.ops.schedule import cron_daemon, host_zone, installed_block, schedule_problems, scheduled_by
from algotrading.ops.transition import live_ramp, paper_sessions
from algotrading.storage.files import StorageError, check_writable
from algotrading.storage.store import FILE_NAME, Store, StoreError, open_store


class Level(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # could not be checked because an earlier check failed


@dataclass(frozen=True)
class Check:
    """One line of the readiness table."""

    name: str
    level: Level
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self) | {"level": self.level.value}


@dataclass(frozen=True)
class Readiness:
    """The whole table and whether it passed (no FAIL)."""

    live: bool
    mode: str | None
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.level is Level.FAIL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.level is Level.WARN]

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "live": self.live,
            "mode": self.mode,
            "checks": [c.to_json() for c in self.checks],
        }


#: Every check in table order (the configuration check comes first, separately).
CHECK_NAMES = (
    "configuration",
    "environment",
    "secrets_at_rest",
    "trading_mode",
    "safety_limits",
    "risk_parameters",
    "alpaca_account",
    "account_size",
    "paper_sessions",
    "smtp",
    "market_data",
    "state_database",
    "reports_folder",
    "schedule",
)


def _soft(live: bool) -> Level:
    """A live-only concern: a warning on paper, a failure under ``--live``."""
    return Level.FAIL if live else Level.WARN


# -- checks that need only the settings --------------------------------------------------


def check_environment(s: Settings, live: bool) -> Check:
    """The variables each mode needs (the mode itself is derived from them)."""
    missing = []
    if s.mode is Mode.DEMO:
        if live:
            missing.append("ALPACA_API_KEY and ALPACA_SECRET_KEY (live keys)")
    if not (s.email.smtp_server and s.email.to):
        missing.append("EMAIL_SMTP_SERVER, EMAIL_TO (and EMAIL_USERNAME, EMAIL_PASSWORD)")
    if not missing:
        return Check("environment", Level.PASS, f"{s.mode.value} mode: keys and email settings present")
    level = Level.FAIL if live else (Level.PASS if s.mode is Mode.DEMO else Level.WARN)
    detail = f"{s.mode.value} mode; not set: {'; '.join(missing)}"
    if level is Level.PASS:
        return Check("environment", level, detail + " (demo needs none: emails go to reports/outbox/)")
    return Check("environment", level, detail, "set them in .env (see .env.example); live trading must email every run")


def check_secrets_at_rest(s: Settings, live: bool) -> Check:
    """``.env`` holds the API keys and the SMTP password: readable by its owner only. One
    that group or others can read is a warning on paper and a failure under ``--live``.
    (The state and reports folders need no check: the daily run makes them 0700.)"""
    name = "secrets_at_rest"
    env_file = s.paths.env_file
    if env_file is None or not env_file.is_file():
        return Check(name, Level.PASS, "no .env file: the secrets come from the environment")
    mode = stat.S_IMODE(env_file.stat().st_mode)
    if mode & 0o077:
        return Check(
            name,
            _soft(live),
            f"{env_file} (mode {mode:o}) can be read by {_others(mode)}; it holds the API keys and SMTP password",
            f"chmod 600 {env_file}",
        )
    return Check(name, Level.PASS, f"{env_file}: mode {mode:o}, its owner's only")


def _others(mode: int) -> str:
    """Who besides the owner may read a file of ``mode``."""
    who = [w for w, bits in (("its group", 0o070), ("every user", 0o007)) if mode & bits]
    return " and ".join(who)


def check_trading_mode(s: Settings, live: bool) -> Check:
    name = "trading_mode"
    flags = f"PAPER_TRADING_MODE={str(s.paper_trading_mode).lower()}, PRODUCTION_MODE={str(s.production_mode).lower()}"
    if live:
        if s.mode is Mode.LIVE:
            return Check(name, Level.PASS, f"{flags}: live trading configured")
        return Check(
            name,
            Level.FAIL,
            f"{flags}: the configured mode is {s.mode.value}, not live",
            "for real money set PAPER_TRADING_MODE=false and PRODUCTION_MODE=true with the live keys",
        )
    if s.paper_trading_mode and s.production_mode:
        return Check(
            name,
            Level.WARN,
            f"{flags}: PRODUCTION_MODE has no effect while paper trading is on",
            "set PRODUCTION_MODE=false to stay on paper, or PAPER_TRADING_MODE=false for live trading",
        )
    return Check(name, Level.PASS, f"{flags}: {s.mode.value} mode")


def check_safety_limits(s: Settings, live: bool) -> Check:
    """The $1K limits fit together (load_settings already refused impossible ones)."""
    sf = s.safety
    investable = sf.portfolio_size - sf.min_cash_buffer
    per_position = min(sf.max_position_size, sf.portfolio_size * sf.max_position_pct / 100)
    detail = (
        f"PORTFOLIO_SIZE ${sf.portfolio_size:,.0f}: positions ${sf.min_position_size:,.0f}-${per_position:,.0f} "
        f"(MAX_POSITION_SIZE ${sf.max_position_size:,.0f}, {sf.max_position_pct:g}% of equity), at most "
        f"{sf.max_positions}, cash buffer ${sf.min_cash_buffer:,.0f}"
    )
    if sf.max_positions * per_position < 0.5 * investable:
        return Check(
            "safety_limits",
            Level.WARN,
            detail + f"; {sf.max_positions} x ${per_position:,.0f} invests under half of ${investable:,.0f}",
            "raise MAX_POSITION_SIZE or MAX_POSITIONS, or lower PORTFOLIO_SIZE to the money really traded",
        )
    return Check("safety_limits", Level.PASS, detail)


def check_risk_parameters(s: Settings, live: bool) -> Check:
    r = s.risk
    detail = (
        f"MAX_DRAWDOWN_PCT {r.max_drawdown_pct:g}%, MAX_DAILY_LOSS_PCT {r.max_daily_loss_pct:g}%, "
        f"emergency stop {'on' if r.emergency_stop_enabled else 'OFF'}, circuit breaker "
        f"{'on' if r.circuit_breaker_enabled else 'OFF'}"
    )
    off = [
        v
        for v, on in (
            ("EMERGENCY_STOP_ENABLED", r.emergency_stop_enabled),
            ("CIRCUIT_BREAKER_ENABLED", r.circuit_breaker_enabled),
        )
        if not on
    ]
    if off:
        return Check("risk_parameters", _soft(live), detail, f"set {' and '.join(f'{v}=true' for v in off)}")
    if r.max_drawdown_pct > 30 or r.max_daily_loss_pct > 20:
        return Check(
            "risk_parameters",
            Level.WARN,
            detail + ": looser than a $1K account should run with",
            "the seed's values are MAX_DRAWDOWN_PCT=15 and MAX_DAILY_LOSS_PCT=10",
        )
    if r.max_daily_loss_pct >= r.max_drawdown_pct:
        return Check(
            "risk_parameters",
            Level.WARN,
            detail + ": the daily-loss stop can never fire before the halt",
            "keep MAX_DAILY_LOSS_PCT below MAX_DRAWDOWN_PCT",
        )
    return Check("risk_parameters", Level.PASS, detail)


# -- checks that reach out: broker, SMTP, data ------------------------------------------


def check_alpaca_account(s: Settings, live: bool, account: AccountInfo | None, error: str | None) -> Check:
    name = "alpaca_account"
    if s.mode is Mode.DEMO:
        detail = "demo mode: the simulated account (no Alpaca keys)"
        if live:
            return Check(name, Level.FAIL, detail, "set the live ALPACA_API_KEY and ALPACA_SECRET_KEY in .env")
        return Check(name, Level.PASS, detail)
    if account is None:
        return Check(
            name,
            Level.FAIL,
            f"Alpaca account not reachable: {error}",
            "check ALPACA_API_KEY / ALPACA_SECRET_KEY (paper keys for paper, live for live) and the network",
        )
    kind = "paper" if account.paper else "LIVE"
    detail = f"{kind} account {account.account_number}: {account.status}, equity ${account.equity:,.2f}"
    if account.status != "ACTIVE" or account.blocked:
        return Check(
            name,
            Level.FAIL,
            detail + (" and blocked" if account.blocked else "") + ": trading is not possible",
            "resolve the account's status on the Alpaca dashboard",
        )
    if s.mode is Mode.LIVE and account.paper:
        return Check(
            name,
            Level.FAIL,
            detail + ", but live trading is configured",
            "use the live account's keys, or set PAPER_TRADING_MODE=true",
        )
    if s.mode is Mode.PAPER and live:
        return Check(
            name,
            Level.FAIL,
            detail + ": a paper account cannot trade real money",
            "set the live account's keys and PAPER_TRADING_MODE=false",
        )
    return Check(name, Level.PASS, detail)


def check_account_size(s: Settings, equity: float | None, source: str) -> Check:
    """The limits were set for PORTFOLIO_SIZE: warn when the real account differs a lot."""
    name = "account_size"
    if equity is None:
        return Check(name, Level.SKIP, "no account equity to compare with (see alpaca_account)")
    size = s.safety.portfolio_size
    diff = abs(equity - size) / size
    detail = f"{source} equity ${equity:,.2f} vs PORTFOLIO_SIZE ${size:,.2f} ({diff:.0%} apart)"
    if diff > s.monitor.account_size_tolerance_pct / 100:
        return Check(
            name,
            Level.WARN,
            detail,
            f"set PORTFOLIO_SIZE={equity:.0f} and review MAX_POSITION_SIZE / MIN_POSITION_SIZE for that size",
        )
    return Check(name, Level.PASS, detail)


def check_smtp(s: Settings, live: bool) -> Check:
    em = s.email
    if not (em.smtp_server and em.to):
        return Check(
            "smtp",
            _soft(live) if s.mode is not Mode.DEMO or live else Level.PASS,
            "no SMTP server configured: emails are written to reports/outbox/",
            ""
            if s.mode is Mode.DEMO and not live
            else "set EMAIL_SMTP_SERVER, EMAIL_SMTP_PORT, EMAIL_USERNAME, EMAIL_PASSWORD and EMAIL_TO",
        )
    where = f"{em.smtp_server}:{em.smtp_port}"
    password = s.email_password.get_secret_value() if s.email_password else None
    try:
        check_login(em, password)
    except EmailError as exc:
        return Check("smtp", Level.FAIL, f"{where}: {exc}", "fix the EMAIL_* settings; nothing was sent")
    login = f"login of {em.username} accepted" if em.username else "no login configured"
    return Check("smtp", Level.PASS, f"{where} reachable, TLS, {login} (nothing sent)")


def check_market_data(s: Settings, now: dt.datetime, fetch: Callable[[], Any] | None = None) -> Check:
    """The latest completed session's bar is there (demo: the bundled data's last one)."""
    name = "market_data"
    if s.mode is Mode.DEMO:
        bundled = BundledBarsProvider()
        return Check(
            name,
            Level.PASS,
            f"demo: bundled prices, {len(bundled.symbols())} symbols, "
            f"{bundled.first_session()} to {bundled.last_session()}",
        )
    latest = cal.latest_completed_session(now, s.schedule.bar_settle_minutes)
    symbol = s.universe.benchmark
    vix = s.universe.volatility_index
    start = cal.session_window(latest, 10)[0]
    try:
        got = sourced_bars(make_provider(s), [symbol, *([vix] if vix else [])], start, latest)
    except Exception as exc:  # any data failure is this check's finding
        return Check(
            name,
            Level.FAIL,
            f"{symbol} bars up to {latest} could not be loaded: {exc}",
            "check the Alpaca keys, ALPACA_DATA_URL and the network",
        )
    last = {sym: rows["date"].max().date() for sym, rows in got.bars.groupby("symbol")}
    if last.get(symbol) != latest:
        return Check(
            name,
            Level.FAIL,
            f"the latest {symbol} bar is {last.get(symbol) or 'missing'}, the latest completed session is {latest}"
            + (f" ({got.notes[symbol]})" if symbol in got.notes else ""),
            "the feed is late or the data plan lacks it; run again later, or set data.alpaca.feed in params/data.yaml",
        )
    served = f"{symbol} bar of {latest} (the latest completed session) present, from {got.sources[symbol]}"
    if symbol in got.notes:
        served += f" ({got.notes[symbol]})"
    if not vix:
        return Check(name, Level.PASS, served)
    if last.get(vix) == latest:
        return Check(name, Level.PASS, f"{served}; {vix} from {got.sources[vix]}")
    why = got.notes.get(vix, "no bar")
    return Check(
        name,
        Level.WARN,
        f"{served}; no {vix} bar for {latest} ({why}): the circuit breaker's {vix} part is off",
        "set data.fallback.source: yahoo in params/data.yaml (Alpaca has no index data), "
        "or check that Yahoo Finance is reachable",
    )


# -- local files -------------------------------------------------------------------------


def check_state_database(s: Settings) -> Check:
    """Readable, intact and of a schema this version knows; opened read-only (no migration)."""
    path = s.paths.state_dir / FILE_NAME
    latest = max(Store.steps)
    if not path.exists():
        return Check(
            "state_database", Level.PASS, f"{path} not created yet: the first run creates it (schema v{latest})"
        )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Check(
            "state_database",
            Level.FAIL,
            f"{path} cannot be read: {exc}",
            "restore it from a backup; do not delete it (it holds the equity peak and risk state)",
        )
    if integrity != "ok":
        return Check("state_database", Level.FAIL, f"{path} is damaged: {integrity}", "restore it from a backup")
    if version > latest:
        return Check(
            "state_database",
            Level.FAIL,
            f"{path} has schema v{version}, newer than this version's v{latest}",
            "upgrade AlgoTrading (git pull)",
        )
    if version < latest:
        return Check("state_database", Level.PASS, f"{path} schema v{version}: the next run upgrades it to v{latest}")
    return Check("state_database", Level.PASS, f"{path} intact, schema v{version} (current)")


def check_reports_folder(s: Settings) -> Check:
    folder = s.paths.reports_dir
    try:
        free = check_writable(folder, s.schedule.min_free_disk_mb)
    except StorageError as exc:
        return Check("reports_folder", Level.FAIL, str(exc).split(":")[0], str(exc).split(": ", 1)[-1])
    return Check(
        "reports_folder",
        Level.PASS,
        f"{folder} writable, {free:,.0f} MB free (min_free_disk_mb {s.schedule.min_free_disk_mb})",
    )


def check_paper_sessions(s: Settings, live: bool, now: dt.datetime | None = None) -> Check:
    """The seed's transition plan: enough clean paper sessions before live, and the live
    ramp's scale of the position limits now."""
    name, wanted = "paper_sessions", s.broker.paper_validation_sessions
    if s.mode is Mode.DEMO and not live:
        return Check(name, Level.PASS, f"demo mode: live trading needs {wanted} clean paper sessions first")
    try:
        with open_store(s.paths.state_dir, create=False) as store:
            done = len(paper_sessions(s, store))
            today = (now or dt.datetime.now(dt.UTC)).astimezone(cal.NY).date()
            ramp = live_ramp(s, store, today)
    except StoreError:
        done, ramp = 0, live_ramp(s, None, dt.date.today())
    counted = f"{done} of {wanted} paper sessions so far (run successfully, email delivered, reconciliation explained)"
    if done < wanted:
        return Check(
            name,
            _soft(live or s.mode is Mode.LIVE),
            counted,
            f"keep trading paper (PAPER_TRADING_MODE=true, email configured) for {wanted - done} more session(s); "
            "live --submit is refused until then",
        )
    scale = f"; live position limits now at {ramp.scale:.0%} ({ramp.note})" if ramp.note else ""
    return Check(name, Level.PASS, counted + (scale if s.mode is Mode.LIVE else ""))


#: Sessions ahead whose fire times the schedule check evaluates (a year: both DST changes).
SCHEDULE_CHECK_DAYS = 370


def check_schedule(s: Settings, live: bool, now: dt.datetime | None = None) -> Check:
    """What is really installed: the systemd timer (it names New York itself), or the
    crontab block evaluated the way the running cron daemon fires it, in the host's zone,
    over the next year of sessions; or, in a run an orchestrator's schedule started, that
    orchestrator (it says so in the command's environment: its schedule is not visible here)."""
    orchestrator = schedule.orchestrated_by()
    if orchestrator:
        return Check("schedule", Level.PASS, f"this run was started by a schedule of {orchestrator} (an orchestrator)")
    block = installed_block()
    where = scheduled_by(s, block)
    at = s.schedule.daily_execution_time
    if where == "systemd":
        return Check(
            "schedule",
            Level.PASS,
            f"the daily run is scheduled (systemd) at {at} New York time (the timer names the zone)",
        )
    if where == "crontab":
        return _check_cron_block(s, live, now or dt.datetime.now(dt.UTC), block or "")
    return Check(
        "schedule",
        _soft(live),
        "the daily run is not scheduled for this clone",
        "run `algotrading schedule install` (cron) or `algotrading schedule install --systemd`",
    )


def _check_cron_block(s: Settings, live: bool, now: dt.datetime, block: str) -> Check:
    zone, daemon = host_zone(), cron_daemon()
    fix = "run `algotrading schedule install` again: it writes lines in this host's time for Debian's cron"
    if daemon is None:
        return Check(
            "schedule",
            _soft(live),
            "the crontab block is installed, but no cron daemon is running: it never fires",
            "start it (Debian: systemctl enable --now cron), or use `algotrading schedule install --systemd`",
        )
    today = now.astimezone(schedule.NEW_YORK).date()
    problems = schedule_problems(block, zone, daemon, today, SCHEDULE_CHECK_DAYS)
    honours = daemon in schedule.CRON_TZ_DAEMONS
    how = f"crontab, `{daemon}` {'honours' if honours else 'ignores'} CRON_TZ, host zone {zone.key}"
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("schedule", _soft(live), f"{how}: {problems[0]}{more}", fix)
    day = today
    while not cal.is_session(day):
        day += dt.timedelta(days=1)
    fires = [f for d in (day - dt.timedelta(days=1), day) for f in schedule.fire_times(block, zone, d, daemon)]
    shown = ", ".join(
        f"{f.at:%H:%M} ({f.at.astimezone(zone):%H:%M} {zone.key}{'' if f.works else ': does nothing'})"
        for f in fires
        if f.at.date() == day and not f.pending
    )
    return Check(
        "schedule",
        Level.PASS,
        f"{how}: the daily run works once per session at {s.schedule.daily_execution_time} New York time over the next "
        f"{SCHEDULE_CHECK_DAYS} days (fires on {day}: {shown})",
    )


# -- the whole table ---------------------------------------------------------------------


#: Which check a refused setting belongs to, by the variables its message names.
_PROBLEM_CHECKS = (
    (
        "safety_limits",
        ("PORTFOLIO_SIZE", "MAX_POSITION_SIZE", "MIN_POSITION_SIZE", "MIN_CASH_BUFFER", "MAX_POSITIONS", "safety."),
    ),
    (
        "risk_parameters",
        ("MAX_DRAWDOWN_PCT", "MAX_DAILY_LOSS_PCT", "EMERGENCY_STOP_ENABLED", "CIRCUIT_BREAKER_ENABLED", "risk."),
    ),
    ("trading_mode", ("PAPER_TRADING_MODE", "PRODUCTION_MODE")),
    ("environment", ("ALPACA_", "EMAIL_")),
)


def _check_of_problem(problem: str) -> str:
    for name, markers in _PROBLEM_CHECKS:
        if any(m in problem for m in markers):
            return name
    return "configuration"


def _split_problem(problem: str) -> tuple[str, str]:
    """A configuration message "what: why. Fix." as (what, why and fix)."""
    what, _, rest = problem.partition(": ")
    return (what, rest) if rest else (problem, "")


def _account(s: Settings) -> tuple[AccountInfo | None, str | None]:
    """The broker account (paper/live), or the error reaching it."""
    if s.mode is Mode.DEMO:
        return None, None
    try:
        with make_broker(s, MarketData.from_bars(empty_bars()), dt.date.today()) as broker:
            return broker.account(), None
    except BrokerError as exc:
        return None, str(exc)


def _demo_equity(s: Settings) -> float | None:
    try:
        with open_store(s.paths.state_dir, create=False) as store:
            history = store.equity_history()
    except StoreError:
        return s.safety.portfolio_size  # a fresh demo account starts at PORTFOLIO_SIZE
    return float(history["equity"].iloc[-1]) if len(history) else s.safety.portfolio_size


def validate(
    settings: Settings | None,
    live: bool = False,
    now: dt.datetime | None = None,
    config_error: ConfigError | None = None,
    network: bool = True,
) -> Readiness:
    """Every check, in table order. ``settings`` is None when the configuration did not
    load (``config_error`` says why): the rest is then skipped. Without ``network`` (the
    daily run, whose own steps reach the broker, the data and the SMTP server right
    after) the three network checks are skipped."""
    now = now or dt.datetime.now(dt.UTC)
    if settings is None:
        problems = config_error.problems if config_error is not None else ["the configuration did not load"]
        failed = [Check(_check_of_problem(p), Level.FAIL, *_split_problem(p)) for p in problems]
        names = {c.name for c in failed}
        checks = list(failed)
        if "configuration" not in names:
            names.add("configuration")
            checks.append(
                Check(
                    "configuration",
                    Level.FAIL,
                    f"refused: {len(failed)} problem(s), each under its check",
                    "fix each one below, then run `algotrading validate` again",
                )
            )
        checks += [
            Check(n, Level.SKIP, "not checked: the configuration must load first")
            for n in CHECK_NAMES
            if n not in names
        ]
        return Readiness(live, None, tuple(sorted(checks, key=lambda c: CHECK_NAMES.index(c.name))))
    s = settings
    account, error = _account(s) if network else (None, None)
    equity, source = (
        (account.equity, "Alpaca account")
        if account
        else ((_demo_equity(s), "simulated account") if s.mode is Mode.DEMO else (None, ""))
    )
    later = "not checked here: the run's own {} step does it next"
    checks = [
        Check("configuration", Level.PASS, f"environment, .env and params/*.yaml valid ({len(s.sources)} values)"),
        check_environment(s, live),
        check_secrets_at_rest(s, live),
        check_trading_mode(s, live),
        check_safety_limits(s, live),
        check_risk_parameters(s, live),
        check_alpaca_account(s, live, account, error)
        if network or s.mode is Mode.DEMO
        else Check("alpaca_account", Level.SKIP, later.format("account")),
        check_account_size(s, equity, source),
        check_paper_sessions(s, live, now),
        check_smtp(s, live) if network else Check("smtp", Level.SKIP, later.format("email")),
        check_market_data(s, now)
        if network or s.mode is Mode.DEMO
        else Check("market_data", Level.SKIP, later.format("load_data")),
        check_state_database(s),
        check_reports_folder(s),
        check_schedule(s, live, now),
    ]
    return Readiness(live, s.mode.value, tuple(checks))


def live_blockers(settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Reasons not to send live orders now (empty: go): every FAIL of ``validate --live``."""
    return [f"{c.name}: {c.detail}" for c in validate(settings, live=True, now=now).failures]


def format_table(result: Readiness) -> str:
    """The readiness table for a terminal."""
    width = max(len(c.name) for c in result.checks)
    scope = (
        "the configuration was refused"
        if result.mode is None
        else (f"{result.mode} mode" + (", live checks" if result.live else ""))
    )
    lines = [f"Production readiness ({scope})", ""]
    for c in result.checks:
        lines.append(f"  {c.level.value:<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.level is not Level.PASS:
            lines.append(f"        {'':<{width}}  fix: {c.fix}")
    fails, warns = len(result.failures), len(result.warnings)
    lines += [
        "",
        "PASSED" + (f" with {warns} warning(s)" if warns else "")
        if result.passed
        else f"FAILED: {fails} check(s) failed" + (f", {warns} warning(s)" if warns else ""),
    ]
    return "\n".join(lines)
