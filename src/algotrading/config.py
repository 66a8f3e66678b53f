"""Configuration: non-secret defaults from ``params/*.yaml``, overridden by the seed's
environment variables (or a git-ignored ``.env``), checked field by field and across
fields before anything is fetched (DESIGN §7).

Every problem becomes one line naming the variable (or YAML key), the value and the fix;
all problems found are reported together in a :class:`ConfigError` (the cross-field
checks run once every single value is valid). Secrets are ``SecretStr`` and only ever leave this module through
:meth:`Settings.secret_values` (for log redaction) and the clients that need them.
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from algotrading.errors import TIME_RE as TIME_RE
from algotrading.errors import ConfigError as ConfigError
from algotrading.errors import UsageError as UsageError
from algotrading.paths import PATH_VARIABLES, Paths

SYMBOL_RE = re.compile(r"^\^?[A-Z][A-Z0-9.\-]{0,9}$")

log = logging.getLogger(__name__)


class Mode(StrEnum):
    """Where orders and data come from (DESIGN §1)."""

    DEMO = "demo"
    PAPER = "paper"
    LIVE = "live"


class _Section(BaseModel):
    # allow_inf_nan=False: PORTFOLIO_SIZE=inf would pass gt=0, and NaN fails every comparison
    # for the wrong reason; both are refused as "not a finite number"
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SafetyParams(_Section):
    """$1K account limits (Requirement 2.1)."""

    portfolio_size: float = Field(gt=0, description="account size in dollars, e.g. 1000")
    max_position_size: float = Field(gt=0, description="dollars, e.g. 300")
    max_position_pct: float = Field(gt=0, le=100, description="a percent of equity, e.g. 30")
    min_position_size: float = Field(gt=0, description="dollars, e.g. 50")
    min_trade_size: float = Field(gt=0, description="dollars, e.g. 50")
    min_cash_buffer: float = Field(ge=0, description="dollars, e.g. 100")
    max_positions: int = Field(ge=1, le=50, description="a whole number of positions, e.g. 4")
    allocation: Literal["performance", "equal"] = Field(description="performance or equal")


class CashParams(_Section):
    """Cash-depletion analysis and consolidation (Requirement 2.2)."""

    swap_margin: float = Field(ge=0, le=1, description="a score difference, e.g. 0.15")
    max_swaps_per_session: int = Field(ge=0, le=10, description="a count, e.g. 1")
    unknown_confidence: float = Field(ge=0, le=1, description="e.g. 0.5")
    funds_round_to: float = Field(gt=0, description="dollars, e.g. 50")
    dust_fraction: float = Field(gt=0, le=1, description="a fraction of MIN_POSITION_SIZE, e.g. 0.5")


class CircuitBreakerParams(_Section):
    """Market limits beyond which new buys pause."""

    spy_daily_move_pct: float = Field(gt=0, lt=100, description="a percent, e.g. 5")
    spy_volatility_20d_pct: float = Field(gt=0, lt=1000, description="annualised percent, e.g. 40")
    vix_max: float = Field(gt=0, description="a VIX level, e.g. 35")


class RiskParams(_Section):
    """Drawdown halt, emergency stop and circuit breaker (Requirement 2.3)."""

    max_drawdown_pct: float = Field(gt=0, lt=100, description="a percent between 0 and 100, e.g. 15")
    max_daily_loss_pct: float = Field(gt=0, lt=100, description="a percent between 0 and 100, e.g. 10")
    emergency_stop_enabled: bool = Field(description="true or false")
    circuit_breaker_enabled: bool = Field(description="true or false")
    circuit_breaker: CircuitBreakerParams


class RankingParams(_Section):
    """Signal ranking (Requirement 3.1)."""

    momentum_lookback_days: int = Field(ge=5, le=365, description="calendar days, e.g. 90")
    min_momentum_threshold: float = Field(ge=-1, le=1, description="a fraction, e.g. 0 or 0.05 for 5%")
    confidence_weight: float = Field(ge=0, le=1, description="a fraction, e.g. 0.5")
    momentum_weight: float = Field(ge=0, le=1, description="a fraction, e.g. 0.5")
    max_correlation: float = Field(gt=0, le=1, description="a correlation, e.g. 0.8")
    momentum_full_score: float = Field(gt=0, le=1, description="momentum above the threshold that scores 1, e.g. 0.10")


class AlpacaDataParams(_Section):
    """Alpaca market-data client behaviour (DESIGN §8)."""

    feed: Literal["sip", "iex"] = Field(description="sip or iex")
    timeout_seconds: float = Field(gt=0, le=300, description="seconds, e.g. 30")
    retry_attempts: int = Field(ge=1, le=10, description="tries, e.g. 4")
    retry_wait_seconds: float = Field(ge=0, le=60, description="seconds, e.g. 1")
    retry_max_wait_seconds: float = Field(ge=0, le=600, description="seconds, e.g. 30")


class FallbackParams(_Section):
    """The source that takes over when Alpaca's data fails, and serves ^VIX (DESIGN §8)."""

    source: Literal["yahoo", "none"] = Field(description="yahoo or none")
    timeout_seconds: float = Field(gt=0, le=300, description="seconds, e.g. 30")
    retry_attempts: int = Field(ge=1, le=10, description="tries, e.g. 3")


