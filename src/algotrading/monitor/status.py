"""Daily execution status from the run ledger (Requirement 4.2): ``algotrading status``.

Uptime over N sessions is exact and simple: of the last N NYSE sessions up to the
reference session, counting only sessions on or after the first session the ledger
knows (a new installation is not blamed for days before it existed), the fraction that
have a successful run. The reference session is the latest session whose run should be
over by now (its scheduled time plus ``missed_run_grace_minutes``); in demo mode, whose
sessions are historical, the latest session the ledger has run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from algotrading import calendar as cal
from algotrading.config import Mode, Settings
from algotrading.monitor.alerts import sessions_since_success
from algotrading.ops.schedule import installed
from algotrading.storage.store import Store

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Uptime:
    sessions: int  # the window asked for
    counted: int  # sessions of the window since monitoring began
    ok: int

    @property
    def rate(self) -> float | None:
        return self.ok / self.counted if self.counted else None

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"rate": self.rate}


@dataclass(frozen=True)
class Status:
    """Everything ``algotrading status`` shows."""

    mode: str
    now: str
    reference_session: str | None
    last_success: str | None
    runs: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    uptime: list[Uptime]
    missed: list[str]
    risk: dict[str, Any]
    unsent_emails: list[dict[str, Any]]
    open_alerts: list[dict[str, Any]]
    next_session: str
    next_scheduled: str
    problems: list[str] = field(default_factory=list)
    schedule: str | None = None  # what runs the daily job: crontab | systemd | None (not scheduled)

    @property
    def next_run(self) -> str:
        """The next run in words: when it is due, or that nothing will start it."""
        when = f"{self.next_scheduled[:16].replace('T', ' ')} New York time"
        if self.schedule is None:
            return f"not scheduled (`algotrading schedule install` runs it at {when})"
        return f"{when} (session {self.next_session}, {self.schedule})"

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["uptime"] = [u.to_json() for u in self.uptime]
        out["healthy"] = self.healthy
        return out


def scheduled_at(settings: Settings, session: dt.date) -> dt.datetime:
    """When the daily run of ``session`` is scheduled (aware, New York time)."""
    hh, mm = (int(x) for x in settings.schedule.daily_execution_time.split(":"))
    return dt.datetime.combine(session, dt.time(hh, mm), NEW_YORK)


def next_scheduled(settings: Settings, now: dt.datetime) -> dt.datetime:
    """The next scheduled run on an NYSE session after ``now``."""
    day = now.astimezone(NEW_YORK).date()
    day = day if cal.is_session(day) else cal.next_session(day)
    while scheduled_at(settings, day) <= now:
        day = cal.next_session(day)
    return scheduled_at(settings, day)


def reference_session(settings: Settings, runs: pd.DataFrame, now: dt.datetime) -> dt.date | None:
    """The latest session whose run should be over (see the module docstring)."""
    if settings.mode is Mode.DEMO:
        return None if runs.empty else max(pd.to_datetime(runs["session_date"]).dt.date)
    grace = dt.timedelta(minutes=settings.monitor.missed_run_grace_minutes)
    day = cal.latest_completed_session(now, settings.schedule.bar_settle_minutes)
    while scheduled_at(settings, day) + grace > now:
        day = cal.previous_session(day)
    return day


def uptime(runs: pd.DataFrame, reference: dt.date | None, sessions: int) -> Uptime:
    if runs.empty or reference is None:
        return Uptime(sessions, 0, 0)
    dates = pd.to_datetime(runs["session_date"]).dt.date
    first = dates.min()
    good = set(dates[runs["status"] == "ok"])
    window = [d for d in cal.session_window(reference, sessions) if d >= first]
    return Uptime(sessions, len(window), sum(d in good for d in window))


def _run_rows(runs: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    rows = []
    for r in runs.tail(n).iloc[::-1].itertuples():
        rows.append(
            {
                "session_date": r.session_date,
                "status": r.status,
                "started_at": r.started_at,
                "duration_seconds": None if pd.isna(r.duration_seconds) else round(float(r.duration_seconds), 1),
                "steps": r.steps,
                "failed_step": r.failed_step,
                "error": r.error,
                "mode": r.mode,
            }
        )
    return rows


def build_status(
    settings: Settings, store: Store | None, now: dt.datetime | None = None, schedule: str | None | bool = True
) -> Status:
    """The status from ``store`` (None: no run yet). ``schedule``: what runs the daily job
    (crontab, systemd, None), or True to look (this user's crontab and systemd units)."""
    now = now or dt.datetime.now(dt.UTC)
    scheduler = installed(settings) if schedule is True else (schedule or None)
    mon = settings.monitor
    if store is None:
        runs = pd.DataFrame(
            columns=[
                "run_id",
                "session_date",
                "mode",
                "started_at",
                "finished_at",
                "status",
                "failed_step",
                "error",
                "report_dir",
                "duration_seconds",
                "steps",
            ]
        )
        risk: dict[str, Any] = {"state": "ACTIVE", "since": None, "reason": "no run yet"}
        unsent: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
    else:
        runs = store.runs()
        status = store.risk_status()
        risk = {"state": status.state.value, "since": status.since, "reason": status.reason}
        unsent = [
            {k: e[k] for k in ("id", "session_date", "subject", "attempts", "last_error")}
            for e in store.emails(status="pending")
        ]
        alerts = store.open_alerts()
    reference = reference_session(settings, runs, now)
    ok_dates = pd.to_datetime(runs.loc[runs["status"] == "ok", "session_date"]).dt.date
    missed = sessions_since_success(runs, reference, max(mon.uptime_sessions)) if reference else []
    problems = []
    if runs.empty:
        problems.append("no daily run recorded yet: run ./run_daily.sh, and `algotrading schedule install`")
    if missed:
        problems.append(
            f"{len(missed)} session(s) without a successful run since the last good one: "
            + ", ".join(d.isoformat() for d in missed[-5:])
        )
    if unsent:
        problems.append(f"{len(unsent)} email(s) not delivered (kept in reports/outbox/)")
    if scheduler is None and settings.mode is not Mode.DEMO:
        problems.append("the daily run is not scheduled: `algotrading schedule install`")
    if risk["state"] != "ACTIVE":
        problems.append(f"risk state {risk['state']}: {risk['reason']}")
    following = next_scheduled(settings, now)
    failures = runs[runs["status"] == "failed"]
    return Status(
        mode=settings.mode.value,
        now=now.isoformat(timespec="seconds"),
        reference_session=reference.isoformat() if reference else None,
        last_success=max(ok_dates).isoformat() if len(ok_dates) else None,
        runs=_run_rows(runs, mon.status_runs),
        failures=_run_rows(failures, 5),
        uptime=[uptime(runs, reference, n) for n in mon.uptime_sessions],
        missed=[d.isoformat() for d in missed],
        risk=risk,
        unsent_emails=unsent,
        open_alerts=alerts,
        next_session=following.date().isoformat(),
        next_scheduled=following.isoformat(),
        problems=problems,
        schedule=scheduler,
    )


def format_status(s: Status) -> str:
    """``algotrading status`` for a terminal."""
    lines = [
        f"AlgoTrading status ({s.mode} mode) at {s.now}",
        f"  last successful session: {s.last_success or 'none'}; reference session: {s.reference_session or '-'}",
        "  uptime: "
        + ", ".join(
            f"{u.ok}/{u.counted} of the last {u.sessions} sessions" + (f" ({u.rate:.1%})" if u.rate is not None else "")
            for u in s.uptime
        ),
        f"  risk state: {s.risk['state']}"
        + (f" since {s.risk['since']}: {s.risk['reason']}" if s.risk["since"] else ""),
        f"  next run: {s.next_run}",
        "",
        "Recent runs:",
    ]
    for r in s.runs:
        took = f"{r['duration_seconds']:.1f} s" if r["duration_seconds"] is not None else "-"
        slowest = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r["steps"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(
            f"  {r['session_date']}  {r['status']:<7} {took:>8}  {slowest}"
            + (f"  [{r['failed_step']}: {r['error']}]" if r["status"] == "failed" else "")
            + (f"  [{r['error']}]" if r["status"] == "interrupted" else "")
        )
    if not s.runs:
        lines.append("  (none)")
    if s.open_alerts:
        lines += ["", "Open alerts:"] + [f"  [{a['severity']}] {a['message']}" for a in s.open_alerts]
    lines += ["", "HEALTHY" if s.healthy else "ATTENTION: " + "; ".join(s.problems)]
    return "\n".join(lines)
