"""Shared fixtures: one embedded PostgreSQL per test process (one per pytest-xdist worker) or the external one the
environment configures, a fresh database per test that asks for one, and the fixture warehouses several modules
read."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pytest

from orchestration import warehouse

# `make test` runs the suite on every core (pytest-xdist, `--dist loadfile`): a module runs whole on one worker, and
# workers take modules in collection order. The longest modules (measured) go first, so that none of them is left
# running alone at the end while the other workers idle.
LONGEST_FIRST = (
    "test_pipeline.py",
    "test_roi_cards.py",
    "test_lead_capture_cards.py",
    "test_operations_cards.py",
    "test_messaging_cards.py",
    "test_omnichannel_cards.py",
    "test_report_delivery.py",
    "test_html_dashboard.py",
    "test_ui.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def warehouse_info(tmp_path_factory) -> warehouse.ConnectionInfo:
    started_here = False
    if not warehouse.is_external():
        os.environ["LEAD_ANALYTICS_HOME"] = str(tmp_path_factory.mktemp("home"))
        started_here = True
    info = warehouse.ensure_running()
    if started_here:
        # The test warehouse's data is thrown away with it: no fsync, no full-page writes. The suite creates and drops
        # hundreds of relations, each a flushed catalog commit; the results are the same without them.
        with warehouse.connect(info, autocommit=True) as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"alter system set {setting} = off")
            conn.execute("select pg_reload_conf()")
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


def run_dbt(
    info: warehouse.ConnectionInfo,
    command: str,
    args: list[str],
    as_of: str | None,
    target_path: Path,
    timezone: str = "America/Chicago",
    *,
    in_process: bool = True,
) -> subprocess.CompletedProcess:
    """`dbt <command> <args>` on the database `info` as of `as_of` (None: the project's default) in `timezone`,
    writing to `target_path`: in this process, on the project parsed once per process (tests/dbt_in_process.py).
    `in_process=False`: through the `dbt` command, which parses the project itself, for a run whose `--vars`
    change what dbt settles while parsing (the write-audit-publish schemas)."""
    import dbt_in_process

    if in_process:
        return dbt_in_process.run(info, command, args, as_of, target_path, timezone)
    from orchestration import settings
    from orchestration.dbt_project import dbt_env, dbt_executable

    env = dbt_env(info) | {"LEAD_ANALYTICS_TIMEZONE": timezone}
    if as_of is not None:
        env["LEAD_ANALYTICS_AS_OF"] = as_of
    return subprocess.run(
        [dbt_executable(), command, *args, *dbt_in_process.project_args(target_path)],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.DBT_PROJECT_DIR,
    )


def build_fixture_warehouse(
    warehouse_info: warehouse.ConnectionInfo,
    tmp_path_factory,
    prefix: str,
    tables: dict[str, Path],
    select: list[str],
    as_of: str,
    timezone: str = "America/Chicago",
    target_path: Path | None = None,
    indirect_selection: str = "buildable",
    rebuilds: Sequence[tuple[list[str], str]] = (),
) -> warehouse.ConnectionInfo:
    """A new database holding hand-built fixture files, loaded by the real loader and built by dbt.

    `tables` maps a raw table key (`bot_leads__leads`) to a folder of its landing files; `select` is the
    dbt selection to build (with its tests) as of `as_of` in `timezone`. Every domain's fixture uses this.
    `target_path`: dbt's target directory, for a caller that runs dbt again on the same database (a second
    run then parses only what changed). `indirect_selection`: dbt's; "buildable" (the default) runs the tests whose
    parents are selected or built before them, so a mart's test that also reads a selected model (e.g. a row count
    against dim_as_of or staging) does not run, and fail, when the mart itself is not selected.
    `rebuilds`: further builds on the same database after the first, each (select, as_of), in order: one domain's
    models built as of a later moment, the others left as the first build made them.
    """
    from orchestration.ingestion import contracts, loaders

    info = warehouse.create_scratch_database(warehouse_info, prefix)
    landing_dir = tmp_path_factory.mktemp(f"{prefix}_landing")
    by_key = {c.key: c for c in contracts.all_contracts()}
    with warehouse.connect(info) as conn:
        loaders.ensure_schemas(conn)
        for key, folder in tables.items():
            contract = by_key[key]
            shutil.copytree(folder, landing_dir / contract.landing_path)
            result = loaders.load_table(conn, contract, landing_dir)
            assert result.errors == [], result.errors
    target = target_path or tmp_path_factory.mktemp(f"{prefix}_dbt_target")
    for build_select, build_as_of in [(select, as_of), *rebuilds]:
        proc = run_dbt(
            info,
            "build",
            ["--select", *build_select, "--indirect-selection", indirect_selection],
            build_as_of,
            target,
            timezone,
        )
        assert proc.returncode == 0, proc.stdout[-4000:]
    return info


CRM_FIXTURE = Path(__file__).parent / "fixtures" / "crm"
CRM_AS_OF = "2025-11-28T23:00:00Z"  # 17:00 CST on Friday 2025-11-28


# the tables of the lead stories (README.md); the fixture also holds health_checks (OPS.md) and system_costs
CRM_STORY_TABLES = (
    "locations",
    "agents",
    "agent_rates",
    "agent_time_entries",
    "leads",
    "lead_status_history",
    "activities",
    "appointments",
    "deals",
    "workflow_events",
)


# The engine's logs (OPS.md) and what the Operations monitor and System health read of them: the other CRM tables
# are not needed (every fixture lead has its web_form event, so leads.created_at is never the 60 s fallback).
OPS_TABLES = ("workflow_events", "health_checks")
OPS_SELECT = [
    "path:models/staging/crm",
    "component_slas",
    "path:models/intermediate/operations",
    "path:models/marts/operations",
    "+dim_as_of",
    "+dim_calendar",
    "+dim_calendar_hour",
]


def crm_tables(*names: str) -> dict[str, Path]:
    """Raw table keys to the CRM fixture's folders: the named tables, or every table of the fixture."""
    folders = sorted(d for d in CRM_FIXTURE.iterdir() if d.is_dir())
    return {f"crm__{d.name}": d for d in folders if not names or d.name in names}