class ValidationParams(_Section):
    """Per-symbol data checks (see ``algotrading.data.validation``)."""

    max_missing_sessions: int = Field(ge=0, description="sessions, e.g. 3")
    max_zero_volume_sessions: int = Field(ge=0, description="sessions, e.g. 5")
    split_jump_pct: float = Field(gt=0, lt=100, description="a percent, e.g. 30")
    split_max_dollar_volume_ratio: float = Field(gt=0, description="a multiple, e.g. 5")
    extreme_jump_pct: float = Field(gt=0, description="a percent, e.g. 80")
    ohlc_tolerance: float = Field(ge=0, lt=0.1, description="a fraction, e.g. 0.0001")


class DataParams(_Section):
    """What a run loads and how it is checked."""

    history_sessions: int = Field(ge=260, le=10_000, description="sessions, at least 260, e.g. 756")
    alpaca: AlpacaDataParams
    fallback: FallbackParams
    validation: ValidationParams


class BacktestParams(_Section):
    """Backtest costs and the performance-tracking windows."""

    initial_capital: float = Field(gt=0, description="dollars, e.g. 1000")
    fees_pct: float = Field(ge=0, lt=10, description="a percent of order value, e.g. 0")
    slippage_pct: float = Field(ge=0, lt=10, description="a percent, e.g. 0.05")
    min_entry_value: float = Field(ge=0, description="dollars, e.g. 50")
    warmup_sessions: int = Field(ge=0, le=2000, description="sessions, e.g. 252")
    correlation_sessions: int = Field(ge=20, le=5000, description="sessions, e.g. 252")


class RampStep(_Section):
    """One step of the live ramp: ``sessions`` live sessions at ``pct`` % of the position limits."""

    sessions: int = Field(ge=1, le=250, description="live sessions, e.g. 5")
    pct: float = Field(gt=0, le=100, description="a percent of the position limits, e.g. 50")


class BrokerParams(_Section):
    """How the Alpaca trading client behaves (DESIGN §8), and the seed's transition from
    paper to live: paper sessions first, then live with position limits scaled up by steps."""

    timeout_seconds: float = Field(gt=0, le=300, description="seconds, e.g. 20")
    read_retry_attempts: int = Field(ge=1, le=10, description="tries, e.g. 4")
    retry_wait_seconds: float = Field(ge=0, le=60, description="seconds, e.g. 1")
    retry_max_wait_seconds: float = Field(ge=0, le=600, description="seconds, e.g. 20")
    submit_attempts: int = Field(ge=1, le=5, description="tries, e.g. 3")
    paper_validation_sessions: int = Field(default=10, ge=0, le=250, description="paper sessions, e.g. 10")
    live_ramp: tuple[RampStep, ...] = Field(
        default=(RampStep(sessions=5, pct=50), RampStep(sessions=5, pct=75)),
        description="steps of {sessions, pct}, e.g. [{sessions: 5, pct: 50}]",
    )


