"""The dbt project on disk: which dbt to run, its environment, and a manifest no older than the project.

Light on purpose (no dbt, Dagster or MetricFlow import), so the CLI, the card compiler and the tests can
ask for a fresh manifest without paying for the Dagster definitions.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestration import publishing, settings, warehouse

MANIFEST = settings.DBT_PROJECT_DIR / "target" / "manifest.json"
SEMANTIC_MANIFEST = settings.DBT_PROJECT_DIR / "target" / "semantic_manifest.json"
_PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests/dbt")
BUILD_VARS = json.dumps(publishing.DBT_VARS)  # the vars of a write-audit-publish build


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's virtualenv), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def dbt_env(info: warehouse.ConnectionInfo) -> dict[str, str]:
    env = dict(os.environ)
    env.update(info.dbt_env())
    env.setdefault("LEAD_ANALYTICS_TIMEZONE", settings.reporting_timezone())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def _newest_source_mtime() -> float:
    root = settings.DBT_PROJECT_DIR
    paths = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in _PROJECT_FOLDERS:
        if (root / folder).exists():
            paths.extend(p for p in (root / folder).rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in paths if p.exists())


def ensure_manifest() -> Path:
    """Run `dbt parse` when the manifest (and the semantic manifest beside it) is missing or older than
    the dbt project files."""
    newest = _newest_source_mtime()
    if all(p.exists() and p.stat().st_mtime >= newest for p in (MANIFEST, SEMANTIC_MANIFEST)):
        return MANIFEST
    env = dict(os.environ)
    # Parsing needs no connection, but profiles.yml needs its variables to render.
    env.setdefault("LEAD_ANALYTICS_PGHOST", "localhost")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    # Parsed with the build's vars, so the build's partial parse can reuse this one.
    proc = subprocess.run([dbt_executable(), "parse", "--quiet", "--vars", BUILD_VARS,
                           "--project-dir", str(settings.DBT_PROJECT_DIR), "--profiles-dir", str(settings.DBT_PROJECT_DIR)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        message = " ".join((proc.stdout + proc.stderr).split())
        raise RuntimeError(f"dbt parse failed: {message[-1500:]}")
    return MANIFEST
