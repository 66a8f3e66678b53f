"""The daily job under Prefect (examples/prefect_flow.py, issue 18 point 4), run locally for
real: Prefect's test harness (its server on a temporary SQLite database), the real
``algotrading daily --account NAME`` per account in demo mode on the bundled data, and a
real SMTP server that receives the plans and the alerts. Nothing is mocked: a failure is
a held run lock (exit 1), an unset key variable (exit 2) and a kill at a named point
(``ALGOTRADING_FAULT_AT``, as by ``kill -9``). The harness costs 10-15 s to start, so
the file starts it once and runs the flow twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import yaml

from algotrading.broker.simulated import FILE_NAME as BROKER_FILE
from algotrading.faults import VARIABLE as FAULT
from algotrading.jobs.control import run_lock
from algotrading.storage.store import open_store

from .conftest import ROOT
from .test_email import configure

pytestmark = pytest.mark.slow

SESSION = dt.date(2024, 1, 2)  # a bundled session whose plan has 4 buys
#: In the order of the file: with at_once=2, a waits for c and b for twin (two chains).
ACCOUNTS = [
    {"name": "c", "mode": "demo", "email_to": ["c@example.com"]},  # another run holds its lock
    {
        "name": "twin",
        "mode": "paper",
        "api_key_env": "ALPACA_API_KEY_TWIN",  # never set here: its job is refused (exit 2)
        "secret_key_env": "ALPACA_SECRET_KEY_TWIN",
        "email_to": ["twin@example.com"],
    },
    {"name": "a", "mode": "demo", "email_to": ["a@example.com"]},
    {"name": "b", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 2000}, "email_to": ["b@example.com"]},
]


def _load_example():  # noqa: ANN202 (a module)
    """examples/prefect_flow.py as a module (examples/ is no package)."""
    spec = importlib.util.spec_from_file_location("prefect_flow", ROOT / "examples" / "prefect_flow.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Prefect pickles what the tasks raise: their class must be importable
    spec.loader.exec_module(module)
    return module


example = _load_example()


@pytest.fixture(scope="module")
def harness():  # noqa: ANN201
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def _orders(workdirs: dict[str, Path], name: str) -> list[str]:
    """The client order ids the account's simulated broker holds."""
    import sqlite3

    with sqlite3.connect(workdirs["state"] / name / BROKER_FILE) as db:
        return [row[0] for row in db.execute("SELECT client_order_id FROM orders")]


def test_each_account_is_a_task_retried_on_failure_and_alerted_when_it_gives_up(harness, workdirs, monkeypatch, smtp):
    """a and b: killed (SIGKILL) right after the ledger marked the run done, so the retry
    finds the session done, delivers the email and submits the plan, each once. c: another
    run holds its lock (exit 1) on every attempt: retried twice, then alerted. twin: its key
    variables are unset (exit 2): not retried, alerted. One failing account stops no other."""
    configure(workdirs, monkeypatch, smtp)
    (workdirs["params"] / "accounts.yaml").write_text(yaml.safe_dump({"accounts": ACCOUNTS}))
    monkeypatch.setenv(FAULT, "run:marked_done")
    with run_lock(workdirs["state"] / "c"):
        state = example.daily(SESSION, submit=True, at_once=2, retries=2, retry_delay_seconds=0, return_state=True)
    assert state.is_failed()
    assert "2 of 4 account(s) failed for good (alerted): c, twin; done: a (attempt 2), b (attempt 2)" in state.message

    for name, spent in (("a", 900), ("b", 1200)):
        folder = workdirs["reports"] / name / SESSION.isoformat()
        assert (folder / "report.html").is_file()
        plan = json.loads((folder / "plan.json").read_text())
        assert [o["side"] for o in plan["orders"]] == ["buy"] * 4 and sum(
            o["notional"] for o in plan["orders"]
        ) == spent
        assert sorted(_orders(workdirs, name)) == sorted(o["client_order_id"] for o in plan["orders"])  # each once
        with open_store(workdirs["state"] / name) as store:
            assert list(store.runs()["status"]) == ["ok"]  # one run: the retry found it done
    assert not (workdirs["reports"] / "c" / SESSION.isoformat()).exists()
    assert not (workdirs["reports"] / "_shared").exists()  # each account alone: nothing shared between tasks

    received = [(m.rcpt_tos, m.message["Subject"]) for m in smtp.messages]
    plans = [(["a@example.com"], f"AlgoTrading Daily Signals - {SESSION}")]
    plans += [(["b@example.com"], f"AlgoTrading Daily Signals - {SESSION}")]
    assert sorted(r for r in received if "Daily Signals" in r[1]) == plans  # each delivered once
    alerts = {to[0]: subject for to, subject in received if subject.startswith("AlgoTrading ALERT")}
    assert alerts == {
        "c@example.com": f"AlgoTrading ALERT - {SESSION}: account c: the daily job failed 3 time(s) (exit 1), no "
        "retry left",
        "twin@example.com": f"AlgoTrading ALERT - {SESSION}: account twin: its configuration is refused (exit 2), "
        "not retried",
    }
    assert len(received) == 4
    body = {m.rcpt_tos[0]: m.message.get_body(("plain",)).get_content() for m in smtp.messages}
    assert f"command (3 attempt(s)): algotrading daily --date {SESSION} --submit --account c" in body["c@example.com"]
    assert "another daily run holds" in body["c@example.com"]
    assert (
        f"command (1 attempt(s)): algotrading daily --date {SESSION} --submit --account twin"
        in body["twin@example.com"]
    )
    assert "ALPACA_API_KEY_TWIN is not set in the environment" in body["twin@example.com"]