class ScheduleParams(_Section):
    """When the daily run happens (Requirement 1.1)."""

    daily_execution_time: str = Field(description="HH:MM in America/New_York, e.g. 16:30")
    bar_settle_minutes: int = Field(ge=0, le=120, description="minutes, e.g. 15")
    notebook_cell_timeout_seconds: int = Field(ge=10, le=7200, description="seconds, e.g. 600")
    # nbclient waits only 4 s by default for a finished cell's output, and papermill fails the
    # run when that runs out: on a loaded machine a cell that is merely slow would fail (DESIGN §9)
    notebook_output_timeout_seconds: int = Field(default=300, ge=5, le=7200, description="seconds, e.g. 300")
    notebook_timeout_seconds: int = Field(ge=10, le=14400, description="seconds, e.g. 900")
    run_timeout_seconds: int = Field(ge=60, le=86400, description="seconds, e.g. 3600")
    min_free_disk_mb: int = Field(ge=0, description="megabytes, e.g. 200")
    keep_full_sessions: int = Field(default=30, ge=1, le=100_000, description="sessions, e.g. 30")

    @field_validator("daily_execution_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not TIME_RE.match(value):
            raise ValueError("must be HH:MM on a 24-hour clock")
        return value


class EmailParams(_Section):
    """Email delivery; the password is a secret and lives in :class:`Settings`."""

    smtp_server: str | None = Field(description="a host name, e.g. smtp.gmail.com")
    smtp_port: int = Field(ge=1, le=65535, description="587 (STARTTLS) or 465 (TLS)")
    username: str | None = Field(description="the SMTP login, e.g. you@gmail.com")
    from_address: str | None = Field(description="an address, e.g. you@gmail.com")
    to: list[str] = Field(description="comma-separated addresses")
    timeout_seconds: float = Field(gt=0, le=300, description="seconds, e.g. 30")
    tls_mode: Literal["auto", "starttls", "ssl"] = Field(description="auto, starttls or ssl")
    tls_ca_file: str | None = Field(description="a path to a CA certificate file, or null")
    retry_attempts: int = Field(ge=1, le=10, description="tries, e.g. 4")
    retry_wait_seconds: float = Field(ge=0, le=600, description="seconds, e.g. 5")
    retry_max_wait_seconds: float = Field(ge=0, le=3600, description="seconds, e.g. 60")
    resend_budget_seconds: float = Field(gt=0, le=3600, description="seconds, e.g. 60")
    charts: bool = Field(description="true or false")

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [a.strip() for a in re.split(r"[,;]", value) if a.strip()]
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return value


class MonitorParams(_Section):
    """Production checks, monitoring and alerts (Requirements 4.1 and 4.2)."""

    account_size_tolerance_pct: float = Field(gt=0, lt=100, description="a percent, e.g. 20")
    strategy_drawdown_pct: float = Field(gt=0, lt=100, description="a percent, e.g. 20")
    correlation_alert: float = Field(gt=0, le=1, description="a correlation, e.g. 0.8")
    correlation_sessions: int = Field(ge=10, le=1000, description="sessions, e.g. 63")
    excluded_sessions_alert: int = Field(ge=1, le=100, description="sessions in a row, e.g. 3")
    missed_run_grace_minutes: int = Field(ge=0, le=1440, description="minutes after the scheduled time, e.g. 120")
    uptime_sessions: list[int] = Field(min_length=1, description="session windows, e.g. [30, 90]")
    status_runs: int = Field(ge=1, le=1000, description="runs listed by `algotrading status`, e.g. 10")

    @field_validator("uptime_sessions")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if any(n < 1 or n > 2520 for n in value):
            raise ValueError("each window must be between 1 and 2520 sessions")
        return value


class Universe(_Section):
    """Symbols in named groups, plus the market references (``params/universe.yaml``)."""

    groups: dict[str, list[str]] = Field(description="group name -> list of symbols")
    benchmark: str = Field(description="a symbol, e.g. SPY")
    volatility_index: str | None = Field(description="an index symbol, e.g. ^VIX, or null")

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        problems: list[str] = []
        seen: dict[str, str] = {}
        if not groups:
            problems.append("no groups")
        for name, symbols in groups.items():
            if not symbols:
                problems.append(f"group '{name}' is empty")
            for s in symbols:
                if not SYMBOL_RE.match(str(s)):
                    problems.append(f"'{s}' in group '{name}' is not a ticker (use upper case, e.g. BRK-B)")
                elif s in seen:
                    problems.append(f"'{s}' is in both '{seen[s]}' and '{name}'")
                seen.setdefault(s, name)
        if problems:
            raise ValueError("; ".join(problems))
        return groups

    @field_validator("benchmark", "volatility_index")
    @classmethod
    def _symbol(cls, value: str | None) -> str | None:
        if value is not None and not SYMBOL_RE.match(value):
            raise ValueError(f"'{value}' is not a ticker")
        return value

    @property
    def symbols(self) -> list[str]:
        """Tradable symbols in file order."""
        return [s for group in self.groups.values() for s in group]

    @property
    def market_symbols(self) -> list[str]:
        """Reference series the run needs besides the tradable symbols."""
        extra = [self.benchmark] + ([self.volatility_index] if self.volatility_index else [])
        return [s for s in extra if s not in self.symbols]

    @property
    def all_symbols(self) -> list[str]:
        return self.symbols + self.market_symbols

    def group_of(self, symbol: str) -> str:
        """The group a symbol belongs to ("market" for the reference series)."""
        for name, symbols in self.groups.items():
            if symbol in symbols:
                return name
        return "market"


SECTION_MODELS: dict[str, type[_Section]] = {
    "safety": SafetyParams,
    "cash": CashParams,
    "risk": RiskParams,
    "ranking": RankingParams,
    "data": DataParams,
    "backtest": BacktestParams,
    "broker": BrokerParams,
    "schedule": ScheduleParams,
    "email": EmailParams,
    "monitor": MonitorParams,
    "universe": Universe,
}

#: The seed's environment variables that override a YAML value: NAME -> (section, key).
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "PORTFOLIO_SIZE": ("safety", "portfolio_size"),
    "MAX_POSITION_SIZE": ("safety", "max_position_size"),
    "MIN_POSITION_SIZE": ("safety", "min_position_size"),
    "MIN_CASH_BUFFER": ("safety", "min_cash_buffer"),
    "MAX_POSITIONS": ("safety", "max_positions"),
    "MAX_DRAWDOWN_PCT": ("risk", "max_drawdown_pct"),
    "MAX_DAILY_LOSS_PCT": ("risk", "max_daily_loss_pct"),
    "EMERGENCY_STOP_ENABLED": ("risk", "emergency_stop_enabled"),
    "CIRCUIT_BREAKER_ENABLED": ("risk", "circuit_breaker_enabled"),
    "MOMENTUM_LOOKBACK_DAYS": ("ranking", "momentum_lookback_days"),
    "MIN_MOMENTUM_THRESHOLD": ("ranking", "min_momentum_threshold"),
    "CONFIDENCE_WEIGHT": ("ranking", "confidence_weight"),
    "MOMENTUM_WEIGHT": ("ranking", "momentum_weight"),
    "DAILY_EXECUTION_TIME": ("schedule", "daily_execution_time"),
    "EMAIL_SMTP_SERVER": ("email", "smtp_server"),
    "EMAIL_SMTP_PORT": ("email", "smtp_port"),
    "EMAIL_USERNAME": ("email", "username"),
    "EMAIL_FROM": ("email", "from_address"),
    "EMAIL_TO": ("email", "to"),
    "PAPER_VALIDATION_SESSIONS": ("broker", "paper_validation_sessions"),
}
_ENV_FOR_KEY = {v: k for k, v in ENV_OVERRIDES.items()}


