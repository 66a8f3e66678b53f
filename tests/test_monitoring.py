"""Monitoring and alerting (Requirement 4.2): alert conditions on crafted series, missed
runs and uptime from a known ledger, the store's raise-once semantics, ``algotrading
status``, and a daily run that raises, sends and shows its alerts."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from email import policy
from email.parser import BytesParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from algotrading import calendar as cal
from algotrading.cli import main
from algotrading.config import load_settings
from algotrading.decisions.risk import RiskState, RiskStatus
from algotrading.jobs.daily import run_daily
from algotrading.monitor import alerts as al
from algotrading.monitor.dashboard import kpi_html, render_status_page, timeline_frame
from algotrading.monitor.status import build_status, format_status, uptime
from algotrading.storage.store import Alert, open_store

from .conftest import ROOT
from .test_email import Webhook

D = dt.date(2025, 12, 31)


def frame(columns: dict[str, list[float]], end: dt.date = D) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"date": pd.DatetimeIndex(cal.session_window(end, n))} | columns)


# -- strategy alerts ---------------------------------------------------------------------


def test_momentum_alert_fires_when_it_turns_negative_and_stays_quiet_otherwise():
    turned = frame({"golden_cross": [0.05, 0.03, 0.01, -0.01, -0.02], "mean_reversion": [0.01, 0.02, 0.03, 0.02, 0.04]})
    (a,) = al.momentum_alerts(turned, D)
    days = cal.session_window(D, 5)
    assert a.key == "strategy_momentum:golden_cross" and a.severity == "warning"
    assert f"turned negative on {days[3]}, from +1.0%; now -2.0%" in a.message
    recovered = frame({"golden_cross": [-0.05, -0.03, 0.01, 0.02, 0.001]})
    assert al.momentum_alerts(recovered, D) == []
    assert al.momentum_alerts(turned, days[2]) == []  # as of an earlier session: not yet negative


def test_drawdown_alert_at_the_level():
    equity = frame({"a": [1000, 1200, 1100, 960], "b": [1000, 1100, 1050, 1000], "benchmark": [1000, 500, 400, 300]})
    (a,) = al.drawdown_alerts(equity, D, 20)
    assert a.key == "strategy_drawdown:a" and "20.0% below its peak of " in a.message  # 960 / 1200 - 1
    assert al.drawdown_alerts(equity, D, 20.1) == []  # b is 9.1% down; the benchmark is not a strategy


def test_correlation_alert_when_two_strategies_start_moving_together():
    rng = np.random.default_rng(7)
    n, w = 130, 63
    x, y, z = (rng.normal(0, 0.01, n) for _ in range(3))
    y[-w:] = x[-w:] + rng.normal(0, 0.001, w)  # b copies a over the last window only
    curves = {k: list(1000 * np.cumprod(1 + r)) for k, r in (("a", x), ("b", y), ("c", z))}
    curves["flat"] = [1000.0] * n  # a strategy that never traded has no correlation
    (a,) = al.correlation_alerts(frame(curves), D, 0.8, w)
    assert a.key == "strategy_correlation:a|b"
    now, before = (float(v) for v in re.findall(r"correlate (\d\.\d\d) .*, (-?\d\.\d\d) the", a.message)[0])
    assert now > 0.99 and abs(before) < 0.3
    independent = {k: v for k, v in curves.items() if k != "b"}
    assert al.correlation_alerts(frame(independent), D, 0.8, w) == []
    assert al.correlation_alerts(frame(curves).iloc[-40:], D, 0.8, w) == []  # too short to judge


def test_exclusion_alert_after_three_sessions_in_a_row():
    days = [d.isoformat() for d in cal.session_window(D, 3)]
    rows = [(d, "XYZ", "stale: last bar 2025-12-24") for d in days] + [(days[0], "ABC", "bad"), (days[2], "ABC", "bad")]
    rows += [(d, "^VIX", "no data") for d in days]
    excl = pd.DataFrame(rows, columns=["session_date", "symbol", "reason"])
    (a,) = al.exclusion_alerts(excl, D, 3, ["XYZ", "ABC", "SPY"])
    assert a.key == "data_excluded:XYZ" and f"excluded 3 sessions in a row since {days[0]}" in a.message
    assert al.exclusion_alerts(excl, D, 4, ["XYZ"]) == []


def test_risk_alert_while_halted():
    assert al.risk_alerts(RiskStatus(RiskState.ACTIVE)) == []
    (a,) = al.risk_alerts(RiskStatus(RiskState.HALTED, "2025-12-30T21:30:00+00:00", "drawdown 15.2%"))
    assert a.severity == "urgent" and "HALTED since 2025-12-30" in a.message


# -- the ledger: missed runs and uptime ----------------------------------------------------


def ledger(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_date": [d for d, _ in rows],
            "status": [s for _, s in rows],
            "started_at": [f"{d}T21:30:00+00:00" for d, _ in rows],
        }
    )


def test_missed_sessions_are_those_without_any_run_since_the_last_good_one():
    runs = ledger([("2025-12-19", "ok"), ("2025-12-22", "ok"), ("2025-12-29", "failed")])
    assert al.sessions_since_success(runs, D, 90, inclusive=False, untried_only=True) == [
        dt.date(2025, 12, 23),
        dt.date(2025, 12, 24),
        dt.date(2025, 12, 26),
        dt.date(2025, 12, 30),
    ]  # 12-25 is Christmas
    assert al.sessions_since_success(runs, dt.date(2025, 12, 30), 90) == [
        dt.date(2025, 12, 23),
        dt.date(2025, 12, 24),
        dt.date(2025, 12, 26),
        dt.date(2025, 12, 29),
        dt.date(2025, 12, 30),
    ]
    assert al.sessions_since_success(ledger([("2025-12-29", "failed")]), D, 90) == []  # nothing good yet: a new install
    (a,) = al.missed_run_alerts([dt.date(2025, 12, 23), dt.date(2025, 12, 24)])
    assert a.severity == "urgent" and a.message.startswith("2 session(s) had no daily run: 2025-12-23, 2025-12-24.")


def test_uptime_is_exact_on_a_known_ledger():
    sessions = cal.sessions_between(dt.date(2025, 11, 3), D)  # 41 sessions (Thanksgiving and Christmas closed)
    assert len(sessions) == 41
    failed = {sessions[5], sessions[17], sessions[30]}
    missing = {sessions[10], sessions[40]}
    runs = ledger(
        [(d.isoformat(), "failed" if d in failed else "ok") for d in sessions if d not in missing]
        + [(sessions[5].isoformat(), "ok")]
    )  # a failed session re-run successfully the same day
    u30, u90 = uptime(runs, D, 30), uptime(runs, D, 90)
    assert (u30.counted, u30.ok) == (30, 27)  # sessions[11:41]: [17] and [30] failed, [40] never ran
    assert (u90.counted, u90.ok) == (41, 37)  # only the 41 since the first run count: 2 failed, 2 never ran
    assert u90.rate == pytest.approx(37 / 41)


def test_store_raises_an_alert_once_keeps_it_then_resolves_and_reopens(workdirs):
    a = Alert("strategy_momentum:x", "strategy_momentum", "warning", "x negative")
    with open_store(workdirs["state"]) as store:
        assert store.sync_alerts(["strategy_momentum"], [a], D) == [a]
        assert store.sync_alerts(["strategy_momentum"], [a], D) == []  # still true: not raised again
        assert [r["key"] for r in store.open_alerts()] == [a.key]
        assert store.sync_alerts(["data_excluded"], [], D) == []  # another kind's evaluation leaves it alone
        assert len(store.open_alerts()) == 1
        store.sync_alerts(["strategy_momentum"], [], D)  # no longer true: resolved
        assert store.open_alerts() == []
        assert store.sync_alerts(["strategy_momentum"], [a], D) == [a]  # back again: a new alert


def _record(store, session: str, status: str, seconds: float = 20.0) -> None:
    run_id = f"{session}-{status}"
    store.start_run(run_id, dt.date.fromisoformat(session), "demo")
    store.finish_run(
        run_id,
        status,
        "notebook:10_strategies" if status == "failed" else None,
        "ValueError: boom" if status == "failed" else None,
        None,
        {"load_data": 0.5, "notebook:10_strategies": seconds - 0.5},
        seconds,
    )


def test_status_check_exits_1_on_a_gap_and_json_reports_the_runs(workdirs, capsys):
    assert main(["status", "--check"]) == 1  # nothing ran yet
    with open_store(workdirs["state"]) as store:
        for day in ("2025-12-22", "2025-12-23", "2025-12-24"):
            _record(store, day, "ok")
        _record(store, "2025-12-31", "failed")
    capsys.readouterr()
    assert main(["status", "--check"]) == 1
    out = capsys.readouterr().out
    assert (
        "4 session(s) without a successful run since the last good one: 2025-12-26, 2025-12-29, 2025-12-30, 2025-12-31"
    ) in out
    assert "2025-12-31  failed" in out and "[notebook:10_strategies: ValueError: boom]" in out
    assert main(["status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["session_date"] for r in doc["runs"]] == ["2025-12-31", "2025-12-24", "2025-12-23", "2025-12-22"]
    assert doc["runs"][1]["steps"] == {"load_data": 0.5, "notebook:10_strategies": 19.5}
    assert doc["uptime"][0] == {"sessions": 30, "counted": 7, "ok": 3, "rate": 3 / 7}
    assert doc["healthy"] is False and doc["missed"][-1] == "2025-12-31"
    with open_store(workdirs["state"]) as store:
        _record(store, "2025-12-31", "ok")
    assert main(["status", "--check"]) == 0


def test_paper_reference_session_waits_for_the_grace_period(workdirs, monkeypatch):
    monkeypatch.setenv("ALPACA_API_KEY", "PKXXXXXXXX")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secretxxxxxxxx")
    settings = load_settings()
    with open_store(workdirs["state"]) as store:
        _record(store, "2025-12-30", "ok")
        at_1700 = dt.datetime(2025, 12, 31, 22, 0, tzinfo=dt.UTC)  # 17:00 New York, grace until 18:30
        assert build_status(settings, store, at_1700, schedule="crontab").healthy
        at_1900 = dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC)
        late = build_status(settings, store, at_1900, schedule="crontab")
        assert late.missed == ["2025-12-31"] and not late.healthy
        assert late.next_scheduled == "2026-01-02T16:30:00-05:00"  # New Year's Day is closed
        assert late.next_run == "2026-01-02 16:30 New York time (session 2026-01-02, crontab)"
        # nothing installed: never "healthy, next run 16:30"; a paper account needs its schedule
        bare = build_status(settings, store, at_1700, schedule=None)
        assert (
            bare.next_run == "not scheduled (`algotrading schedule install` runs it at 2026-01-02 16:30 New York time)"
        )
        assert bare.problems == ["the daily run is not scheduled: `algotrading schedule install`"]
        assert "  next run: not scheduled (`algotrading schedule install`" in format_status(bare)


def test_status_page_of_an_unscheduled_demo_says_not_scheduled(workdirs):
    with open_store(workdirs["state"]) as store:
        _record(store, "2025-12-30", "ok")
        now = dt.datetime(2025, 12, 31, 22, 0, tzinfo=dt.UTC)
        status = build_status(load_settings(), store, now, schedule=None)
    assert status.healthy  # demo runs when the user starts it
    html = kpi_html(status)
    assert "<b>not scheduled</b><span>next run (New York)</span>" in html
    assert "<b>Healthy.</b> Next run: not scheduled (`algotrading schedule install` runs it at 2026-01-02 16:30" in html


def test_status_page_renders_offline(workdirs):
    with open_store(workdirs["state"]) as store:
        _record(store, "2025-12-29", "ok")
        _record(store, "2025-12-30", "failed")
        store.record_equity(dt.date(2025, 12, 29), 1000.0, 1000.0, "simulated")
        store.sync_alerts(["missed_run"], [Alert("missed_run:x", "missed_run", "urgent", "1 session(s) had no run")], D)
        page = render_status_page(load_settings(), store)
        timeline = timeline_frame(store.runs(), dt.date(2025, 12, 30), 30)
    assert dict(zip(timeline["day"].astype(str), timeline["status"], strict=True)) == {
        "2025-12-29": "ok",
        "2025-12-30": "failed",
    }
    assert "Run timeline" in page and "Seconds per step" in page and "1 session(s) had no run" in page
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:", page)  # nothing fetched from a network
    # a run reads as its session and start time (not "2025-12-29 -ok"); one equity point is said, not drawn
    assert re.search(r"2025-12-29, run \d\d:\d\d:\d\d UTC", page)
    assert "Equity recorded: $1,000.00 on 2025-12-29. The chart starts once 3 sessions are recorded (1 so far)." in page


# -- the daily run raises, sends and shows alerts ------------------------------------------


@pytest.mark.slow
def test_a_run_after_a_gap_sends_an_urgent_alert_and_shows_it(workdirs, monkeypatch, tmp_path):
    hook = Webhook()
    monkeypatch.setenv("ALERT_WEBHOOK_URL", hook.url)
    try:
        with open_store(workdirs["state"]) as store:
            _record(store, "2025-12-24", "ok")
        result = run_daily(load_settings(), D)
    finally:
        hook.stop()
    assert result.exit_code == 0, result.message
    out = workdirs["reports"] / "2025-12-31"
    assert json.loads((out / "validation.json").read_text())["passed"] is True
    doc = json.loads((out / "alerts.json").read_text())
    (missed,) = [a for a in doc["new"] if a["kind"] == "missed_run"]
    assert missed["message"].startswith("3 session(s) had no daily run: 2025-12-26, 2025-12-29, 2025-12-30.")
    assert any(
        h["text"].startswith("AlgoTrading ALERT - 2025-12-31") or "ALERT" in json.dumps(h) for h in hook.received
    )
    (alert_mail,) = (workdirs["reports"] / "outbox").glob("alert-2025-12-31-*.eml")
    msg = BytesParser(policy=policy.default).parsebytes(alert_mail.read_bytes())
    assert msg["Subject"].startswith("AlgoTrading ALERT - 2025-12-31: 3 session(s) had no daily run")
    daily = BytesParser(policy=policy.default).parsebytes((out / "email.eml").read_bytes())
    text = daily.get_body(preferencelist=("plain",)).get_content()
    assert "ALERTS (" in text and "new: 3 session(s) had no daily run" in text
    assert text.index("NEXT DAY TRADING PLAN") < text.index("POSITION CONSOLIDATION") < text.index("ALERTS")
    page = (workdirs["reports"] / "status.html").read_text()
    assert "3 session(s) had no daily run" in page
    run = json.loads((out / "run.json").read_text())
    assert list(run["steps"])[0] == "validate" and "alerts" in run["steps"]


@pytest.mark.slow
def test_the_dashboard_notebook_runs_in_demo_and_renders_offline(workdirs, tmp_path):
    from algotrading.report.render import ensure_kernel, execute_notebook, render_html

    assert run_daily(load_settings(), dt.date(2022, 3, 1), submit=True).exit_code == 0  # four buys sent
    assert run_daily(load_settings(), dt.date(2022, 3, 2)).exit_code == 0  # filled at the 03-02 open
    out = tmp_path / "dashboard.ipynb"
    execute_notebook(
        ROOT / "notebooks" / "dashboard.ipynb", out, {"session_date": "2022-03-02"}, tmp_path, 300, ensure_kernel(), 300
    )
    size = render_html(out, tmp_path / "dashboard.html", "Dashboard")
    page = (tmp_path / "dashboard.html").read_text()
    assert size > 1_000_000 and not re.search(r"<script[^>]+src=\"http", page)
    for symbol in ("BAC", "JPM", "MA", "XLF"):
        assert re.search(rf"<td><b>{symbol}</b><br/?>", page)  # the positions with their P&L
    assert "SPY buy and hold" in page and "Rolling 90-day strategy momentum" in page
    if shutil.which("chromium"):
        dom = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--dump-dom",
                f"--user-data-dir={tmp_path / 'chrome'}",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--virtual-time-budget=5000",
                (tmp_path / "dashboard.html").as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        assert "plot-container" in dom  # plotly drew the figures with no network


@pytest.mark.slow
def test_the_dashboard_notebook_reads_an_alpaca_paper_account(workdirs, monkeypatch, tmp_path):
    """Paper mode: alpaca-py against the local Alpaca server (account, positions, bars)."""
    from algotrading.data.bundled import BundledBarsProvider
    from algotrading.report.render import ensure_kernel, execute_notebook, render_html

    from .alpaca_server import KEY, SECRET, FakeAlpaca

    symbols = load_settings().universe.all_symbols
    fake = FakeAlpaca(
        bars=BundledBarsProvider().get_bars(symbols, dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
        cash=412.50,
        positions={"MSFT": {"qty": 0.6, "avg": 480.0, "price": 483.62}},
    ).start()
    try:
        for key, value in fake.environment().items():
            monkeypatch.setenv(key, value)
        out = tmp_path / "dashboard.ipynb"
        execute_notebook(
            ROOT / "notebooks" / "dashboard.ipynb",
            out,
            {"session_date": "2025-12-31"},
            tmp_path,
            300,
            ensure_kernel(),
            300,
        )
        render_html(out, tmp_path / "dashboard.html", "Dashboard")
    finally:
        fake.stop()
    page = (tmp_path / "dashboard.html").read_text()
    assert re.search(r"<td><b>MSFT</b><br/?>", page) and "412.50" in page  # the broker's position and cash
    assert fake.hits("/v2/account", "GET") >= 1 and fake.hits("/v2/positions", "GET") >= 1
    assert KEY not in page and SECRET not in page


def test_no_run_yet_status(workdirs, capsys):
    assert main(["status"]) == 0
    assert "no daily run recorded yet" in capsys.readouterr().out
    assert not Path(workdirs["state"], "algotrading.sqlite3").exists()  # status only reads
