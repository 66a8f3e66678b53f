"""Several accounts in one daily run (issue 18 point 1, params/accounts.yaml): real demo
runs through the command line, no mocks. Each run costs a few seconds per account, so
the file keeps to three runs of accounts and one of a single account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from algotrading.cli import main
from algotrading.storage.store import FILE_NAME

SESSION = "2024-01-02"  # a bundled session whose plan has 4 buys
THREE = [
    {"name": "small", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 1000}},
    {"name": "medium", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 2000, "MAX_POSITION_SIZE": 500}},
    {"name": "large", "mode": "demo", "limits": {"PORTFOLIO_SIZE": 5000, "MAX_POSITION_SIZE": 1000}},
]


def _write(workdirs: dict[str, Path], accounts: list[dict]) -> None:
    (workdirs["params"] / "accounts.yaml").write_text(yaml.safe_dump({"accounts": accounts}))


def _buys(workdirs: dict[str, Path], name: str) -> dict[str, float]:
    plan = json.loads((workdirs["reports"] / name / SESSION / "plan.json").read_text())
    return {o["symbol"]: o["notional"] for o in plan["orders"] if o["side"] == "buy"}


def test_three_accounts_share_one_strategies_step_and_size_by_their_own_limits(workdirs, capsys):
    _write(workdirs, THREE)
    assert main(["daily", "--date", SESSION]) == 0
    out = capsys.readouterr().out
    assert "3 account(s): 3 ok" in out
    reports, state = workdirs["reports"], workdirs["state"]
    # each plan sized by its own limits (MAX_POSITION_SIZE 300 by default, 30% of equity, $100 buffer)
    assert _buys(workdirs, "small") == {"SBUX": 300.0, "ABBV": 200.0, "HON": 200.0, "IWM": 200.0}
    assert _buys(workdirs, "medium") == {"SBUX": 500.0, "ABBV": 466.66, "HON": 466.67, "IWM": 466.67}
    assert _buys(workdirs, "large") == {"SBUX": 1000.0, "ABBV": 1000.0, "HON": 1000.0, "IWM": 1000.0}
    for name, equity in (("small", 1000), ("medium", 2000), ("large", 5000)):
        folder = reports / name / SESSION
        assert {"report.html", "email.eml", "plan.json", "run.json", "10_strategies.ipynb"} <= {
            p.name for p in folder.iterdir()
        }
        assert json.loads((folder / "portfolio.json").read_text())["equity"] == equity
        assert f"{name}: OK: plan for the open after {SESSION}: 4 buy(s)" in out
        assert str(folder / "report.html") in out
        assert (state / name / FILE_NAME).is_file()  # its own ledger ...
    assert not (state / FILE_NAME).exists()  # ... and none for the base settings
    # the strategies step ran once: one executed notebook in the shared folder, the same signals everywhere
    shared = reports / "_shared" / SESSION / "demo"
    assert [p.relative_to(reports / "_shared") for p in (reports / "_shared").rglob("10_strategies.ipynb")] == [
        Path(SESSION, "demo", "10_strategies.ipynb")
    ]
    signals = (shared / "signals.parquet").read_bytes()
    assert all(
        (reports / n / SESSION / "signals.parquet").read_bytes() == signals for n in ("small", "medium", "large")
    )
    steps = {n: json.loads((reports / n / SESSION / "run.json").read_text())["steps"] for n in ("small", "large")}
    assert steps["large"]["notebook:10_strategies"] < 0.5  # copied, not executed

    # a second run the same day: every account already done, nothing computed again
    assert main(["daily", "--date", SESSION]) == 0
    again = capsys.readouterr().out
    assert again.count(": ALREADY_DONE:") == 3 and "3 account(s): 3 ok" in again
    assert not (reports / "_shared" / SESSION).exists()


def test_failing_accounts_stop_none_of_the_others_and_rerun_when_fixed(workdirs, capsys):
    twin = {"name": "twin", "mode": "paper", "api_key_env": "ALPACA_API_KEY_TWIN", "secret_key_env": "SECRET_TWIN"}
    tight = {"name": "tight", "mode": "demo", "limits": {"MIN_POSITION_SIZE": 400, "MAX_POSITION_SIZE": 300}}
    _write(workdirs, [twin, THREE[0], tight])
    assert main(["daily", "--date", SESSION]) == 1
    out = capsys.readouterr().out
    assert "3 account(s): 1 ok, 2 FAILED (twin, tight)" in out
    assert "twin: FAILED: account 'twin', field 'api_key_env': ALPACA_API_KEY_TWIN is not set" in out
    assert "tight: FAILED: account 'tight': MIN_POSITION_SIZE ($400) is larger than MAX_POSITION_SIZE ($300)" in out
    assert "small: OK" in out and (workdirs["reports"] / "small" / SESSION / "report.html").is_file()
    assert not (workdirs["reports"] / "tight").exists()

    tight["limits"] = {"MIN_POSITION_SIZE": 100}  # fixed: the failed account runs, the done one does nothing
    _write(workdirs, [THREE[0], tight])
    assert main(["daily", "--date", SESSION]) == 0
    out = capsys.readouterr().out
    assert "small: ALREADY_DONE" in out and "tight: OK: plan for the open after" in out
    assert (workdirs["reports"] / "tight" / SESSION / "report.html").is_file()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "a", "mode": "demo", "limit": {}}, "account 'a', field 'limit': unknown key"),
        ({"name": "a", "mode": "demo", "limits": {"PORTFOLIO": 5}}, "account 'a', field 'limits.PORTFOLIO': unknown"),
        ({"name": "a", "mode": "paper", "secret_key_env": "S"}, "account 'a': a paper account needs api_key_env"),
        ({"name": "a", "mode": "live", "api_key_env": "K", "secret_key_env": "S"}, "needs PRODUCTION_MODE=true"),
        ({"name": "a", "mode": "demo", "api_key_env": "K"}, "account 'a': a demo account runs on the bundled"),
        ({"name": "Bad Name", "mode": "demo"}, "field 'name' = 'Bad Name': not a slug"),
    ],
)
def test_a_bad_accounts_file_exits_2_naming_the_account_and_the_field(workdirs, capsys, entry, expected):
    _write(workdirs, [entry])
    assert main(["daily", "--date", SESSION]) == 2
    assert expected in capsys.readouterr().err
    assert not workdirs["reports"].exists() or not any(workdirs["reports"].iterdir())


def test_duplicate_names_exit_2(workdirs, capsys):
    _write(workdirs, [THREE[0], THREE[0]])
    assert main(["config", "show"]) == 2
    assert "account names must be unique: small appear" in capsys.readouterr().err


def test_config_show_and_status_list_the_accounts_without_secrets(workdirs, capsys, tmp_path, monkeypatch):
    env = tmp_path / ".env"  # the accounts' key variables may live in .env
    env.write_text("ALPACA_API_KEY_TWIN=PKSECRETVALUE1\nALPACA_SECRET_KEY_TWIN=SECRETVALUE2\n")
    monkeypatch.setenv("ALGOTRADING_ENV_FILE", str(env))
    twin = {"name": "twin", "mode": "paper", "api_key_env": "ALPACA_API_KEY_TWIN"}
    _write(workdirs, [THREE[0], twin | {"secret_key_env": "ALPACA_SECRET_KEY_TWIN", "email_to": ["t@example.com"]}])
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "accounts.small.limits.PORTFOLIO_SIZE = 1000" in out
    assert "accounts.twin.keys.ALPACA_API_KEY_TWIN = set" in out
    assert "accounts.twin.email_to = ['t@example.com']" in out
    assert "SECRETVALUE" not in out
    assert main(["status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["accounts"]) == {"small", "twin"}
    assert "SECRETVALUE" not in json.dumps(doc)


def test_without_an_accounts_file_the_run_is_the_single_account_of_today(workdirs, capsys):
    assert not (workdirs["params"] / "accounts.yaml").exists()
    assert main(["daily", "--date", SESSION]) == 0
    assert "account(s)" not in capsys.readouterr().out
    folders = {p.name for p in workdirs["reports"].iterdir() if p.is_dir()}
    assert folders <= {SESSION, "outbox", ".staging"} and SESSION in folders
    assert (workdirs["state"] / FILE_NAME).is_file()


def test_one_scheduled_job_runs_every_account_and_confirms_a_live_one(workdirs, monkeypatch):
    from algotrading.config import load_settings
    from algotrading.ops.schedule import cron_text

    _write(workdirs, [THREE[0]])
    text = cron_text(load_settings(), submit=True)
    assert "run_daily.sh --at 16:30 --submit >>" in text and "--confirm-live" not in text
    live = {"name": "real", "mode": "live", "api_key_env": "K_REAL", "secret_key_env": "S_REAL"}
    _write(workdirs, [THREE[0], live])
    text = cron_text(load_settings(), submit=True)
    assert "run_daily.sh --at 16:30 --submit --confirm-live >>" in text


def test_the_morning_run_is_scheduled_when_an_account_trades_at_alpaca_and_skips_the_demo_ones(workdirs, capsys):
    """The base settings are demo here (no keys in the environment); a paper account of
    the file still needs the morning --pending run, which leaves the demo accounts alone."""
    from algotrading.cli import main
    from algotrading.config import load_settings
    from algotrading.ops.schedule import cron_text, systemd_units

    _write(workdirs, [THREE[0]])  # demo only: no morning run, as for a single demo account
    assert "--pending" not in cron_text(load_settings(), submit=True)
    paper = {"name": "paper1", "mode": "paper", "api_key_env": "K_PAPER", "secret_key_env": "S_PAPER"}
    _write(workdirs, [THREE[0], paper])
    assert "--at 09:45 --submit --pending >>" in cron_text(load_settings(), submit=True)
    assert "algotrading-pending.service" in systemd_units(load_settings(), submit=True)
    assert main(["daily", "--submit", "--pending", "--date", "2024-01-03"]) == 1  # paper1 has no keys set
    out = capsys.readouterr().out
    assert f"{THREE[0]['name']}: NOTHING_TO_DO: demo: the next daily run sends the buys" in out
    assert "paper1: FAILED" in out and "K_PAPER is not set" in out


def test_one_account_alone_refuses_what_it_cannot_run_and_the_alert_command_reaches_its_recipients(workdirs, capsys):
    """`daily --account NAME` (an orchestrator's task per account: examples/prefect_flow.py,
    run for real in test_orchestrator.py) exits 2 when it cannot run that account; `alert
    --account NAME` goes to the account's recipients and outbox even when its keys are
    unset (the alert may be about that), and with the base settings when the name is unknown."""
    assert main(["daily", "--account", "small", "--date", SESSION]) == 2
    assert "--account small: there is no params/accounts.yaml" in capsys.readouterr().err
    twin = {"name": "twin", "mode": "paper", "api_key_env": "ALPACA_API_KEY_TWIN", "secret_key_env": "SECRET_TWIN"}
    _write(workdirs, [THREE[0], twin | {"email_to": ["t@example.com"]}])
    assert main(["daily", "--account", "nope", "--date", SESSION]) == 2
    assert "--account nope: params/accounts.yaml has no such account (its accounts: small, twin)" in (
        capsys.readouterr().err
    )
    assert main(["daily", "--account", "twin", "--date", SESSION]) == 2
    assert "account 'twin', field 'api_key_env': ALPACA_API_KEY_TWIN is not set" in capsys.readouterr().err
    assert not workdirs["reports"].exists() or not any(workdirs["reports"].iterdir())

    assert main(["alert", "--account", "twin", "--date", SESSION, "the job failed", "its   output"]) == 0
    (sent,) = (workdirs["reports"] / "twin" / "outbox").glob("alert-*.eml")
    text = sent.read_text()
    assert f"Subject: AlgoTrading ALERT - {SESSION}: the job failed" in text and "To: t@example.com" in text
    assert "* its output" in text
    assert main(["alert", "--account", "gone", "--date", SESSION, "about gone"]) == 0
    assert "the alert goes out with the base settings: params/accounts.yaml has no account gone" in (
        capsys.readouterr().err
    )
    assert len(list((workdirs["reports"] / "outbox").glob("alert-*.eml"))) == 1