class EnvSettings(BaseSettings):
    """Every variable AlgoTrading reads from the environment or ``.env``.

    Values stay strings here; the section models parse them so a bad value is reported
    with its variable name. ``extra="forbid"`` turns a misspelt name in ``.env`` into an
    error instead of a silently ignored setting.
    """

    model_config = SettingsConfigDict(extra="forbid", case_sensitive=False, env_ignore_empty=True)

    portfolio_size: str | None = None
    max_position_size: str | None = None
    min_position_size: str | None = None
    min_cash_buffer: str | None = None
    max_positions: str | None = None
    max_drawdown_pct: str | None = None
    max_daily_loss_pct: str | None = None
    emergency_stop_enabled: str | None = None
    circuit_breaker_enabled: str | None = None
    momentum_lookback_days: str | None = None
    min_momentum_threshold: str | None = None
    confidence_weight: str | None = None
    momentum_weight: str | None = None
    daily_execution_time: str | None = None
    email_smtp_server: str | None = None
    email_smtp_port: str | None = None
    email_username: str | None = None
    email_from: str | None = None
    email_to: str | None = None
    paper_validation_sessions: str | None = None
    paper_trading_mode: str | None = None
    production_mode: str | None = None
    alpaca_api_key: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    email_password: SecretStr | None = None
    alpaca_base_url: str | None = None
    alpaca_data_url: str | None = None
    fallback_data_url: str | None = None
    alert_webhook_url: SecretStr | None = None
    # the folders (read by algotrading.paths; known here so that .env may hold them)
    algotrading_params_dir: str | None = None
    algotrading_reports_dir: str | None = None
    algotrading_state_dir: str | None = None
    algotrading_notebooks_dir: str | None = None
    # where parameter sweeps run (backtest/grid.py): an existing Dask scheduler's address
    algotrading_dask_scheduler: str | None = None


class AlpacaSettings(BaseModel):
    """Alpaca credentials and endpoints (``*_url`` override alpaca-py's base URLs)."""

    model_config = ConfigDict(frozen=True)

    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    base_url: str | None = None
    data_url: str | None = None
    #: FALLBACK_DATA_URL: where the fallback source's requests go instead of its own
    #: hosts (tests point it at a local server).
    fallback_data_url: str | None = None

    @property
    def has_keys(self) -> bool:
        return self.api_key is not None and self.secret_key is not None


