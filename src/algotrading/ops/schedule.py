"""The schedule (DESIGN §3): crontab lines in the host's own time, or a systemd service +
timer pair, both calling ``run_daily.sh`` after the close.

Debian's and Ubuntu's cron (vixie cron 3.0pl1) ignores ``CRON_TZ``: it fires at the host's
local time. New York's offset from the host changes with daylight saving time (and, on a
host with its own DST, on other dates), so one New York time is two or three host times
over a year. The block therefore has one line per host time that
``DAILY_EXECUTION_TIME`` New York time can be, each running ``run_daily.sh --at HH:MM``;
``--at`` does nothing unless it is that time in New York (within :data:`AT_WINDOW_MINUTES`),
so exactly one of them works each session. The systemd timer names the zone itself
(``OnCalendar=... America/New_York``) and stays the recommended alternative.

With ``--submit`` (paper/live) a second, morning job sends the buys that wait for the
sells to fill (``--submit --pending``) after the 9:30 open, guarded the same way.
:func:`fire_times` evaluates an installed block the way the cron daemon does, so
``algotrading validate`` can say when the job really fires in New York time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from algotrading import calendar as cal
from algotrading.config import Mode, Settings
from algotrading.daily.accounts import account_modes, has_live_account

BEGIN, END = "# >>> algotrading (managed by `algotrading schedule install`)", "# <<< algotrading"
MORNING = "09:45"
UNIT = "algotrading-daily"
MORNING_UNIT = "algotrading-pending"
NEW_YORK = ZoneInfo("America/New_York")
#: ``--at HH:MM`` works from HH:MM to this many minutes later, New York time: wide enough
#: for a late cron, narrower than the hour between the two daylight-saving variants.
AT_WINDOW_MINUTES = 20
#: Cron daemons that honour ``CRON_TZ`` (cronie, busybox); Debian's ``cron`` does not.
CRON_TZ_DAEMONS = frozenset({"crond", "cronie"})


#: Set by an orchestrator's scheduled run for the commands it starts (examples/prefect_flow.py:
#: ``Prefect deployment after-the-close``): the daily run is scheduled, outside cron and systemd.
SCHEDULED_BY = "ALGOTRADING_SCHEDULED_BY"


class ScheduleError(RuntimeError):
    pass


def orchestrated_by() -> str | None:
    """The orchestrator whose scheduled run started this command (:data:`SCHEDULED_BY`), or None."""
    return os.environ.get(SCHEDULED_BY) or None


# -- time zones --------------------------------------------------------------------------


def host_zone() -> ZoneInfo:
    """The zone the host's cron daemon fires in: the system zone (``/etc/timezone`` or the
    ``/etc/localtime`` link), not the ``TZ`` of the shell that runs ``schedule install``;
    ``ALGOTRADING_HOST_TZ`` overrides it. UTC when none can be read."""
    names = [os.environ.get("ALGOTRADING_HOST_TZ", "")]
    try:
        names.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        names.append(str(localtime.resolve()).partition("zoneinfo/")[2])
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _hh_mm(text: str) -> dt.time:
    hh, mm = (int(x) for x in text.split(":"))
    return dt.time(hh, mm)


@dataclass(frozen=True)
class Slot:
    """One crontab time: minute, hour and the host's weekdays (cron numbers, Sunday 0)."""

    minute: int
    hour: int
    weekdays: tuple[int, ...]

    def fields(self) -> str:
        """``M H * * DOW``, runs of weekdays written as ranges (``1-5``)."""
        runs: list[list[int]] = []
        for d in self.weekdays:
            if runs and d == runs[-1][-1] + 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        dow = ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
        return f"{self.minute} {self.hour} * * {dow}"