def test_a_command_past_its_time_limit_is_stopped_with_its_process_group_and_alerted(harness, workdirs, monkeypatch):
    """The task's own limit (run_timeout_seconds + 10 minutes in use; none here): the command
    and what it started get SIGTERM, the attempt fails like a killed one, the alert goes out
    (to the outbox: no SMTP here)."""
    monkeypatch.setattr(example, "task_timeout", lambda: 0.0)  # stopped as soon as it started
    state = example.daily(SESSION, retries=0, return_state=True)
    assert state.is_failed() and "1 of 1 account(s) failed for good (alerted): account; done: none" in state.message
    (alert,) = (workdirs["reports"] / "outbox").glob("alert-*.eml")
    subject = BytesParser(policy=policy.default).parsebytes(alert.read_bytes())["Subject"]
    assert subject.startswith(
        f"AlgoTrading ALERT - {SESSION}: the daily job failed 1 time(s) (stopped after 0 s, signal"
    )
    assert not (workdirs["reports"] / SESSION.isoformat()).exists()


def test_the_schedules_fire_after_the_close_in_new_york_time_whatever_the_season(workdirs):
    """``serve`` deploys the flow with the cron job's times and flags, in New York time:
    16:30 there is 21:30 UTC in winter and 20:30 UTC in summer (Prefect's own scheduler)."""
    from prefect.server.schemas.schedules import CronSchedule

    twin = ACCOUNTS[1]  # a paper account: with --submit, the morning run too
    (workdirs["params"] / "accounts.yaml").write_text(yaml.safe_dump({"accounts": [ACCOUNTS[2], twin]}))
    served = {d.name: d for d in example.deployments(submit=True)}
    assert set(served) == {"after-the-close", "morning-pending"}
    assert served["after-the-close"].parameters == {"submit": True, "confirm_live": False}
    assert served["morning-pending"].parameters == {"submit": True, "confirm_live": False, "pending": True}

    def fires(name: str, start: dt.datetime) -> list[str]:
        (schedule,) = served[name].schedules
        cron = CronSchedule(**schedule.schedule.model_dump(include={"cron", "timezone"}))
        return [f"{d.astimezone(dt.UTC):%a %H:%M}" for d in asyncio.run(cron.get_dates(n=2, start=start))]

    assert fires("after-the-close", dt.datetime(2026, 1, 15, tzinfo=dt.UTC)) == ["Thu 21:30", "Fri 21:30"]
    assert fires("after-the-close", dt.datetime(2026, 7, 16, tzinfo=dt.UTC)) == ["Thu 20:30", "Fri 20:30"]
    assert fires("morning-pending", dt.datetime(2026, 7, 16, tzinfo=dt.UTC)) == ["Thu 13:45", "Fri 13:45"]
    (workdirs["params"] / "accounts.yaml").unlink()  # a single demo account: no morning run
    assert [d.name for d in example.deployments(submit=True)] == ["after-the-close"]


def test_a_paper_twin_is_run_before_its_live_account_and_waited_for(workdirs, monkeypatch):
    """A live account's report compares it with its paper twin's state of the same evening:
    the twin's task comes first, and the live account's task waits for it even when
    accounts run side by side."""
    monkeypatch.setenv("PRODUCTION_MODE", "true")
    live = {"name": "real", "mode": "live", "api_key_env": "K_REAL", "secret_key_env": "S_REAL"}
    twin = {"name": "shadow", "mode": "paper", "twin_of": "real", "api_key_env": "K_SH", "secret_key_env": "S_SH"}
    demo = ACCOUNTS[2]
    (workdirs["params"] / "accounts.yaml").write_text(yaml.safe_dump({"accounts": [live, demo, twin]}))
    assert example.account_names() == ["shadow", "real", demo["name"]]
    assert example.twins() == {"real": "shadow"}
    assert example.run_names(["real", "shadow", "real"]) == ["shadow", "real"]  # named in any order, each once
    assert example.run_names(["nope", demo["name"]]) == [demo["name"], "nope"]


def test_an_alert_that_cannot_be_sent_stops_no_other_accounts_alert(harness, workdirs, monkeypatch):
    """Two accounts refused (their keys unset: exit 2, not retried); the first one's alert
    command hangs past its limit: the second account is still alerted and the flow run
    names both."""
    unset = [ACCOUNTS[1] | {"name": name, "email_to": [f"{name}@example.com"]} for name in ("p1", "p2")]
    (workdirs["params"] / "accounts.yaml").write_text(yaml.safe_dump({"accounts": unset}))
    alerted: list[str | None] = []

    def alert(failure, account, date):  # noqa: ANN001, ANN202
        alerted.append(account)
        if len(alerted) == 1:
            raise subprocess.TimeoutExpired(["algotrading", "alert"], 600)
        return "alerted"

    monkeypatch.setattr(example, "alert_account", alert)
    state = example.daily(SESSION, retries=0, return_state=True)
    assert state.is_failed() and "2 of 2 account(s) failed for good (alerted): p1, p2" in state.message
    assert sorted(alerted) == ["p1", "p2"]