class Settings(BaseModel):
    """The effective, validated configuration of one run."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    mode: Mode
    paper_trading_mode: bool
    production_mode: bool
    safety: SafetyParams
    cash: CashParams
    risk: RiskParams
    ranking: RankingParams
    data: DataParams
    backtest: BacktestParams
    broker: BrokerParams
    schedule: ScheduleParams
    email: EmailParams
    monitor: MonitorParams
    universe: Universe
    alpaca: AlpacaSettings
    email_password: SecretStr | None = None
    alert_webhook_url: SecretStr | None = None
    dask_scheduler: str | None = None  # ALGOTRADING_DASK_SCHEDULER: sweeps run on this cluster
    paths: Paths
    sources: dict[str, str] = Field(default_factory=dict)

    def secret_values(self) -> list[str]:
        """The raw secret strings, for redacting logs; never print these."""
        secrets = [self.alpaca.api_key, self.alpaca.secret_key, self.email_password, self.alert_webhook_url]
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with every secret replaced by ``***`` (or ``None``)."""

        def hide(secret: SecretStr | None) -> str | None:
            return None if secret is None else "***"

        out: dict[str, Any] = {
            "mode": self.mode.value,
            "paper_trading_mode": self.paper_trading_mode,
            "production_mode": self.production_mode,
        }
        for name in SECTION_MODELS:
            out[name] = getattr(self, name).model_dump()
        out["alpaca"] = {
            "api_key": hide(self.alpaca.api_key),
            "secret_key": hide(self.alpaca.secret_key),
            "base_url": self.alpaca.base_url,
            "data_url": self.alpaca.data_url,
            "fallback_data_url": self.alpaca.fallback_data_url,
        }
        out["email"]["password"] = hide(self.email_password)
        out["alert_webhook_url"] = hide(self.alert_webhook_url)
        out["dask_scheduler"] = self.dask_scheduler
        out["paths"] = {k: str(v) if v is not None else None for k, v in vars(self.paths).items()}
        return out


# --------------------------------------------------------------------------- loading


#: The ALGOTRADING_* variables something reads (paths, the schedule, the test harness).
KNOWN_ALGOTRADING_VARIABLES = (
    *PATH_VARIABLES,
    "ALGOTRADING_HOME",
    "ALGOTRADING_ENV_FILE",
    "ALGOTRADING_HOST_TZ",
    "ALGOTRADING_CRONTAB_CMD",
    "ALGOTRADING_CRON_DAEMON",
    "ALGOTRADING_PYTHON",
    "ALGOTRADING_TEST_WORKERS",
    "ALGOTRADING_NBREFS_RUN_DIR",
    "ALGOTRADING_NBREFS_REPLAY_DIR",
    "ALGOTRADING_FAULT_AT",
    "ALGOTRADING_DASK_SCHEDULER",
    "ALGOTRADING_NOTEBOOKS_IN_PROCESS",
)
_WARNED: set[str] = set()


def environment_typos(environ: Mapping[str, str]) -> list[str]:
    """Variables of the environment that look meant for AlgoTrading but that it does not
    read: an unknown ``ALGOTRADING_*`` name, or a near-miss of a setting's name (``.env``
    typos are errors; the environment is shared with other programs, so these warn)."""
    settings = [name.upper() for name in EnvSettings.model_fields]
    out = []
    for name in sorted(environ):
        upper = name.upper()
        if upper in settings or upper in KNOWN_ALGOTRADING_VARIABLES:
            continue
        if upper.startswith("ALGOTRADING_"):
            ours = {k.removeprefix("ALGOTRADING_"): k for k in KNOWN_ALGOTRADING_VARIABLES}
            close = difflib.get_close_matches(upper.removeprefix("ALGOTRADING_"), list(ours), n=1, cutoff=0.75)
            hint = f"did you mean {ours[close[0]]}?" if close else "remove it or check its spelling."
            out.append(f"{name} is set in the environment but AlgoTrading does not read it: {hint}")
            continue
        close = difflib.get_close_matches(upper, settings, n=1, cutoff=0.9)
        if close:
            out.append(
                f"{name} is set in the environment but is not a setting AlgoTrading knows: did you mean {close[0]}?"
            )
    return out