def host_slots(new_york: str, zone: ZoneInfo, year: int) -> list[Slot]:
    """Every host time (``zone``) that ``new_york`` (HH:MM) on a New York weekday can be,
    over ``year`` and the next one (both zones' DST rules), with the host weekdays it falls
    on. Sorted by hour and minute."""
    at = _hh_mm(new_york)
    seen: dict[tuple[int, int], set[int]] = {}
    day = dt.date(year, 1, 1)
    while day.year <= year + 1:
        if day.weekday() < 5:
            local = dt.datetime.combine(day, at, NEW_YORK).astimezone(zone)
            seen.setdefault((local.hour, local.minute), set()).add(local.isoweekday() % 7)
        day += dt.timedelta(days=1)
    return [Slot(m, h, tuple(sorted(days))) for (h, m), days in sorted(seen.items())]


def is_due(new_york: str, now: dt.datetime) -> bool:
    """Whether ``now`` is within :data:`AT_WINDOW_MINUTES` from ``new_york`` (HH:MM) New York time."""
    local = now.astimezone(NEW_YORK)
    start = dt.datetime.combine(local.date(), _hh_mm(new_york), NEW_YORK)
    return start <= local < start + dt.timedelta(minutes=AT_WINDOW_MINUTES)


# -- what install writes ------------------------------------------------------------------


def _command(settings: Settings, extra: str) -> str:
    root = settings.paths.root
    log = settings.paths.reports_dir / "cron.log"
    return f"cd {shlex.quote(str(root))} && ./run_daily.sh{extra} >> {shlex.quote(str(log))} 2>&1"


def confirms_live(settings: Settings) -> bool:
    """Whether a scheduled ``--submit`` adds ``--confirm-live``: in live mode, or when any
    account of ``params/accounts.yaml`` is live (one job runs them all), as a live single
    account's does. Also what examples/prefect_flow.py schedules."""
    return settings.mode is Mode.LIVE or has_live_account(settings.paths.params_dir)


def _flags(settings: Settings, submit: bool) -> str:
    """The run's flags (``--submit``, with ``--confirm-live`` when :func:`confirms_live`)."""
    if not submit:
        return ""
    return " --submit" + (" --confirm-live" if confirms_live(settings) else "")


def has_morning_run(settings: Settings, submit: bool) -> bool:
    """Whether the schedule has the morning ``--pending`` run: with ``--submit``, for an
    account at Alpaca (paper or live; demo fills its waiting buys in the next daily run),
    or for any such account of ``params/accounts.yaml``."""
    modes = account_modes(settings.paths.params_dir) or {settings.mode.value}
    return submit and bool(modes & {Mode.PAPER.value, Mode.LIVE.value})


def cron_text(settings: Settings, submit: bool = False, zone: ZoneInfo | None = None, year: int | None = None) -> str:
    """The crontab block (between markers, so install can replace it), in the host's time
    ``zone`` (default :func:`host_zone`), valid for ``year`` and the next (default: now)."""
    zone = zone or host_zone()
    year = year or dt.date.today().year
    at = settings.schedule.daily_execution_time
    lines = [
        BEGIN,
        "SHELL=/bin/bash",
        f"PATH={os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
        f"# the daily run at {at} New York time, Monday to Friday. cron fires in this host's zone",
        f"# ({zone.key}) and Debian's cron ignores CRON_TZ, so there is a line for each {zone.key} time",
        f"# that {at} New York can be; `--at {at}` does nothing at the others.",
    ]
    lines += [
        f"{s.fields()} {_command(settings, f' --at {at}' + _flags(settings, submit))}"
        for s in host_slots(at, zone, year)
    ]
    if has_morning_run(settings, submit):
        lines.append(f"# the morning run at {MORNING} New York time: buys that wait for yesterday's sells to fill")
        lines += [
            f"{s.fields()} {_command(settings, f' --at {MORNING}' + _flags(settings, submit) + ' --pending')}"
            for s in host_slots(MORNING, zone, year)
        ]
    lines.append(f"# regenerate with `algotrading schedule install` when {zone.key} or DAILY_EXECUTION_TIME changes")
    return "\n".join(lines + [END]) + "\n"


