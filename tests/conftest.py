"""Shared fixtures: one embedded PostgreSQL for the whole test session (or the external one the
environment configures), and a fresh database per test that asks for one."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestration import warehouse


@pytest.fixture(scope="session")
def warehouse_info(tmp_path_factory) -> warehouse.ConnectionInfo:
    started_here = False
    if not warehouse.is_external():
        os.environ["LEAD_ANALYTICS_HOME"] = str(tmp_path_factory.mktemp("home"))
        started_here = True
    info = warehouse.ensure_running()
    yield info
    if started_here:
        warehouse.stop()


@pytest.fixture
def fresh_db(warehouse_info) -> warehouse.ConnectionInfo:
    """A new, empty database on the test warehouse; dropped afterwards."""
    info = warehouse.create_scratch_database(warehouse_info, "test")
    yield info
    warehouse.drop_database(info)


@pytest.fixture
def landing(tmp_path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


LEAD_CAPTURE_FIXTURE = Path(__file__).parent / "fixtures" / "bot_leads"
LEAD_CAPTURE_AS_OF = "2025-03-31T17:00:00Z"  # 12:00 CDT on Monday 2025-03-31


class DatabaseFactory:
    """Creates and drops extra databases on the test warehouse (for module-scoped fixtures)."""

    def __init__(self, warehouse_info: warehouse.ConnectionInfo):
        self.warehouse_info = warehouse_info

    def create(self, prefix: str) -> warehouse.ConnectionInfo:
        return warehouse.create_scratch_database(self.warehouse_info, prefix)

    def drop(self, info: warehouse.ConnectionInfo) -> None:
        warehouse.drop_database(info)


@pytest.fixture(scope="session")
def database_factory(warehouse_info) -> DatabaseFactory:
    return DatabaseFactory(warehouse_info)


@pytest.fixture(scope="session")
def lead_capture_fixture_db(warehouse_info, tmp_path_factory) -> warehouse.ConnectionInfo:
    """A database holding the hand-built bot-lead fixture, loaded by the real loader and built by dbt
    (lead-capture marts and their tests) as of LEAD_CAPTURE_AS_OF in America/Chicago."""
    from orchestration import settings
    from orchestration.ingestion import contracts, loaders
    from orchestration.defs.dbt import dbt_env, dbt_executable

    info = warehouse.create_scratch_database(warehouse_info, "kpi")
    landing_dir = tmp_path_factory.mktemp("landing")
    shutil.copytree(LEAD_CAPTURE_FIXTURE, landing_dir / "bot_leads" / "leads")
    with warehouse.connect(info) as conn:
        loaders.ensure_schemas(conn)
        result = loaders.load_table(conn, contracts.get("bot_leads", "leads"), landing_dir)
    assert result.errors == []

    env = dbt_env(info)
    env.update(LEAD_ANALYTICS_AS_OF=LEAD_CAPTURE_AS_OF, LEAD_ANALYTICS_TIMEZONE="America/Chicago")
    proc = subprocess.run(
        [dbt_executable(), "build", "--select", "+rpt_bot_leads__kpis", "+fct_bot_leads",
         "--project-dir", str(settings.DBT_PROJECT_DIR), "--profiles-dir", str(settings.DBT_PROJECT_DIR),
         "--target-path", str(tmp_path_factory.mktemp("dbt_target"))],
        env=env, capture_output=True, text=True, cwd=settings.DBT_PROJECT_DIR)
    assert proc.returncode == 0, proc.stdout[-4000:]
    yield info
    warehouse.drop_database(info)