def load_settings(paths: Paths | None = None) -> Settings:
    """Read, merge and check the configuration; raise :class:`ConfigError` listing every
    problem. Touches only local files and the environment, never the network."""
    paths = paths or Paths.from_env()
    problems: list[str] = []
    for note in environment_typos(os.environ):
        if note not in _WARNED:  # once per process: settings are loaded by every step
            _WARNED.add(note)
            log.warning("%s", note)

    env = _read_env(paths, problems)
    raw_sections, sources = _read_yaml_sections(paths.params_dir, problems)
    if env is not None:
        _apply_env_overrides(env, raw_sections, sources)

    sections: dict[str, Any] = {}
    for name, model in SECTION_MODELS.items():
        if name not in raw_sections:
            continue
        try:
            sections[name] = model.model_validate(raw_sections[name])
        except ValidationError as exc:
            problems += [_describe_error(name, err, sources) for err in exc.errors()]

    if env is None:
        raise ConfigError(problems)
    flags = _read_flags(env, problems)
    alpaca = AlpacaSettings(
        api_key=env.alpaca_api_key,
        secret_key=env.alpaca_secret_key,
        base_url=env.alpaca_base_url,
        data_url=env.alpaca_data_url,
        fallback_data_url=env.fallback_data_url,
    )
    mode = _derive_mode(*flags, alpaca, problems) if flags is not None else None
    if problems or flags is None or mode is None:
        raise ConfigError(problems)  # cross-field checks need every section valid first

    paper, production = flags
    settings = Settings(
        mode=mode,
        paper_trading_mode=paper,
        production_mode=production,
        alpaca=alpaca,
        email_password=env.email_password,
        alert_webhook_url=env.alert_webhook_url,
        dask_scheduler=env.algotrading_dask_scheduler,
        paths=paths,
        sources={f"{s}.{k}": v for (s, k), v in sources.items()},
        **sections,
    )
    problems += cross_field_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


#: Several accounts in one daily run (issue 18): checked and used by daily/accounts.py.
ACCOUNTS_FILE = "accounts.yaml"


def account_entries(params_dir: Path) -> list[dict[str, Any]]:
    """The entries of ``params/accounts.yaml`` read loosely (no file, bad YAML or a bad
    shape: none), for what must not fail on a broken file (the daily run checks it)."""
    try:
        doc = read_yaml(params_dir / ACCOUNTS_FILE)
    except (OSError, yaml.YAMLError):
        return []
    entries = doc.get("accounts") if isinstance(doc, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def account_key_variables(params_dir: Path) -> list[str]:
    """The names of the variables ``params/accounts.yaml`` says hold accounts' Alpaca keys:
    ``.env`` may hold them too."""
    found = [e.get(f) for e in account_entries(params_dir) for f in ("api_key_env", "secret_key_env")]
    return sorted({v for v in found if isinstance(v, str) and v.isidentifier()})


def _read_env(paths: Paths, problems: list[str]) -> EnvSettings | None:
    env_file = paths.env_file if paths.env_file is not None and paths.env_file.is_file() else None
    extra: dict[str, Any] = {name.lower(): (SecretStr | None, None) for name in account_key_variables(paths.params_dir)}
    model = create_model("EnvSettings", __base__=EnvSettings, **extra) if extra else EnvSettings
    try:
        return model(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        known = [name.upper() for name in EnvSettings.model_fields]
        for err in exc.errors():
            key = str(err["loc"][0]).upper()
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" Did you mean {close[0]}?" if close else " Remove it or check its spelling."
                problems.append(f"{env_file}: {key} is not a setting AlgoTrading knows.{hint}")
            else:
                problems.append(f"{key}: {err['msg']}.")
        return None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        problems.append(
            f"{env_file} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {line}): save it as UTF-8, "
            f"e.g. `iconv -f latin1 -t utf-8 {env_file} > {env_file}.utf8 && mv {env_file}.utf8 {env_file}`."
        )
        return None
    except OSError as exc:
        problems.append(f"{env_file} cannot be read ({exc.strerror}): fix its permissions (chmod 600, owned by you).")
        return None


#: Parsed params files by (path, inode, size, mtime): a daily run reads its settings about
#: seven times (the runner, each notebook's cells) and the same ~15 files each time. The
#: least recently read go first past :data:`_YAML_DOCS_KEPT` (a long process, e.g. a test
#: worker, reads many params folders).
_YAML_DOCS: OrderedDict[tuple[str, int, int, int], Any] = OrderedDict()
_YAML_DOCS_KEPT = 256


def read_yaml(path: Path) -> Any:
    """The YAML document of ``path`` (``yaml.safe_load``), parsed once while the file is
    unchanged; each caller gets its own copy. Raises ``OSError`` and ``yaml.YAMLError``."""
    stat = path.stat()
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key in _YAML_DOCS:
        _YAML_DOCS.move_to_end(key)
    else:
        _YAML_DOCS[key] = yaml.safe_load(path.read_text())
        while len(_YAML_DOCS) > _YAML_DOCS_KEPT:
            _YAML_DOCS.popitem(last=False)
    return copy.deepcopy(_YAML_DOCS[key])


def _read_yaml_sections(
    params_dir: Path, problems: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    """Load ``params/<section>.yaml`` for every section; record where each key came from."""
    raw: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, str], str] = {}
    if not params_dir.is_dir():
        problems.append(
            f"parameters folder {params_dir} does not exist: run from the AlgoTrading clone, "
            "or set ALGOTRADING_PARAMS_DIR to a folder holding the params/*.yaml files."
        )
        return raw, sources
    for name in SECTION_MODELS:
        path = params_dir / f"{name}.yaml"
        label = f"params/{name}.yaml"
        if not path.is_file():
            problems.append(f"{label} is missing from {params_dir}: restore it from the repository.")
            continue
        try:
            doc = read_yaml(path) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{label} is not valid YAML ({exc}): fix the syntax.")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{label} must be a mapping of key: value lines, not {type(doc).__name__}.")
            continue
        raw[name] = doc
        sources.update({(name, key): label for key in doc})
    return raw, sources


