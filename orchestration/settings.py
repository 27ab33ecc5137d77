"""The one place that owns project-wide facts: paths, schema names, and the run's `Settings`.

`Settings.load()` reads the environment (the only read of `LEAD_ANALYTICS_*` run settings in the project) and the
command line's options, validates them, and returns one frozen object that the CLI passes on as an argument:
to the pipeline, the Dagster definitions, the generator, and the environment of the dbt and Dagster child
processes (a child's environment is its interface). Nothing writes `os.environ` to hand a setting to our own code;
the one write left is defs/dbt.py's, for the moment dagster-dbt starts dbt (it takes no environment of its own).

Code that does not take settings as an argument (the dashboards under `orchestration/bi`, the raw assets and
the sensor that Dagster builds without arguments) calls `current()` or the functions below it: the settings the
CLI is running with, else those of the environment as it is at the call (so a test that sets a variable sees it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT
STAGING_MODELS_DIR = PROJECT_ROOT / "models" / "staging"

# Schemas other than the per-source raw ones (those come from the source contracts).
STAGING_SCHEMA = "staging"
INTERMEDIATE_SCHEMA = "intermediate"
MARTS_SCHEMA = "marts"
AUDIT_SCHEMA = "raw_audit"  # rejected rows and the ledger of loaded files

DEFAULT_DATABASE = "lead_analytics"

AS_OF_FORMATS = ("2025-03-31T17:00:00Z", "2025-03-31T12:00:00-05:00", "2025-03-31 17:00+00")

# The environment variables a run's settings come from (and that dbt's project files read, see child_env).
ENV_TIMEZONE = "LEAD_ANALYTICS_TIMEZONE"
ENV_AS_OF = "LEAD_ANALYTICS_AS_OF"
ENV_LANDING = "LEAD_ANALYTICS_LANDING_DIR"
ENV_REPORTS = "LEAD_ANALYTICS_REPORTS_DIR"
ENV_HOME = "LEAD_ANALYTICS_HOME"
ENV_DATABASE_URL = "LEAD_ANALYTICS_DATABASE_URL"
ENV_READER_PASSWORD = "LEAD_ANALYTICS_READER_PASSWORD"  # reporting_reader's; unset: generated, kept in the state dir
ENV_LOAD_PARALLELISM = "LEAD_ANALYTICS_LOAD_PARALLELISM"
DEFAULT_LOAD_PARALLELISM = 2  # the machine this runs on has 2 cores; each table loads on its own connection
# Report delivery (issue 20): the SMTP server and an optional generic webhook; unset host = delivery skipped.
ENV_SMTP = {
    "host": "LEAD_ANALYTICS_SMTP_HOST",
    "port": "LEAD_ANALYTICS_SMTP_PORT",
    "user": "LEAD_ANALYTICS_SMTP_USER",
    "password": "LEAD_ANALYTICS_SMTP_PASSWORD",
    "sender": "LEAD_ANALYTICS_SMTP_FROM",
    "starttls": "LEAD_ANALYTICS_SMTP_STARTTLS",
}
ENV_WEBHOOK = "LEAD_ANALYTICS_REPORT_WEBHOOK_URL"
LIBPQ_NAMES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")  # libpq's own, read as a fallback


class SettingError(ValueError):
    """A setting that cannot be used; the message says which, where it came from, and what it accepts."""


@lru_cache(maxsize=1)
def _dbt_vars() -> dict:
    with (DBT_PROJECT_DIR / "dbt_project.yml").open() as f:
        return yaml.safe_load(f).get("vars", {})


def default_timezone() -> str:
    """The reporting time zone when nothing sets one: var `reporting_timezone_default` in dbt_project.yml."""
    return _dbt_vars()["reporting_timezone_default"]


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # ValueError for "", ZoneInfoNotFoundError, or a path-like name
        return False
    return True


class Smtp(BaseModel):
    """Where reports and alerts are sent from. `starttls` defaults to on except for a server on this machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    user: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    starttls: bool = True


