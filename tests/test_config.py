"""Configuration: defaults, overrides, .env, every impossible setting refused with its own
message, mode derivation, and redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from algotrading.cli import main
from algotrading.config import ConfigError, Mode, load_settings


def problems_for(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return info.value.problems


def test_defaults_come_from_params_yaml(workdirs):
    s = load_settings()
    assert s.mode is Mode.DEMO
    assert (s.safety.portfolio_size, s.safety.max_position_size, s.safety.min_position_size) == (1000, 300, 50)
    assert (s.safety.min_cash_buffer, s.safety.max_positions) == (100, 4)
    assert (s.risk.max_drawdown_pct, s.risk.max_daily_loss_pct) == (15, 10)
    assert (s.ranking.momentum_lookback_days, s.ranking.min_momentum_threshold) == (90, 0.0)
    assert s.schedule.daily_execution_time == "16:30"
    assert s.sources["safety.max_positions"] == "params/safety.yaml"
    assert len(s.universe.symbols) >= 50
    assert s.universe.market_symbols == ["^VIX"]  # SPY is already a universe symbol


def test_default_universe_groups(workdirs):
    groups = load_settings().universe.groups
    assert list(groups) == ["broad_etfs", "sector_etfs", "other_etfs", "stocks"]
    assert sum(len(v) for v in groups.values()) == 60


def test_environment_overrides_yaml(workdirs, monkeypatch):
    monkeypatch.setenv("MAX_POSITIONS", "3")
    monkeypatch.setenv("EMAIL_TO", "a@example.com, b@example.com")
    monkeypatch.setenv("EMERGENCY_STOP_ENABLED", "false")
    s = load_settings()
    assert s.safety.max_positions == 3
    assert s.sources["safety.max_positions"] == "environment"
    assert s.email.to == ["a@example.com", "b@example.com"]
    assert s.risk.emergency_stop_enabled is False


def test_dotenv_file_is_read(workdirs, monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_POSITION_SIZE=250\nALPACA_API_KEY=\n")  # empty = unset, as in .env.example
    monkeypatch.setenv("ALGOTRADING_ENV_FILE", str(env_file))
    s = load_settings()
    assert s.safety.max_position_size == 250
    assert s.sources["safety.max_position_size"] == ".env"
    assert s.mode is Mode.DEMO


def test_the_folders_of_env_example_work_from_dotenv(workdirs, monkeypatch, tmp_path):
    """.env.example lists ALGOTRADING_REPORTS_DIR and ALGOTRADING_STATE_DIR: set in .env
    they move the folders (a relative one is under the project), and the environment wins."""
    from algotrading.paths import project_root

    env_file = tmp_path / ".env"
    env_file.write_text(f"ALGOTRADING_REPORTS_DIR={tmp_path / 'my-reports'}\nALGOTRADING_STATE_DIR=my-state\n")
    monkeypatch.setenv("ALGOTRADING_ENV_FILE", str(env_file))
    monkeypatch.delenv("ALGOTRADING_REPORTS_DIR")
    monkeypatch.delenv("ALGOTRADING_STATE_DIR")
    s = load_settings()
    assert s.paths.reports_dir == tmp_path / "my-reports"
    assert s.paths.state_dir == project_root() / "my-state"
    monkeypatch.setenv("ALGOTRADING_STATE_DIR", str(tmp_path / "from-environment"))
    assert load_settings().paths.state_dir == tmp_path / "from-environment"


def test_misspelt_dotenv_name_is_refused(workdirs, monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("MAX_POSITON_SIZE=250\n")
    monkeypatch.setenv("ALGOTRADING_ENV_FILE", str(env_file))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        f"{env_file}: MAX_POSITON_SIZE is not a setting AlgoTrading knows. Did you mean MAX_POSITION_SIZE?"
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"MIN_POSITION_SIZE": "60", "MAX_POSITION_SIZE": "55"},
            "MIN_POSITION_SIZE ($60) is larger than MAX_POSITION_SIZE ($55)",
            id="min-above-max",
        ),
        pytest.param(
            {"MIN_POSITION_SIZE": "250"},
            "MAX_POSITIONS x MIN_POSITION_SIZE (4 x $250 = $1000) exceeds PORTFOLIO_SIZE - MIN_CASH_BUFFER "
            "($1000 - $100 = $900)",
            id="positions-times-min-above-investable",
        ),
        pytest.param(
            {"MIN_CASH_BUFFER": "1000"},
            "MIN_CASH_BUFFER ($1000) is not below PORTFOLIO_SIZE ($1000)",
            id="buffer-eats-account",
        ),
        pytest.param(
            {"CONFIDENCE_WEIGHT": "0.6"},
            "CONFIDENCE_WEIGHT + MOMENTUM_WEIGHT = 0.6 + 0.5 = 1.1, not 1",
            id="weights-not-summing-to-one",
        ),
        pytest.param(
            {"MAX_DRAWDOWN_PCT": "150"},
            "MAX_DRAWDOWN_PCT = '150': input should be less than 100. Expected a percent between 0 and 100",
            id="drawdown-over-100",
        ),
        pytest.param(
            {"MAX_DAILY_LOSS_PCT": "0"},
            "MAX_DAILY_LOSS_PCT = '0': input should be greater than 0",
            id="daily-loss-zero",
        ),
        pytest.param(
            {"MIN_MOMENTUM_THRESHOLD": "5"},
            "MIN_MOMENTUM_THRESHOLD = '5': input should be less than or equal to 1. Expected a fraction",
            id="threshold-given-as-percent",
        ),
        pytest.param(
            {"MAX_POSITIONS": "four"},
            "MAX_POSITIONS = 'four': input should be a valid integer",
            id="not-a-number",
        ),
        pytest.param(
            {"PAPER_TRADING_MODE": "false", "PRODUCTION_MODE": "true"},
            "PAPER_TRADING_MODE=false (live trading) needs ALPACA_API_KEY and ALPACA_SECRET_KEY",
            id="live-without-keys",
        ),
        pytest.param(
            {"PAPER_TRADING_MODE": "false", "ALPACA_API_KEY": "k" * 20, "ALPACA_SECRET_KEY": "s" * 40},
            "PAPER_TRADING_MODE=false without PRODUCTION_MODE=true",
            id="live-without-production-flag",
        ),
        pytest.param(
            {"ALPACA_API_KEY": "k" * 20},
            "ALPACA_API_KEY is set but ALPACA_SECRET_KEY is not",
            id="half-a-key-pair",
        ),
        pytest.param(
            {"PORTFOLIO_SIZE": "inf"},
            "PORTFOLIO_SIZE = 'inf': input should be a finite number. Expected account size in dollars",
            id="infinite-account",
        ),
        pytest.param(
            {"MAX_POSITION_SIZE": "nan"},
            "MAX_POSITION_SIZE = 'nan': input should be a finite number. Expected dollars, e.g. 300.",
            id="nan-limit",
        ),
        pytest.param(
            {"PAPER_TRADING_MODE": "maybe"},
            "PAPER_TRADING_MODE = 'maybe': not a boolean",
            id="flag-not-boolean",
        ),
        pytest.param(
            {"DAILY_EXECUTION_TIME": "16:00"},
            "DAILY_EXECUTION_TIME=16:00 is before 16:15 ET",
            id="runs-before-bars-are-final",
        ),
        pytest.param(
            {"DAILY_EXECUTION_TIME": "4pm"},
            "DAILY_EXECUTION_TIME = '4pm': value error, must be HH:MM on a 24-hour clock",
            id="time-format",
        ),
        pytest.param(
            {"EMAIL_SMTP_SERVER": "smtp.example.com", "EMAIL_FROM": "me@example.com"},
            "EMAIL_SMTP_SERVER is set but EMAIL_TO is empty",
            id="smtp-without-recipient",
        ),
        pytest.param(
            {"EMAIL_USERNAME": "me@example.com"},
            "EMAIL_USERNAME is set but EMAIL_PASSWORD is not",
            id="login-without-password",
        ),
        pytest.param(
            {"EMAIL_TO": "not-an-address"},
            "EMAIL_TO = 'not-an-address': value error, not email addresses: not-an-address",
            id="bad-recipient",
        ),
        pytest.param(
            {"EMAIL_SMTP_PORT": "70000"},
            "EMAIL_SMTP_PORT = '70000': input should be less than or equal to 65535",
            id="port-out-of-range",
        ),
    ],
)
def test_each_impossible_setting_gets_its_own_message(workdirs, monkeypatch, env, expected):
    problems = problems_for(monkeypatch, **env)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_all_problems_are_reported_together(workdirs, monkeypatch):
    problems = problems_for(monkeypatch, MIN_POSITION_SIZE="60", MAX_POSITION_SIZE="55", MOMENTUM_WEIGHT="0.9")
    assert len(problems) == 2
    assert any("MIN_POSITION_SIZE ($60)" in p for p in problems)
    assert any("MOMENTUM_WEIGHT = 0.5 + 0.9" in p for p in problems)


def _edit_yaml(path: Path, **changes: object) -> None:
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    path.write_text(yaml.safe_dump(doc))


def test_unknown_yaml_key_is_refused(workdirs):
    _edit_yaml(workdirs["params"] / "safety.yaml", max_postions=3)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        "params/safety.yaml: unknown key 'max_postions'. Did you mean 'max_positions'? Fix: correct or remove it."
    ]


def test_unknown_nested_yaml_key_is_refused(workdirs):
    path = workdirs["params"] / "risk.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["circuit_breaker"]["vix_limit"] = 30
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        "params/risk.yaml: unknown key 'circuit_breaker.vix_limit'. Fix: correct or remove it."
    ]


def test_missing_yaml_key_and_file(workdirs):
    path = workdirs["params"] / "ranking.yaml"
    doc = yaml.safe_load(path.read_text())
    del doc["max_correlation"]
    path.write_text(yaml.safe_dump(doc))
    (workdirs["params"] / "email.yaml").unlink()
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert sorted(info.value.problems) == sorted(
        [
            "params/ranking.yaml: missing key 'max_correlation'. "
            "Fix: add it (the repository's params/ranking.yaml has the default).",
            f"params/email.yaml is missing from {workdirs['params']}: restore it from the repository.",
        ]
    )


def test_invalid_yaml_value_names_the_file_and_variable(workdirs):
    _edit_yaml(workdirs["params"] / "safety.yaml", max_positions=0)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.problems == [
        "params/safety.yaml: max_positions [MAX_POSITIONS] = 0: input should be greater than or equal to 1. "
        "Expected a whole number of positions, e.g. 4."
    ]


def test_universe_problems(workdirs):
    _edit_yaml(
        workdirs["params"] / "universe.yaml",
        groups={"a": ["SPY", "aapl"], "b": ["SPY"], "c": []},
    )
    with pytest.raises(ConfigError) as info:
        load_settings()
    (problem,) = info.value.problems
    assert "'aapl' in group 'a' is not a ticker" in problem
    assert "'SPY' is in both 'a' and 'b'" in problem
    assert "group 'c' is empty" in problem


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({}, Mode.DEMO),
        ({"ALPACA_API_KEY": "PKTESTKEY123", "ALPACA_SECRET_KEY": "secret-value-xyz"}, Mode.PAPER),
        (
            {
                "ALPACA_API_KEY": "AKLIVEKEY123",
                "ALPACA_SECRET_KEY": "secret-value-xyz",
                "PAPER_TRADING_MODE": "false",
                "PRODUCTION_MODE": "true",
            },
            Mode.LIVE,
        ),
        ({"PRODUCTION_MODE": "true"}, Mode.DEMO),
    ],
)
def test_mode_is_derived_from_settings(workdirs, monkeypatch, env, mode):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_settings().mode is mode


SECRETS = {
    "ALPACA_API_KEY": "PKDISTINCTIVEKEY0001",
    "ALPACA_SECRET_KEY": "distinctive-secret-0002",
    "EMAIL_USERNAME": "me@example.com",
    "EMAIL_PASSWORD": "distinctive-password-0003",
}


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_redacts_secrets(workdirs, monkeypatch, capsys, as_json):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    code = main(["config", "show"] + (["--json"] if as_json else []))
    out = capsys.readouterr().out
    assert code == 0
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "EMAIL_PASSWORD"):
        assert SECRETS[name] not in out
    assert "***" in out
    assert "me@example.com" in out  # a username is not a secret
    if as_json:
        doc = json.loads(out)
        assert doc["mode"] == "paper"
        assert doc["alpaca"]["api_key"] == "***" and doc["email"]["password"] == "***"
    else:
        assert "safety.max_positions = 4   [params/safety.yaml]" in out


def test_secret_values_are_available_for_redaction(workdirs, monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    assert set(load_settings().secret_values()) == {
        SECRETS["ALPACA_API_KEY"],
        SECRETS["ALPACA_SECRET_KEY"],
        SECRETS["EMAIL_PASSWORD"],
    }


def test_cli_exits_2_with_one_line_per_problem(workdirs, monkeypatch, capsys):
    monkeypatch.setenv("MIN_POSITION_SIZE", "400")
    code = main(["config", "show"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("Configuration problems:\n")
    assert err.count("\n  - ") == 2  # min > max, and 4 x 400 > 900


def test_typos_in_the_environment_are_named_with_the_closest_known_name():
    from algotrading.config import environment_typos

    environ = {
        "MAX_POSITON_SIZE": "250",  # a near-miss of a setting
        "ALGOTRADING_STATE_DIRS": "/srv/state",  # our prefix, a name nothing reads
        "ALGOTRADING_SMTP_TIMEOUT_SECONDS_X": "1",
        "MAX_POSITION_SIZE": "250",  # known: silent
        "ALGOTRADING_REPORTS_DIR": "/srv/reports",
        "PATH": "/usr/bin",  # somebody else's: silent
        "EMAIL": "me@example.com",
    }
    assert environment_typos(environ) == [
        "ALGOTRADING_SMTP_TIMEOUT_SECONDS_X is set in the environment but AlgoTrading does not read it: "
        "remove it or check its spelling.",
        "ALGOTRADING_STATE_DIRS is set in the environment but AlgoTrading does not read it: "
        "did you mean ALGOTRADING_STATE_DIR?",
        "MAX_POSITON_SIZE is set in the environment but is not a setting AlgoTrading knows: "
        "did you mean MAX_POSITION_SIZE?",
    ]


def test_a_typo_in_the_environment_is_logged_once(workdirs, monkeypatch, caplog):
    monkeypatch.setenv("MIN_CASH_BUFER", "100")
    with caplog.at_level("WARNING", logger="algotrading.config"):
        load_settings()
        load_settings()
    notes = [r.getMessage() for r in caplog.records if "MIN_CASH_BUFER" in r.getMessage()]
    assert notes == [
        "MIN_CASH_BUFER is set in the environment but is not a setting AlgoTrading knows: did you mean MIN_CASH_BUFFER?"
    ]


def test_a_dotenv_that_is_not_utf8_is_a_configuration_error_naming_the_line(workdirs, monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"MAX_POSITION_SIZE=250\nEMAIL_FROM=caf\xe9@example.com\n")  # saved as Latin-1
    monkeypatch.setenv("ALGOTRADING_ENV_FILE", str(env_file))
    with pytest.raises(ConfigError) as info:
        load_settings()
    (problem,) = info.value.problems
    assert problem.startswith(f"{env_file} is not UTF-8 text (byte 0xe9 on line 2): save it as UTF-8")
    assert main(["validate"]) == 2  # a configuration problem: exit 2, not a traceback


def test_a_params_file_is_parsed_once_while_unchanged_and_again_when_edited(workdirs, monkeypatch):
    from algotrading import config

    path = workdirs["params"] / "safety.yaml"
    # a long process (a test worker) has read 250 other files: the eldest go first, not all at once
    others = (((f"/elsewhere/{i}.yaml", i, 0, 0), {}) for i in range(250))
    monkeypatch.setattr(config, "_YAML_DOCS", type(config._YAML_DOCS)(others))
    parsed: list[str] = []
    real_load = yaml.safe_load
    monkeypatch.setattr(config.yaml, "safe_load", lambda text: parsed.append(text) or real_load(text))
    first = config.read_yaml(path)
    first["max_position_size"] = -1  # a caller's change stays its own
    assert config.read_yaml(path)["max_position_size"] != -1 and len(parsed) == 1
    assert load_settings().safety.max_position_size == 300 and len(parsed) == 1 + 10  # the other ten sections, once
    load_settings()
    assert len(parsed) == 11
    path.write_text(path.read_text().replace("max_position_size: 300", "max_position_size: 250"))
    assert load_settings().safety.max_position_size == 250 and len(parsed) == 12
