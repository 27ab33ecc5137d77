"""The one place that owns project-wide facts: paths, schema names, the reporting time zone.

Everything is read from the environment (or the repository) at call time, so tests can point a
run at another state directory or warehouse by setting variables.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT
STAGING_MODELS_DIR = PROJECT_ROOT / "models" / "staging"

# Schemas other than the per-source raw ones (those come from the source contracts).
STAGING_SCHEMA = "staging"
INTERMEDIATE_SCHEMA = "intermediate"
MARTS_SCHEMA = "marts"
AUDIT_SCHEMA = "raw_audit"  # rejected rows and the ledger of loaded files

DEFAULT_DATABASE = "lead_analytics"


def state_dir() -> Path:
    """Where the embedded warehouse, Dagster home and run artefacts live (git-ignored)."""
    return Path(os.environ.get("LEAD_ANALYTICS_HOME", PROJECT_ROOT / ".warehouse")).resolve()


def landing_dir() -> Path:
    """Where vendor exports land (one sub-directory per source and table)."""
    return Path(os.environ.get("LEAD_ANALYTICS_LANDING_DIR", PROJECT_ROOT / "data" / "landing")).resolve()


def reports_dir() -> Path:
    return Path(os.environ.get("LEAD_ANALYTICS_REPORTS_DIR", PROJECT_ROOT / "reports")).resolve()


@lru_cache(maxsize=1)
def _dbt_vars() -> dict:
    with open(DBT_PROJECT_DIR / "dbt_project.yml") as f:
        return yaml.safe_load(f).get("vars", {})


def reporting_timezone() -> str:
    """The reporting time zone. Default lives in dbt_project.yml (var `reporting_timezone`)."""
    return os.environ.get("LEAD_ANALYTICS_TIMEZONE") or _dbt_vars()["reporting_timezone_default"]


AS_OF_FORMATS = ("2025-03-31T17:00:00Z", "2025-03-31T12:00:00-05:00", "2025-03-31 17:00+00")


class SettingError(ValueError):
    """A setting from the environment that cannot be used; the message says which and what it accepts."""


def as_of() -> datetime | None:
    """The pinned as-of moment (`LEAD_ANALYTICS_AS_OF`), or None for "now". Only an ISO-8601 timestamp with a
    time zone is accepted: words such as "yesterday", or a time without a zone, would be read by PostgreSQL in
    its own session time zone and silently mean another moment."""
    text = os.environ.get("LEAD_ANALYTICS_AS_OF", "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SettingError(f"LEAD_ANALYTICS_AS_OF={text!r} is not a timestamp with a time zone; "
                           f"use e.g. {' or '.join(AS_OF_FORMATS[:2])} (unset it for now)")
    return moment.astimezone(timezone.utc)


def check_environment() -> None:
    """Refuse unusable settings before any work starts, and hand dbt the canonical as-of text."""
    moment = as_of()
    if moment is not None:
        os.environ["LEAD_ANALYTICS_AS_OF"] = moment.isoformat()
    zone = reporting_timezone()
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(zone)
    except Exception:
        raise SettingError(f"LEAD_ANALYTICS_TIMEZONE={zone!r} is not an IANA time zone (e.g. America/Chicago, "
                           f"Europe/Amsterdam)") from None