class FixtureWarehouse(NamedTuple):
    info: warehouse.ConnectionInfo
    target: Path  # dbt's target directory of the build, for a test that runs dbt again on the same database


@pytest.fixture(scope="session")
def crm_fixture_db(warehouse_info, tmp_path_factory) -> FixtureWarehouse:
    """The hand-built CRM fixture (tests/fixtures/crm: the lead stories in README.md, the engine's in OPS.md), every
    table loaded, with CRM staging and the lead-analytics, agent and compliance marts built and tested as of
    CRM_AS_OF in America/Chicago. Shared by the modules that read those marts as they are; a module that needs
    other tables, another as-of moment or changed seeds builds its own (test_roi_cards, test_operations_cards)."""
    marts = (
        *("fct_crm_leads", "fct_crm_won_deals", "fct_crm_touches", "fct_crm_lead_funnel", "fct_crm_attribution"),
        *("fct_agent_leads", "fct_agent_months", "fct_agent_time_entries"),
        *("rpt_agent_training_gaps", "rpt_agent_coaching_notes", "fct_compliance_messages"),
    )
    # all CRM staging: its relationship tests are selected with any parent (eager), so every child must be built
    select = ["path:models/staging/crm", "+marts.common", *(f"+{m}" for m in marts)]
    seeds = ["crm_business_hours", "crm_holidays", "attribution_weights", "pre_automation_time_shares"]
    target = tmp_path_factory.mktemp("crm_dbt_target")
    info = build_fixture_warehouse(
        warehouse_info, tmp_path_factory, "crm", crm_tables(), select + seeds, CRM_AS_OF, target_path=target
    )
    yield FixtureWarehouse(info, target)
    warehouse.drop_database(info)


@pytest.fixture(scope="session")
def lead_capture_fixture_db(warehouse_info, tmp_path_factory) -> warehouse.ConnectionInfo:
    """The hand-built bot-lead fixture (tests/fixtures/bot_leads) with the lead-capture marts, the shared
    calendar and their tests built as of LEAD_CAPTURE_AS_OF in America/Chicago."""
    info = build_fixture_warehouse(
        warehouse_info,
        tmp_path_factory,
        "kpi",
        {"bot_leads__leads": LEAD_CAPTURE_FIXTURE},
        ["+fct_bot_leads", "+marts.common"],
        LEAD_CAPTURE_AS_OF,
    )
    yield info
    warehouse.drop_database(info)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Chromium for the session's HTML dashboard tests (tests/browser.py)."""
    from browser import Browser, chromium

    chromium()  # fails in CI, skips elsewhere, when it is not installed
    b = Browser(tmp_path_factory.mktemp("chromium"))
    yield b
    b.close()


def ledger_rows(conn, *rows: tuple[str, str, str, int, int, str]) -> None:
    """The loader's own ledger (`loaders.create_ledger`) holding `rows`, each (file_path, source_table, status,
    inserted, updated, loaded_at): for tests of what reads the ledger without loading files."""
    from orchestration.ingestion import loaders

    with conn.cursor() as cur:
        loaders.create_ledger(cur)
        cur.executemany(
            "insert into raw_audit.loaded_files (landing_root, file_path, source_table, status, inserted, updated, "
            "loaded_at) values ('/landing', %s, %s, %s, %s, %s, %s)",
            rows,
        )


def assert_suite_passes(info: warehouse.ConnectionInfo, path: Path) -> None:
    """The Great Expectations suite at `path` passes on `info`, every one of its (at least one) expectations run."""
    import json

    from orchestration.defs import checks

    outcome = checks.validate_suite(info, path)
    assert outcome.passed, (path.stem, [f.describe() for f in outcome.failures])
    assert outcome.evaluated == len(json.loads(path.read_text())["expectations"]) > 0, path.stem


# ---------------------------------------------------------------- the fake Metabase (tests/fake_metabase.py)

METABASE_USER, METABASE_PASSWORD = "admin@example.com", "s3cret-pass"  # the fake's administrator


@pytest.fixture(scope="module")
def marts(lead_capture_fixture_db) -> dict[str, dict[str, str]]:
    """The tables a Metabase sync of the lead-capture fixture's marts finds."""
    from fake_metabase import warehouse_tables

    with warehouse.connect(lead_capture_fixture_db) as conn:
        return warehouse_tables(conn)


@pytest.fixture
def fake(marts):
    """A fake Metabase that has synced `marts`, with one administrator (METABASE_USER)."""
    from fake_metabase import FakeMetabase

    with FakeMetabase(users={METABASE_USER: METABASE_PASSWORD}, tables=marts) as server:
        yield server


@pytest.fixture
def state(fresh_db):
    """Where the provisioner records what it made: a fresh database of the test warehouse."""
    from orchestration.bi.metabase_state import WarehouseState

    store = WarehouseState(fresh_db)
    yield store
    store.close()