def systemd_units(settings: Settings, submit: bool = False) -> dict[str, str]:
    """File name -> content of the user units (service + timer, and the morning pair)."""
    root = settings.paths.root
    timeout = settings.schedule.run_timeout_seconds + 600

    def pair(name: str, description: str, when: str, extra: str) -> dict[str, str]:
        return {
            f"{name}.service": (
                f"[Unit]\nDescription={description}\n\n[Service]\nType=oneshot\nWorkingDirectory={root}\n"
                f"ExecStart={root}/run_daily.sh{extra}\nTimeoutStartSec={timeout}\n"
            ),
            f"{name}.timer": (
                f"[Unit]\nDescription={description} (timer)\n\n[Timer]\nOnCalendar=Mon..Fri *-*-* {when}:00 "
                "America/New_York\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
            ),
        }

    units = pair(UNIT, "AlgoTrading daily run", settings.schedule.daily_execution_time, _flags(settings, submit))
    if has_morning_run(settings, submit):
        units |= pair(
            MORNING_UNIT,
            "AlgoTrading morning run (buys after sells fill)",
            MORNING,
            _flags(settings, submit) + " --pending",
        )
    return units


def merge_crontab(current: str, block: str) -> str:
    """``current`` with the managed block replaced (or appended), everything else kept."""
    out, inside = [], False
    for line in current.splitlines():
        if line.strip() == BEGIN:
            inside = True
            continue
        if line.strip() == END:
            inside = False
            continue
        if not inside:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return ("\n".join(out) + "\n\n" if out else "") + block


# -- what is installed, and when it really fires -------------------------------------------


def crontab_command() -> str:
    """The crontab program (``ALGOTRADING_CRONTAB_CMD`` replaces it, e.g. in tests)."""
    return os.environ.get("ALGOTRADING_CRONTAB_CMD", "crontab")


def systemd_user_dir() -> Path:
    return Path.home() / ".config" / "systemd" / "user"


def installed_block() -> str | None:
    """The managed block in this user's crontab (markers included), or None."""
    try:
        listed = subprocess.run([crontab_command(), "-l"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None  # no cron here
    if listed.returncode != 0 or BEGIN not in listed.stdout:
        return None
    start = listed.stdout.index(BEGIN)
    end = listed.stdout.find(END, start)
    return listed.stdout[start : end + len(END) if end >= 0 else None]


def cron_daemon() -> str | None:
    """The name of the running cron daemon (``cron``: Debian/Ubuntu, ignores CRON_TZ;
    ``crond``: cronie, honours it), or None when none runs. ``ALGOTRADING_CRON_DAEMON``
    overrides what the process table says (tests, containers)."""
    named = os.environ.get("ALGOTRADING_CRON_DAEMON")
    if named is not None:
        return named or None
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:
            continue
        if name in ("cron", "crond", "cronie"):
            return name
    return None


_FIELD = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+)$")


def _values(field: str, low: int, high: int) -> set[int]:
    """The numbers a crontab field matches (``*``, lists, ranges, steps)."""
    out: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(x) for x in base.split("-"))
        else:
            first = last = int(base)
        out.update(range(first, last + 1, int(step) if step else 1))
    return out


@dataclass(frozen=True)
class Firing:
    """One firing of one crontab line: when (New York time) and what it runs."""

    at: dt.datetime  # New York time
    command: str

    @property
    def guard(self) -> str | None:
        """The ``--at HH:MM`` the command carries, if any."""
        found = re.search(r"--at (\d\d:\d\d)", self.command)
        return found.group(1) if found else None

    @property
    def works(self) -> bool:
        """Whether the run does something (no ``--at``, or ``--at`` is due)."""
        return self.guard is None or is_due(self.guard, self.at)

    @property
    def pending(self) -> bool:
        return "--pending" in self.command


