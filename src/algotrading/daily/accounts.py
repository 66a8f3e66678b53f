"""Several accounts in one daily run (issue 18): the optional ``params/accounts.yaml``,
and each account's settings.

The file lists accounts by name, mode, the NAMES of the environment variables holding
their Alpaca keys (never the keys), their own limits and email recipients, and for a
paper account optionally ``twin_of``: the live account of the file it shadows (its paper
twin, compared in the live account's report: daily/twin.py). Everything else (the
universe, the strategies, SMTP, ...) is shared and comes from ``params/`` and the
environment as for a single account.

An account's limits are applied exactly as the seed's environment variables would be:
each account gets an environment of its own (the base environment and ``.env``, its
limits and keys under the seed's names, its own state and reports folders), and its
settings are read from it by :func:`~algotrading.config.load_settings`, through the same
validation. The daily run executes the account's notebooks inside that environment, so
the notebooks' own ``load_settings()`` reads the account's settings too.

Problems of the file itself (unknown keys, duplicate names, a paper account without a
key variable's name, live without ``PRODUCTION_MODE=true``, a ``twin_of`` that is not a
paper account naming a live one, two twins of one live account) refuse the whole run
(:class:`~algotrading.config.ConfigError`, exit 2). Problems of one account at run time
(its key variable unset, limits that cannot work together) fail that account only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from algotrading.config import ACCOUNTS_FILE, ConfigError, Settings, account_entries, load_settings
from algotrading.daily.twin import Twin
from algotrading.paths import Paths

FILE = ACCOUNTS_FILE
LABEL = f"params/{FILE}"
#: The run's shared outputs (the data and the strategies step, once for every account).
SHARED_DIR = "_shared"
#: Names an account cannot take: they are folders of ``reports/`` or ``state/`` already.
RESERVED = frozenset({"failed", "replaced", "cache", "outbox", "shared", "status"})
NAME_RE = r"^[a-z][a-z0-9_-]{0,39}$"
#: The seed's limit variables an account may set (DESIGN §7).
LIMIT_NAMES = (
    "PORTFOLIO_SIZE",
    "MAX_POSITION_SIZE",
    "MIN_POSITION_SIZE",
    "MIN_CASH_BUFFER",
    "MAX_POSITIONS",
    "MAX_DRAWDOWN_PCT",
    "MAX_DAILY_LOSS_PCT",
)
#: Variables an account's environment sets itself (the base environment's are dropped).
_OWN = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "PAPER_TRADING_MODE")
_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Scalar = float | int | str


class Limits(BaseModel):
    """An account's limits, under the seed's variable names (any subset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    PORTFOLIO_SIZE: Scalar | None = None
    MAX_POSITION_SIZE: Scalar | None = None
    MIN_POSITION_SIZE: Scalar | None = None
    MIN_CASH_BUFFER: Scalar | None = None
    MAX_POSITIONS: Scalar | None = None
    MAX_DRAWDOWN_PCT: Scalar | None = None
    MAX_DAILY_LOSS_PCT: Scalar | None = None

    def as_environment(self) -> dict[str, str]:
        """The limits given, as the environment variables would hold them."""
        return {name: str(value) for name, value in self.model_dump().items() if value is not None}


class Account(BaseModel):
    """One entry of ``params/accounts.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_RE, description="a slug: lower-case letters, digits, - and _, e.g. twin")
    mode: Literal["demo", "paper", "live"] = Field(description="demo, paper or live")
    api_key_env: str | None = Field(default=None, description="a variable's name, e.g. ALPACA_API_KEY_TWIN")
    secret_key_env: str | None = Field(default=None, description="a variable's name, e.g. ALPACA_SECRET_KEY_TWIN")
    limits: Limits = Field(default_factory=Limits, description="the seed's limit names, e.g. PORTFOLIO_SIZE: 2000")
    email_to: list[str] = Field(default_factory=list, description="a list of addresses, e.g. [you@example.com]")
    twin_of: str | None = Field(default=None, description="the name of a live account of this file, e.g. live")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED:
            raise ValueError(f"'{value}' is a folder name AlgoTrading uses already: choose another name")
        return value

    @field_validator("api_key_env", "secret_key_env")
    @classmethod
    def _variable(cls, value: str | None) -> str | None:
        if value is not None and not _VARIABLE_RE.match(value):
            raise ValueError(f"'{value}' is not an environment variable's name: give its NAME, never the key itself")
        return value

    @field_validator("email_to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [a.strip() for a in re.split(r"[,;]", value) if a.strip()] if isinstance(value, str) else value

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _keys_fit_the_mode(self) -> Account:
        keys = {"api_key_env": self.api_key_env, "secret_key_env": self.secret_key_env}
        if self.mode == "demo" and any(keys.values()):
            raise ValueError(
                "a demo account runs on the bundled data with a simulated broker: remove api_key_env and "
                "secret_key_env, or set mode: paper"
            )
        missing = [field for field, name in keys.items() if name is None]
        if self.mode != "demo" and missing:
            raise ValueError(
                f"a {self.mode} account needs {' and '.join(missing)}: the NAME of the variable holding its Alpaca "
                f"key, e.g. api_key_env: ALPACA_API_KEY_{self.name.upper().replace('-', '_')}"
            )
        return self

    @property
    def key_variables(self) -> tuple[str, ...]:
        return tuple(v for v in (self.api_key_env, self.secret_key_env) if v is not None)


class AccountsFile(BaseModel):
    """``params/accounts.yaml``: ``accounts:``, a list of :class:`Account`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[Account] = Field(min_length=1, description="a list of accounts")

    @field_validator("accounts")
    @classmethod
    def _unique(cls, accounts: list[Account]) -> list[Account]:
        names = [a.name for a in accounts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"account names must be unique: {', '.join(twice)} appear more than once; rename one")
        return accounts

    @model_validator(mode="after")
    def _twins(self) -> AccountsFile:
        """``twin_of``: a paper account shadowing a live account of the file, one twin per
        live account. Each problem is located at its account's ``twin_of`` (so the message
        names the account and the field)."""
        modes = {a.name: a.mode for a in self.accounts}
        claimed: dict[str, str] = {}
        problems = []
        for index, a in enumerate(self.accounts):
            if a.twin_of is None:
                continue
            why = None
            lives = ", ".join(n for n, m in modes.items() if m == "live") or "none in this file"
            if a.mode != "paper":
                why = (
                    f"only a paper account can be a twin, and '{a.name}' is {a.mode}. Fix: set mode: paper (with its "
                    "paper keys), or remove twin_of"
                )
            elif a.twin_of not in modes:
                why = (
                    f"no account is named '{a.twin_of}'. Fix: name a live account of this file ({lives}), or remove it"
                )
            elif modes[a.twin_of] != "live":
                why = (
                    f"'{a.twin_of}' is a {modes[a.twin_of]} account: a paper twin shadows a live account. Fix: name a "
                    f"live account of this file ({lives}), or remove twin_of"
                )
            elif a.twin_of in claimed:
                why = (
                    f"'{a.twin_of}' has a paper twin already ('{claimed[a.twin_of]}'): a live account has one twin at "
                    f"most. Fix: remove twin_of from '{claimed[a.twin_of]}' or '{a.name}'"
                )
            else:
                claimed[a.twin_of] = a.name
            if why is not None:
                problems.append(
                    InitErrorDetails(
                        type=PydanticCustomError("twin_of", "{why}", {"why": why}),
                        loc=("accounts", index, "twin_of"),
                        input=a.twin_of,
                    )
                )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def names(self) -> list[str]:
        return [a.name for a in self.accounts]

    def account(self, name: str) -> Account | None:
        """The account named ``name``, if the file lists one."""
        return next((a for a in self.accounts if a.name == name), None)

    def twin_of(self, live: str) -> Account | None:
        """The paper twin of the live account ``live``, if the file declares one."""
        return next((a for a in self.accounts if a.twin_of == live), None)

    def run_order(self) -> list[Account]:
        """The accounts in the order a run takes them: the file's, but each paper twin
        right before its live account, so the live account's report compares with the
        twin's state of the same evening (its plan for the next open, its fills)."""
        twins = {a.twin_of: a for a in self.accounts if a.twin_of is not None}
        order: list[Account] = []
        for a in self.accounts:
            if a.twin_of is not None:
                continue  # placed before its live account
            if a.name in twins:
                order.append(twins[a.name])
            order.append(a)
        return order


def load_accounts(params_dir: Path, environ: Mapping[str, str] | None = None) -> AccountsFile | None:
    """``params/accounts.yaml`` checked, or None when there is none (one account, as
    always). Raises :class:`ConfigError` with one line per problem, naming the account,
    the field and the fix. ``environ``: where ``PRODUCTION_MODE`` is read (live accounts)."""
    path = params_dir / FILE
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError([f"{LABEL} is not valid YAML ({exc}): fix the syntax."]) from None
    if not isinstance(doc, dict):
        raise ConfigError([f"{LABEL} must be a mapping with an 'accounts:' list (see params/accounts.example.yaml)."])
    try:
        accounts = AccountsFile.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError([_describe(doc, err) for err in exc.errors()]) from None
    problems = _live_problems(accounts, environ if environ is not None else _base_environment())
    if problems:
        raise ConfigError(problems)
    return accounts


def _describe(doc: dict[str, Any], err: Any) -> str:
    """One pydantic error as 'params/accounts.yaml: account 'x', field 'y': what. Fix'."""
    loc = [str(x) for x in err["loc"]]
    entries = doc.get("accounts")
    where = LABEL
    if len(loc) >= 2 and loc[0] == "accounts" and loc[1].isdigit():
        index = int(loc[1])
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where += f": account '{name}'" if name else f": account #{index + 1}"
        loc = loc[2:]
    field = ".".join(loc)
    if field:
        where += f", field '{field}'"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = list(Limits.model_fields) if loc[:1] == ["limits"] else list(Account.model_fields)
        return f"{where}: unknown key. Fix: remove it, or use one of {', '.join(allowed)}."
    if err["type"] == "missing":
        return f"{where}: missing. Fix: add it (see params/accounts.example.yaml)."
    if err["type"] == "string_pattern_mismatch":
        return f"{where} = {err.get('input')!r}: not a slug. Fix: lower-case letters, digits, - and _, e.g. twin."
    if not field:  # a check across the account's fields: its message names them
        return f"{where}: {msg}."
    return f"{where} = {err.get('input')!r}: {msg}."


def _live_problems(accounts: AccountsFile, environ: Mapping[str, str]) -> list[str]:
    """A live account needs the same switch as a single live account: PRODUCTION_MODE=true
    in the environment or .env (never in the file). --confirm-live is asked by the run."""
    production = str(environ.get("PRODUCTION_MODE", "")).strip().lower() in ("1", "true", "yes", "on")
    return [
        f"{LABEL}: account '{a.name}', field 'mode' = 'live': live trading needs PRODUCTION_MODE=true in the "
        "environment or .env (and `algotrading validate --live` passing). Fix: set it, or use mode: paper."
        for a in accounts.accounts
        if a.mode == "live" and not production
    ]


def account_modes(params_dir: Path) -> set[str]:
    """The modes the accounts file (valid or not) declares, empty without one: the
    schedule confirms live when one is live, and has a morning run when one trades at
    Alpaca (paper or live), as for a single account of that mode."""
    return {str(e.get("mode")) for e in account_entries(params_dir)}


def has_live_account(params_dir: Path) -> bool:
    """Whether the accounts file (valid or not) declares a live account."""
    return "live" in account_modes(params_dir)


# --------------------------------------------------------------------------- each account's settings


def _base_environment() -> dict[str, str]:
    """The process environment over the ``.env`` values (the environment wins, as for
    every setting), with upper-case names."""
    paths = Paths.from_env()
    merged: dict[str, str] = {}
    if paths.env_file is not None and paths.env_file.is_file():
        from dotenv import dotenv_values  # local: pydantic-settings' own dotenv reader, only with a .env

        merged = {k.upper(): v for k, v in dotenv_values(paths.env_file).items() if v}
    return merged | dict(os.environ)


@dataclass(frozen=True)
class AccountPaths:
    """Where an account keeps its state and writes its reports."""

    state_dir: Path
    reports_dir: Path

    @classmethod
    def of(cls, base: Paths, name: str) -> AccountPaths:
        return cls(base.state_dir / name, base.reports_dir / name)


def account_environment(
    account: Account, accounts: AccountsFile, base: Paths, keys_required: bool = True
) -> dict[str, str]:
    """The environment ``account`` runs in: the base one (with ``.env`` merged in and not
    read again), without any account's key variables, with this account's keys, mode,
    limits, email recipients and folders under the names the settings read. Raises
    :class:`ConfigError` when a key variable it names is not set (``keys_required``;
    without it such an account gets no keys: see :func:`alert_settings`)."""
    env = _base_environment()
    keys = {name: env.get(name, "") for name in account.key_variables}
    unset = [name for name, value in keys.items() if not value]
    if unset and keys_required:
        raise ConfigError(
            [
                f"account '{account.name}', field '{field}': {getattr(account, field)} is not set in the environment "
                f"or .env. Fix: set {getattr(account, field)} to the account's Alpaca "
                f"{'key id' if field == 'api_key_env' else 'secret key'}, or change {field} in {LABEL}."
                for field in ("api_key_env", "secret_key_env")
                if getattr(account, field) in unset
            ]
        )
    for name in [*_OWN, *(v for a in accounts.accounts for v in a.key_variables)]:
        env.pop(name, None)
    folders = AccountPaths.of(base, account.name)
    env |= {
        "ALGOTRADING_ENV_FILE": "",  # merged above: the account's values must win over it
        "ALGOTRADING_HOME": str(base.root),
        "ALGOTRADING_PARAMS_DIR": str(base.params_dir),
        "ALGOTRADING_NOTEBOOKS_DIR": str(base.notebooks_dir),
        "ALGOTRADING_STATE_DIR": str(folders.state_dir),
        "ALGOTRADING_REPORTS_DIR": str(folders.reports_dir),
        "PAPER_TRADING_MODE": "false" if account.mode == "live" else "true",
        **account.limits.as_environment(),
    }
    if account.mode != "live":  # PRODUCTION_MODE=true is the live accounts' switch: a paper one beside them
        env["PRODUCTION_MODE"] = "false"  # would be warned to turn it off, which would stop the live ones
    if account.mode != "demo" and not unset:
        assert account.api_key_env is not None and account.secret_key_env is not None  # checked by the file's model
        env |= {"ALPACA_API_KEY": keys[account.api_key_env], "ALPACA_SECRET_KEY": keys[account.secret_key_env]}
    if account.email_to:
        env["EMAIL_TO"] = ",".join(account.email_to)
    return env


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Run the block with ``os.environ`` replaced by ``env`` (the notebooks' kernels
    started inside inherit it; the in-process ones read it), and restore it after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def account_settings(account: Account, accounts: AccountsFile, base: Paths) -> tuple[Settings, dict[str, str]]:
    """The account's settings and its environment (:func:`account_environment`), checked
    exactly as a single account's are; each problem is prefixed with the account's name."""
    env = account_environment(account, accounts, base)
    with environment(env):
        try:
            settings = load_settings()
        except ConfigError as exc:
            raise ConfigError([f"account '{account.name}': {p}" for p in exc.problems]) from None
    if settings.mode.value != account.mode:  # the keys decide demo/paper; the file must agree
        raise ConfigError(
            [f"account '{account.name}', field 'mode': declared {account.mode}, but its settings run {settings.mode}."]
        )
    return settings, env


def twin_for(account: Account, accounts: AccountsFile, base: Paths) -> Twin | None:
    """Where the paper twin of the live ``account`` keeps its state and reports (None
    without a twin): what the live account's report compares with."""
    twin = accounts.twin_of(account.name)
    if twin is None:
        return None
    folders = AccountPaths.of(base, twin.name)
    return Twin(account.name, twin.name, folders.state_dir, folders.reports_dir)


def alert_settings(account: Account, accounts: AccountsFile, base: Paths) -> Settings:
    """The settings an alert about ``account`` goes out with (``algotrading alert
    --account``): its recipients and folders (its outbox, its state) and the shared SMTP,
    even when its key variables are unset, since the alert may be about exactly that.
    Raises :class:`ConfigError` when even these cannot be read (its limits refused)."""
    with environment(account_environment(account, accounts, base, keys_required=False)):
        return load_settings()


def describe(accounts: AccountsFile, base: Paths) -> list[dict[str, Any]]:
    """The accounts for ``config show`` and ``status``: names of the key variables and
    whether they are set, never their values."""
    env = _base_environment()
    out = []
    for a in accounts.accounts:
        folders = AccountPaths.of(base, a.name)
        out.append(
            {
                "name": a.name,
                "mode": a.mode,
                "keys": {v: ("set" if env.get(v) else "NOT SET") for v in a.key_variables},
                "limits": a.limits.as_environment(),
                "email_to": a.email_to,
                **({"twin_of": a.twin_of} if a.twin_of else {}),
                "state_dir": str(folders.state_dir),
                "reports_dir": str(folders.reports_dir),
            }
        )
    return out