class Settings(BaseModel):
    """One run's settings, validated. Build it with `Settings.load()`; pass it on, never through the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str  # the reporting time zone, an IANA name
    as_of: datetime | None = None  # the pinned "now" (UTC), or None for the build time
    landing_dir: Path  # where vendor exports land (one sub-directory per source and table)
    reports_dir: Path  # where the HTML dashboards are written
    state_dir: Path  # the embedded warehouse, Dagster home and run artefacts (git-ignored)
    # An external warehouse: a libpq URL, else the standard PG* variables (PGHOST set). Neither: the embedded one.
    database_url: str | None = Field(default=None, repr=False)
    libpq: dict[str, str] = Field(default_factory=dict, repr=False)
    reader_password: str | None = Field(default=None, repr=False)
    load_parallelism: int = Field(default=DEFAULT_LOAD_PARALLELISM, ge=1, le=64)  # raw tables loaded at once
    smtp: Smtp | None = None  # None: report delivery is skipped, with a one-line reason
    webhook_url: str | None = Field(default=None, repr=False)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not _is_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone")
        return value

    @field_validator("as_of")
    @classmethod
    def _with_zone(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("the as-of moment needs a time zone")
        return None if value is None else value.astimezone(UTC)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timezone: str | None = None,
        as_of: str | None = None,
        landing_dir: str | Path | None = None,
    ) -> Settings:
        """The settings from the command line's options (when given) over the environment (`os.environ` unless
        `environ`); a value that cannot be used raises SettingError naming the option or variable."""
        env = os.environ if environ is None else environ
        zone_source, zone = (
            ("--timezone", timezone)
            if timezone is not None
            else (ENV_TIMEZONE, env.get(ENV_TIMEZONE) or default_timezone())
        )
        as_of_source, as_of_text = ("--as-of", as_of) if as_of is not None else (ENV_AS_OF, env.get(ENV_AS_OF, ""))
        landing = landing_dir if landing_dir is not None else env.get(ENV_LANDING, PROJECT_ROOT / "data" / "landing")
        return cls(
            as_of=_parse_as_of(as_of_text, as_of_source),
            timezone=_checked_zone(zone, zone_source),
            landing_dir=Path(landing).resolve(),
            reports_dir=Path(env.get(ENV_REPORTS, PROJECT_ROOT / "reports")).resolve(),
            state_dir=Path(env.get(ENV_HOME, PROJECT_ROOT / ".warehouse")).resolve(),
            database_url=env.get(ENV_DATABASE_URL) or None,
            libpq={name: env[name] for name in LIBPQ_NAMES if env.get(name)},
            reader_password=env.get(ENV_READER_PASSWORD) or None,
            load_parallelism=_parse_parallelism(env.get(ENV_LOAD_PARALLELISM, "")),
            smtp=_smtp(env),
            webhook_url=env.get(ENV_WEBHOOK) or None,
        )

    @property
    def external_database(self) -> bool:
        return bool(self.database_url or self.libpq.get("PGHOST"))

    def today(self) -> date:
        """Today's date in the reporting time zone (a run near midnight UTC is still the local day)."""
        return datetime.now(ZoneInfo(self.timezone)).date()

    @property
    def as_of_text(self) -> str:
        """The as-of moment as dbt reads it (`LEAD_ANALYTICS_AS_OF`): ISO-8601 in UTC, or "" for the build time."""
        return self.as_of.isoformat() if self.as_of is not None else ""

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a child process (dbt, `dagster dev`) that runs with these settings: `base` (default
        this process's environment) with every setting written as the variable the child reads."""
        env = dict(os.environ if base is None else base)
        env.update(
            {
                ENV_TIMEZONE: self.timezone,
                ENV_AS_OF: self.as_of_text,
                ENV_LANDING: str(self.landing_dir),
                ENV_REPORTS: str(self.reports_dir),
                ENV_HOME: str(self.state_dir),
                ENV_LOAD_PARALLELISM: str(self.load_parallelism),
            }
        )
        env.update(self.libpq)
        if self.database_url:
            env[ENV_DATABASE_URL] = self.database_url
        if self.smtp is not None:
            for field, name in ENV_SMTP.items():
                value = getattr(self.smtp, field)
                if value is not None:
                    env[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        if self.webhook_url:
            env[ENV_WEBHOOK] = self.webhook_url
        return env


def _smtp(env: Mapping[str, str]) -> Smtp | None:
    """The SMTP settings, or None when no host is set; a host without a sender, a port that is not a number or a
    STARTTLS value that is not 0/1 raises SettingError naming the variable."""
    host = env.get(ENV_SMTP["host"], "").strip()
    if not host:
        return None
    values: dict[str, object] = {"host": host}
    port = env.get(ENV_SMTP["port"], "").strip()
    if port:
        if not port.isdigit():
            raise SettingError(f"{ENV_SMTP['port']}={port!r} is not a port number")
        values["port"] = int(port)
    sender = env.get(ENV_SMTP["sender"], "").strip()
    if "@" not in sender:
        raise SettingError(f"{ENV_SMTP['sender']}={sender!r} must be an e-mail address when {ENV_SMTP['host']} is set")
    values["sender"] = sender
    for field in ("user", "password"):
        if env.get(ENV_SMTP[field]):
            values[field] = env[ENV_SMTP[field]]
    tls = env.get(ENV_SMTP["starttls"], "").strip().lower()
    if tls not in ("", "0", "1", "true", "false"):
        raise SettingError(f"{ENV_SMTP['starttls']}={tls!r} must be 1 or 0")
    values["starttls"] = tls in ("1", "true") if tls else host not in ("localhost", "127.0.0.1", "::1")
    return Smtp(**values)


def _checked_zone(zone: str, source: str) -> str:
    if not _is_zone(zone):
        raise SettingError(f"{source}={zone!r} is not an IANA time zone (e.g. America/Chicago, Europe/Amsterdam)")
    return zone


def _parse_parallelism(text: str) -> int:
    text = text.strip()
    if not text:
        return DEFAULT_LOAD_PARALLELISM
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise SettingError(
            f"{ENV_LOAD_PARALLELISM}={text!r} is not a number of tables to load at once (1 to 64; "
            f"unset it for {DEFAULT_LOAD_PARALLELISM})"
        )
    return int(text)


def _parse_as_of(text: str, source: str) -> datetime | None:
    """Only an ISO-8601 timestamp with a time zone is accepted: words such as "yesterday", or a time without a
    zone, would be read by PostgreSQL in its own session time zone and silently mean another moment."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        how_to_unset = "leave it out" if source.startswith("--") else "unset it"
        raise SettingError(
            f"{source}={text!r} is not a timestamp with a time zone; "
            f"use e.g. {' or '.join(AS_OF_FORMATS[:2])} ({how_to_unset} for now)"
        )
    return moment


# ----------------------------------------------------------------------------- the settings in force

_running: Settings | None = None


@contextmanager
def running(config: Settings) -> Iterator[Settings]:
    """Make `config` what `current()` returns while the block runs (the CLI wraps each command in it)."""
    global _running
    previous, _running = _running, config
    try:
        yield config
    finally:
        _running = previous


@lru_cache(maxsize=8)
def _from_environment(values: tuple[str | None, ...]) -> Settings:
    return Settings.load({name: value for name, value in zip(_ENV_NAMES, values, strict=False) if value is not None})


_ENV_NAMES = (
    ENV_TIMEZONE,
    ENV_AS_OF,
    ENV_LANDING,
    ENV_REPORTS,
    ENV_HOME,
    ENV_DATABASE_URL,
    ENV_READER_PASSWORD,
    ENV_LOAD_PARALLELISM,
    *LIBPQ_NAMES,
    *ENV_SMTP.values(),
    ENV_WEBHOOK,
)


def current() -> Settings:
    """The settings in force: the CLI's while it runs a command, else the environment's (loaded once per
    distinct environment; SettingError when it holds an unusable value)."""
    if _running is not None:
        return _running
    return _from_environment(tuple(os.environ.get(name) for name in _ENV_NAMES))


def state_dir() -> Path:
    """Where the embedded warehouse, Dagster home and run artefacts live (git-ignored)."""
    return current().state_dir


def landing_dir() -> Path:
    """Where vendor exports land (one sub-directory per source and table)."""
    return current().landing_dir


def reports_dir() -> Path:
    return current().reports_dir


def reporting_timezone() -> str:
    """The reporting time zone. Default lives in dbt_project.yml (var `reporting_timezone`)."""
    return current().timezone


def as_of() -> datetime | None:
    """The pinned as-of moment (UTC), or None for "now"."""
    return current().as_of
