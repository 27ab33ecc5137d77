"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt).

Staging, intermediate and marts become asset groups named after their folders. dbt sources map to
the raw assets' keys (`[source, table]`), which gives lineage from raw tables into dbt.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from dagster import AssetCheckResult, AssetExecutionContext, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration import settings, warehouse
from orchestration.defs.resources import WarehouseResource

MANIFEST = settings.DBT_PROJECT_DIR / "target" / "manifest.json"


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
    for folder in ("models", "macros", "seeds", "tests/dbt"):
        paths.extend(p for p in (root / folder).rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in paths if p.exists())


def ensure_manifest() -> Path:
    """Run `dbt parse` when the manifest is missing or older than the dbt project files."""
    if MANIFEST.exists() and MANIFEST.stat().st_mtime >= _newest_source_mtime():
        return MANIFEST
    env = dict(os.environ)
    # Parsing needs no connection, but profiles.yml needs its variables to render.
    env.setdefault("LEAD_ANALYTICS_PGHOST", "localhost")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    proc = subprocess.run([dbt_executable(), "parse", "--quiet", "--project-dir", str(settings.DBT_PROJECT_DIR),
                           "--profiles-dir", str(settings.DBT_PROJECT_DIR)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    return MANIFEST


class LeadAnalyticsTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> "str | None":
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "seed":
            return "seeds"
        return fqn[1] if len(fqn) > 2 else "dbt"


dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)


PROGRESS_EVERY_SECONDS = 5.0

# Source tests become checks on the raw assets, so every test dbt runs is a Dagster asset check.
TRANSLATOR = LeadAnalyticsTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


@dbt_assets(manifest=ensure_manifest(), project=dbt_project, dagster_dbt_translator=TRANSLATOR)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    info = warehouse.info()
    os.environ.update(dbt_env(info))  # profiles.yml reads the connection from the environment
    started = last_report = time.monotonic()
    models = tests = failed_tests = 0
    for event in dbt.cli(["build"], context=context).stream():
        if isinstance(event, Output):
            models += 1
        elif isinstance(event, AssetCheckResult):
            tests += 1
            failed_tests += 0 if event.passed else 1
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            context.log.info(f"dbt build: {models} models built, {tests} tests run so far")
        yield event
    context.log.info(f"dbt build: {models} models built, {tests} tests run ({failed_tests} failed) "
                     f"in {time.monotonic() - started:.1f}s")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(settings.DBT_PROJECT_DIR),
                          dbt_executable=dbt_executable())