def fire_times(block: str, zone: ZoneInfo, day: dt.date, daemon: str | None = "cron") -> list[Firing]:
    """When the lines of ``block`` fire on the host's calendar ``day`` (host ``zone``), in
    New York time, as Debian's cron does: in host local time, ``CRON_TZ`` ignored unless the
    ``daemon`` honours it. Day-of-month and month must be ``*`` (what install writes)."""
    tz = zone
    out: list[Firing] = []
    for raw in block.splitlines():
        line = raw.strip()
        if line.startswith("CRON_TZ=") and daemon in CRON_TZ_DAEMONS:
            tz = ZoneInfo(line.split("=", 1)[1].strip())
            continue
        match = _FIELD.match(line)
        if not match or line.startswith("#") or "=" in line.split()[0]:
            continue
        minute, hour, dom, month, dow, command = match.groups()
        if dom != "*" or month != "*":
            continue
        weekdays = {d % 7 for d in _values(dow, 0, 7)}
        if day.isoweekday() % 7 not in weekdays:
            continue
        for h in sorted(_values(hour, 0, 23)):
            for m in sorted(_values(minute, 0, 59)):
                out.append(Firing(dt.datetime.combine(day, dt.time(h, m), tz).astimezone(NEW_YORK), command))
    return sorted(out, key=lambda f: f.at)


def schedule_problems(block: str, zone: ZoneInfo, daemon: str | None, start: dt.date, days: int) -> list[str]:
    """What is wrong with ``block`` over ``days`` New York sessions from ``start``: a daily
    run that works while the market is open or before the bar is final, a session with no
    (or more than one) working daily run, a morning run outside the open. Empty: fine."""
    problems: list[str] = []
    day = start
    for _ in range(days):
        if cal.is_session(day):
            opens = cal.session_open(day)
            close = cal.session_close(day)
            # host days around the New York day: a firing may fall on the host's next/previous date
            firings = [
                f
                for d in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1))
                for f in fire_times(block, zone, d, daemon)
                if f.at.date() == day and f.works
            ]
            daily = [f for f in firings if not f.pending]
            for f in daily:
                if opens <= f.at < close + dt.timedelta(minutes=15):
                    problems.append(
                        f"{day}: the daily run would start at {f.at:%H:%M} New York time, while the market is open "
                        f"or before the bar is final (close {close:%H:%M})"
                    )
                if f.at.hour >= 18:
                    problems.append(f"{day}: the daily run would start at {f.at:%H:%M} New York time, after 18:00")
            if len(daily) != 1:
                problems.append(f"{day}: {len(daily)} working daily runs (one expected)")
            for f in firings:
                if f.pending and not opens <= f.at < close:
                    problems.append(
                        f"{day}: the morning run would start at {f.at:%H:%M} New York time, outside the session"
                    )
        day += dt.timedelta(days=1)
    return problems


def installed(settings: Settings, systemd_dir: Path | None = None) -> str | None:
    """Where the daily run of this clone is scheduled: ``crontab`` (the managed block
    naming this folder), ``systemd`` (the user service naming it), or None."""
    return scheduled_by(settings, installed_block(), systemd_dir)


def scheduled_by(settings: Settings, block: str | None, systemd_dir: Path | None = None) -> str | None:
    """:func:`installed` for a crontab ``block`` already read."""
    root = str(settings.paths.root)
    if block is not None and root in block:
        return "crontab"
    service = (systemd_dir or systemd_user_dir()) / f"{UNIT}.service"
    if service.is_file() and root in service.read_text(errors="replace") and service.with_suffix(".timer").is_file():
        return "systemd"
    return None


def install_cron(settings: Settings, submit: bool = False) -> str:
    """Put the block into this user's crontab (idempotent). Returns the new crontab."""
    crontab = crontab_command()
    try:
        listed = subprocess.run([crontab, "-l"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ScheduleError(
            f"`{crontab}` not found: install cron (Debian: apt-get install cron), or use `algotrading schedule "
            "install --systemd`"
        ) from None
    current = listed.stdout if listed.returncode == 0 else ""  # "no crontab for user" is exit 1
    merged = merge_crontab(current, cron_text(settings, submit))
    done = subprocess.run([crontab, "-"], input=merged, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise ScheduleError(f"`{crontab} -` refused the new crontab: {done.stderr.strip()}")
    return merged


def install_systemd(settings: Settings, folder: Path, submit: bool = False) -> list[Path]:
    """Write the user units into ``folder`` (default ~/.config/systemd/user)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in systemd_units(settings, submit).items():
        path = folder / name
        path.write_text(text)
        paths.append(path)
    return paths
