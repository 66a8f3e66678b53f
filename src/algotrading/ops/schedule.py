"""The 4:30 PM ET schedule (DESIGN §3): a cron entry with ``CRON_TZ=America/New_York``
or a systemd service + timer pair, both calling ``run_daily.sh``. Weekends are left out
by the schedule; holidays are no-ops through the calendar.

With ``--submit`` (paper/live) a second, morning entry sends the buys that wait for the
sells to fill (``--submit --pending``) shortly after the 9:30 open.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from algotrading.config import Mode, Settings

BEGIN, END = "# >>> algotrading (managed by `algotrading schedule install`)", "# <<< algotrading"
MORNING = "09:45"
UNIT = "algotrading-daily"
MORNING_UNIT = "algotrading-pending"


class ScheduleError(RuntimeError):
    pass


def _command(settings: Settings, extra: str) -> str:
    root = settings.paths.root
    log = settings.paths.reports_dir / "cron.log"
    return f"cd {shlex.quote(str(root))} && ./run_daily.sh{extra} >> {shlex.quote(str(log))} 2>&1"


def _flags(settings: Settings, submit: bool) -> str:
    if not submit:
        return ""
    return " --submit" + (" --confirm-live" if settings.mode is Mode.LIVE else "")


def cron_text(settings: Settings, submit: bool = False) -> str:
    """The crontab block (between markers, so install can replace it)."""
    hh, mm = (int(x) for x in settings.schedule.daily_execution_time.split(":"))
    lines = [
        BEGIN,
        "CRON_TZ=America/New_York",
        "SHELL=/bin/bash",
        f"PATH={os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
        f"# the daily run at {settings.schedule.daily_execution_time} New York time, Monday to Friday",
        f"{mm} {hh} * * 1-5 {_command(settings, _flags(settings, submit))}",
    ]
    if submit and settings.mode is not Mode.DEMO:
        mh, mmm = (int(x) for x in MORNING.split(":"))
        lines += [
            "# the morning run: buys that wait for yesterday's sells to fill",
            f"{mmm} {mh} * * 1-5 {_command(settings, _flags(settings, submit) + ' --pending')}",
        ]
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
    if submit and settings.mode is not Mode.DEMO:
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


def crontab_command() -> str:
    """The crontab program (``ALGOTRADING_CRONTAB_CMD`` replaces it, e.g. in tests)."""
    return os.environ.get("ALGOTRADING_CRONTAB_CMD", "crontab")


def systemd_user_dir() -> Path:
    return Path.home() / ".config" / "systemd" / "user"


def installed(settings: Settings, systemd_dir: Path | None = None) -> str | None:
    """Where the daily run of this clone is scheduled: ``crontab`` (the managed block
    naming this folder), ``systemd`` (the user service naming it), or None."""
    root = str(settings.paths.root)
    try:
        listed = subprocess.run([crontab_command(), "-l"], capture_output=True, text=True, timeout=30)
        if listed.returncode == 0 and BEGIN in listed.stdout and root in listed.stdout:
            return "crontab"
    except (OSError, subprocess.SubprocessError):
        pass  # no cron here: maybe systemd
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