def _apply_env_overrides(env: EnvSettings, raw: dict[str, dict[str, Any]], sources: dict[tuple[str, str], str]) -> None:
    from_environment = {k.upper() for k in os.environ}
    for var, (section, key) in ENV_OVERRIDES.items():
        value = getattr(env, var.lower())
        if value is None or section not in raw:
            continue
        raw[section][key] = value
        sources[(section, key)] = "environment" if var in from_environment else ".env"


def _read_flags(env: EnvSettings, problems: list[str]) -> tuple[bool, bool] | None:
    """Parse PAPER_TRADING_MODE (default true) and PRODUCTION_MODE (default false)."""

    class _Flags(BaseModel):
        paper_trading_mode: bool = True
        production_mode: bool = False

    given = {k: v for k in ("paper_trading_mode", "production_mode") if (v := getattr(env, k)) is not None}
    try:
        flags = _Flags.model_validate(given)
    except ValidationError as exc:
        for err in exc.errors():
            var = str(err["loc"][0]).upper()
            problems.append(f"{var} = {err['input']!r}: not a boolean. Fix: set true or false.")
        return None
    return flags.paper_trading_mode, flags.production_mode


def _derive_mode(paper: bool, production: bool, alpaca: AlpacaSettings, problems: list[str]) -> Mode:
    """demo without keys, paper with keys, live only when explicitly configured (DESIGN §1)."""
    if (alpaca.api_key is None) != (alpaca.secret_key is None):
        have, missing = (
            ("ALPACA_API_KEY", "ALPACA_SECRET_KEY") if alpaca.api_key else ("ALPACA_SECRET_KEY", "ALPACA_API_KEY")
        )
        problems.append(
            f"{have} is set but {missing} is not: set both (from the Alpaca dashboard) or neither (demo mode)."
        )
    if paper:
        return Mode.PAPER if alpaca.has_keys else Mode.DEMO
    if not production:
        problems.append(
            "PAPER_TRADING_MODE=false without PRODUCTION_MODE=true: live trading needs both. "
            "Set PRODUCTION_MODE=true to trade real money, or PAPER_TRADING_MODE=true to stay on paper."
        )
    if not alpaca.has_keys:
        problems.append(
            "PAPER_TRADING_MODE=false (live trading) needs ALPACA_API_KEY and ALPACA_SECRET_KEY of the live "
            "account: set them in .env, or set PAPER_TRADING_MODE=true."
        )
    return Mode.LIVE


def _usd(amount: float) -> str:
    """Dollars as the user would write them: $5, -$5, $1000.5."""
    return ("-" if amount < 0 else "") + f"${abs(amount):g}"


