"""The one place that owns project-wide facts: paths, schema names, the reporting time zone.

Everything is read from the environment (or the repository) at call time, so tests can point a
run at another state directory or warehouse by setting variables.
"""
from __future__ import annotations

import os
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
