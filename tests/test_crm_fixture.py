"""The hand-built CRM fixture (tests/fixtures/crm, stories in its README) loads through the real loader with no
rejected row but the one heartbeat OPS.md plants, and builds the CRM staging models and calendar/attribution seeds
with their tests. Every expected value is counted by hand from the fixture files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from conftest import CRM_AS_OF, CRM_STORY_TABLES, run_dbt

from orchestration import warehouse

TABLES = CRM_STORY_TABLES


@pytest.fixture(scope="module")
def crm_db(crm_fixture_db):
    return crm_fixture_db


def _rows(info, sql: str):
    with warehouse.connect(info) as conn:
        return conn.execute(sql).fetchall()


def test_every_fixture_row_loads(crm_db):
    info, _ = crm_db
    counts = {t: _rows(info, f"select count(*) from raw_crm.{t}")[0][0] for t in TABLES}
    # agents: AG-004's two versions are one row; workflow events: 63 of the lead stories (README.md) + 20 of the
    # engine's operations stories (OPS.md)
    assert counts == {
        "locations": 3,
        "agents": 4,
        "agent_rates": 7,
        "agent_time_entries": 12,
        "leads": 13,
        "lead_status_history": 40,
        "activities": 32,
        "appointments": 5,
        "deals": 5,
        "workflow_events": 63 + 20,
    }
    # OPS.md: the 15:00Z heartbeat says `ok` where a boolean belongs
    assert _rows(info, "select source_table, count(*) from raw_audit.rejected_rows group by 1") == [
        ("raw_crm.health_checks", 1)
    ]


def test_staging_carries_the_new_columns(crm_db):
    info, _ = crm_db
    assert _rows(
        info,
        "select agent_id, location_id, active, hired_date, terminated_date, hourly_rate "
        "from staging.stg_crm__agents where agent_id in ('AG-003', 'AG-004') order by 1",
    ) == [
        ("AG-003", "LOC-CHI", True, date(2025, 8, 18), None, Decimal("35.00")),
        ("AG-004", "LOC-LAX", False, date(2022, 5, 2), date(2025, 10, 1), Decimal("47.25")),
    ]
    assert _rows(
        info,
        "select valid_from, valid_to, hourly_rate from staging.stg_crm__agent_rates "
        "where agent_id = 'AG-001' order by 1",
    ) == [(date(2023, 4, 3), date(2025, 7, 1), Decimal("40.00")), (date(2025, 7, 1), None, Decimal("42.00"))]
    assert _rows(
        info,
        "select organization_name, count(*), count(distinct timezone) from staging.stg_crm__locations "
        "group by 1 order by 1",
    ) == [("Lakeside Motors", 2, 2), ("Prairie Auto Group", 1, 1)]
    assert _rows(info, "select lead_id from staging.stg_crm__leads where assigned_at is null") == [("L-11",)]
    assert _rows(
        info, "select category, sum(minutes) from staging.stg_crm__agent_time_entries group by 1 order by 1"
    ) == [("administrative", 451), ("follow_up", 261), ("selling", 1148)]
    assert _rows(
        info, "select coalesce(close_channel, '-'), count(*) from staging.stg_crm__deals group by 1 order by 1"
    ) == [("-", 1), ("agent", 2), ("automation", 1), ("other", 1)]
    assert _rows(info, "select class, weight from staging.attribution_weights order by weight desc") == [
        ("direct", Decimal("0.90")),
        ("assisted", Decimal("0.50")),
        ("influenced", Decimal("0.25")),
        ("none", Decimal(0)),
    ]


def test_a_location_with_an_unknown_time_zone_fails_its_staging_test(crm_db):
    """Time zones are checked in staging (D100): the loader stores the text, the model's test refuses it."""
    info, target = crm_db
    with warehouse.connect(info) as conn:
        conn.execute(
            "insert into raw_crm.locations (location_id, name, organization_name, timezone, updated_at, "
            "_source_file, _source_line, _loaded_at) values ('LOC-MARS', 'Olympus', 'Lakeside Motors', "
            "'Mars/Olympus_Mons', now(), 'manual', 1, now())"
        )
    try:
        proc = run_dbt(info, "test", ["--select", "stg_crm__locations"], CRM_AS_OF, target)
    finally:  # the fixture warehouse is shared by the session
        with warehouse.connect(info) as conn:
            conn.execute("delete from raw_crm.locations where location_id = 'LOC-MARS'")
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "FAIL 1 expression_is_true_stg_crm__locations_timezone" in proc.stdout, proc.stdout[-2000:]