def cross_field_problems(s: Settings) -> list[str]:
    """Combinations that cannot work, one message each (DESIGN §7)."""
    p: list[str] = []
    sf, rk, em = s.safety, s.ranking, s.email
    if sf.min_position_size > sf.max_position_size:
        p.append(
            f"MIN_POSITION_SIZE ({_usd(sf.min_position_size)}) is larger than MAX_POSITION_SIZE "
            f"({_usd(sf.max_position_size)}): no buy could satisfy both. "
            "Lower MIN_POSITION_SIZE or raise MAX_POSITION_SIZE."
        )
    if sf.min_cash_buffer >= sf.portfolio_size:
        p.append(
            f"MIN_CASH_BUFFER ({_usd(sf.min_cash_buffer)}) is not below PORTFOLIO_SIZE ({_usd(sf.portfolio_size)}): "
            "nothing could ever be bought. Lower MIN_CASH_BUFFER or raise PORTFOLIO_SIZE."
        )
    elif sf.max_positions * sf.min_position_size > sf.portfolio_size - sf.min_cash_buffer:
        p.append(
            f"MAX_POSITIONS x MIN_POSITION_SIZE ({sf.max_positions} x {_usd(sf.min_position_size)} = "
            f"{_usd(sf.max_positions * sf.min_position_size)}) exceeds PORTFOLIO_SIZE - MIN_CASH_BUFFER "
            f"({_usd(sf.portfolio_size)} - {_usd(sf.min_cash_buffer)} = "
            f"{_usd(sf.portfolio_size - sf.min_cash_buffer)}): "
            "the account cannot hold that many minimum-size positions. Lower MAX_POSITIONS or "
            "MIN_POSITION_SIZE, or raise PORTFOLIO_SIZE."
        )
    total = rk.confidence_weight + rk.momentum_weight
    if abs(total - 1.0) > 1e-9:
        p.append(
            f"CONFIDENCE_WEIGHT + MOMENTUM_WEIGHT = {rk.confidence_weight:g} + {rk.momentum_weight:g} = {total:g}, "
            "not 1: set them to fractions that sum to 1, e.g. 0.5 and 0.5."
        )
    hh, mm = (int(x) for x in s.schedule.daily_execution_time.split(":"))
    earliest = 16 * 60 + s.schedule.bar_settle_minutes
    if hh * 60 + mm < earliest:
        p.append(
            f"DAILY_EXECUTION_TIME={s.schedule.daily_execution_time} is before "
            f"{earliest // 60}:{earliest % 60:02d} ET, when the day's bars are final (4:00 PM close + "
            f"{s.schedule.bar_settle_minutes} min): set 16:30 (the default) or later."
        )
    if em.smtp_server and not em.to:
        p.append(
            "EMAIL_SMTP_SERVER is set but EMAIL_TO is empty: "
            "set EMAIL_TO=you@example.com (comma-separated for several)."
        )
    if em.smtp_server and not (em.from_address or em.username):
        p.append(
            "EMAIL_SMTP_SERVER is set but neither EMAIL_FROM nor EMAIL_USERNAME is: set EMAIL_FROM=you@example.com."
        )
    if em.username and s.email_password is None:
        p.append(
            "EMAIL_USERNAME is set but EMAIL_PASSWORD is not: put the password (for Gmail an app password) in .env."
        )
    if s.email_password is not None and not em.username:
        p.append("EMAIL_PASSWORD is set but EMAIL_USERNAME is not: set EMAIL_USERNAME to the SMTP login.")
    return p


def _describe_error(section: str, err: Any, sources: dict[tuple[str, str], str]) -> str:
    """A pydantic error of a ``params/<section>.yaml`` value, naming its variable if any."""
    loc = [str(x) for x in err["loc"]]
    key = loc[0] if loc else ""
    label = f"params/{section}.yaml"
    env_var = _ENV_FOR_KEY.get((section, key)) if len(loc) == 1 else None
    from_env = env_var is not None and sources.get((section, key)) in ("environment", ".env")
    return describe_validation_error(label, SECTION_MODELS[section], err, env_var=env_var, from_env=from_env)


def describe_validation_error(
    label: str, model: type[BaseModel], err: Any, env_var: str | None = None, from_env: bool = False
) -> str:
    """Turn one pydantic error of a YAML file into 'where = value: what is wrong. Expected ...'.

    ``env_var`` names the environment variable that can also set the key; ``from_env``
    says the bad value came from it (so the message names the variable, not the file).
    """
    loc = [str(x) for x in err["loc"]]
    key = loc[0] if loc else ""
    dotted = ".".join(loc)
    if err["type"] == "extra_forbidden":
        known = list(model.model_fields) if len(loc) == 1 else []
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"{label}: unknown key '{dotted}'.{hint} Fix: correct or remove it."
    if err["type"] == "missing":
        return f"{label}: missing key '{dotted}'. Fix: add it (the repository's {label} has the default)."
    if env_var and from_env:
        where = env_var
    else:
        where = f"{label}: {dotted}" + (f" [{env_var}]" if env_var else "")
    field = model.model_fields.get(key)
    expected = f" Expected {field.description}." if field is not None and field.description and len(loc) == 1 else ""
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    return f"{where} = {err.get('input')!r}: {msg}.{expected}"
