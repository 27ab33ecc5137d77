"""Operations monitor and system health (issue 18) on the hand-built CRM fixture: the lead stories of
tests/fixtures/crm/README.md plus the engine's operations stories of tests/fixtures/crm/OPS.md, loaded by the real
loader and built with dbt as of 2025-11-28T23:00:00Z (17:00 CST). Every expected value is worked out by hand in
OPS.md and written here; none is read back from the SQL under test.

KPIS maps each inventory id to the assertion that proves it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import build_fixture_warehouse

from orchestration import warehouse

FIXTURE = Path(__file__).parent / "fixtures" / "crm"
AS_OF = "2025-11-28T23:00:00Z"
TABLES = ("locations", "agents", "leads", "workflow_events", "health_checks")
SELECT = ["path:models/staging/crm", "component_slas", "path:models/intermediate/operations",
          "path:models/marts/operations", "dim_as_of"]
KPIS = {
    "s001.system_uptime_current_month": "test_uptime_current_month_and_12_month_average",
    "s001.system_uptime_12m_avg": "test_uptime_current_month_and_12_month_average",
    "s001.errors_mttr": "test_incidents_active_errors_and_mttr",
    "s001.errors_active": "test_incidents_active_errors_and_mttr",
    "s001.pipeline_flow": "test_pipeline_stage_success_is_lead_level",
    "s001.pipeline_60s_response_success": "test_pipeline_stage_success_is_lead_level",
    "s001.pipeline_enrichment_success": "test_pipeline_stage_success_is_lead_level",
    "s001.pipeline_scoring_success": "test_pipeline_stage_success_is_lead_level",
    "s001.pipeline_routing_success": "test_pipeline_stage_success_is_lead_level",
    "s001.pipeline_nurture_success": "test_pipeline_stage_success_is_lead_level",
    "s001.pipeline_web_forms_per_hour": "test_web_forms_in_the_last_hour",
    "s001.component_health_table": "test_component_health_table",
    "s001.component_health.status": "test_component_health_table",
    "s001.component_health.response_time": "test_component_health_table",
    "s001.component_health.success_rate": "test_component_health_table",
    "s001.component_health.last_24h": "test_component_health_table",
    "s001.ext_api_health_table": "test_external_api_table",
    "s001.ext_api.status": "test_external_api_table",
    "s001.ext_api.response_time": "test_external_api_table",
    "s001.ext_api.rate_limit": "test_external_api_table",
    "s001.ext_api.error_rate": "test_external_api_table",
    "s001.ext_api.sla_compliance": "test_external_api_table",
    "s001.errors_categories": "test_error_categories_and_processing_failures",
    "s001.error_rate_processing_failures": "test_error_categories_and_processing_failures",
    "s001.error_rate_data_accuracy": "test_the_rejected_heartbeat_is_the_data_accuracy_error",
}


@pytest.fixture(scope="module")
def ops_db(warehouse_info, tmp_path_factory):
    info = build_fixture_warehouse(warehouse_info, tmp_path_factory, "ops",
                                   {f"crm__{t}": FIXTURE / t for t in TABLES}, SELECT, AS_OF)
    yield info
    warehouse.drop_database(info)


def _rows(info, sql: str):
    with warehouse.connect(info) as conn:
        return conn.execute(sql).fetchall()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_uptime_current_month_and_12_month_average(ops_db):
    """Heartbeat minutes (OPS.md): November observed 1515 (Apollo) + 75 (Twilio) + 30 (SendGrid) + 90 (CRM sync)
    + 30 (webhook) = 1740, inside incidents 1485 + 68 = 1553; October 60 observed, 15 down."""
    per_month = _rows(ops_db, "select component, month_start::text, observed_seconds, incident_seconds "
                              "from marts.fct_ops_uptime_monthly order by 2, 1")
    assert per_month == [
        ("webhook_receiver", "2025-10-01", 3600, 900),
        ("apollo_enrichment", "2025-11-01", 90900, 89100),
        ("crm_sync", "2025-11-01", 5400, 0),
        ("email_service", "2025-11-01", 1800, 0),
        ("sms_gateway", "2025-11-01", 4500, 4080),
        ("webhook_receiver", "2025-11-01", 1800, 0)]
    current, twelve = _rows(ops_db, """
        select sum(up_seconds) filter (where is_current_month)::numeric
                   / sum(observed_seconds) filter (where is_current_month),
               sum(up_seconds) filter (where is_last_12_months)::numeric
                   / sum(observed_seconds) filter (where is_last_12_months)
        from marts.fct_ops_uptime_monthly""")[0]
    assert round(current, 6) == round(Decimal(187) / Decimal(1740), 6)
    assert round(twelve, 6) == round(Decimal(232) / Decimal(1800), 6)


def test_incidents_active_errors_and_mttr(ops_db):
    """The June Twilio incident lasts until Twilio next succeeded (no heartbeats then); the Apollo outage runs
    24 h 45 min of real time across local midnight and the DST change (23 h 45 min on the wall clock)."""
    assert _rows(ops_db, "select component, started_at, resolved_at, duration_seconds, is_open "
                         "from marts.fct_ops_incidents order by started_at") == [
        ("sms_gateway", _utc("2025-06-18T20:05:40"), _utc("2025-07-08T17:00:40"), 1716900, False),
        ("webhook_receiver", _utc("2025-10-15T15:30:00"), _utc("2025-10-15T15:45:00"), 900, False),
        ("apollo_enrichment", _utc("2025-11-02T05:45:00"), _utc("2025-11-03T06:30:00"), 89100, False),
        ("sms_gateway", _utc("2025-11-28T21:52:00"), None, None, True)]
    mttr_all, mttr_30 = _rows(ops_db, "select avg(duration_seconds), avg(duration_seconds) filter "
                                      "(where started_in_last_30_days) from marts.fct_ops_incidents")[0]
    assert mttr_all == Decimal(1716900 + 900 + 89100) / 3 and mttr_30 == 89100
    assert _rows(ops_db, "select duration_to_as_of_seconds from marts.fct_ops_incidents where is_open") == [(68 * 60,)]


def test_pipeline_stage_success_is_lead_level(ops_db):
    """D24: L-08's enrichment succeeds on attempt 3 (a success); L-11's fails validation; L-12's first response
    never succeeds; every other first response came within 60 s. The engine's lead-less calls are not counted."""
    assert _rows(ops_db, "select step, count(*), count(*) filter (where stage_succeeded) "
                         "from marts.fct_ops_pipeline_steps group by step, step_order order by step_order") == [
        ("web_form", 11, 11), ("first_response", 11, 10), ("enrichment", 10, 9), ("scoring", 9, 9),
        ("routing", 9, 9), ("nurture", 9, 9)]
    assert _rows(ops_db, "select attempt, status from marts.fct_ops_workflow_attempts "
                         "where lead_id = 'L-08' and step = 'enrichment' order by attempt") == [
        (1, "failure"), (2, "failure"), (3, "success")]


def test_web_forms_in_the_last_hour(ops_db):
    assert _rows(ops_db, "select count(*) from marts.fct_ops_workflow_attempts "
                         "where step = 'web_form' and is_success and is_last_hour") == [(3,)]


def test_component_health_table(ops_db):
    """Last 24 hours: four web forms (130 ms on average); four Twilio calls rejected (98.75 ms) while Twilio is
    down; Apollo and SendGrid have not been checked since Nov 3 / Nov 14; CRM sync is checked but idle."""
    assert _rows(ops_db, "select component, component_status, processed_24h, attempts_24h, success_rate_24h, "
                         "round(avg_latency_ms_24h, 2) from marts.rpt_ops__component_health order by component") == [
        ("apollo_enrichment", "No heartbeat", 0, 0, None, None),
        ("crm_sync", "Healthy", 0, 0, None, None),
        ("email_service", "No heartbeat", 0, 0, None, None),
        ("sms_gateway", "Down", 0, 4, Decimal(0), Decimal("98.75")),
        ("webhook_receiver", "Healthy", 4, 4, Decimal(1), Decimal("130.00"))]


def test_external_api_table(ops_db):
    """Last 30 local days (Oct 30 - Nov 28). Apollo: 2350, 240 (401), 2200 ms; Twilio: 900 then four 401s;
    SendGrid: the rate-limited burst, 4 of 10 calls 429 but all answered within 5 s; GoHighLevel: L-06's two."""
    rows = _rows(ops_db, "select vendor, vendor_status, attempts_30d, round(error_rate_30d, 4), "
                         "round(avg_latency_ms_30d, 2), round(sla_compliance_30d, 4), round(rate_limit_used_share, 4) "
                         "from marts.rpt_ops__component_health where vendor <> 'none' order by vendor")
    q = Decimal("0.0001")
    assert rows == [
        ("Apollo", "Degraded", 3, (Decimal(1) / 3).quantize(q), Decimal("1596.67"), (Decimal(2) / 3).quantize(q),
         (Decimal(10) / 600).quantize(q)),
        ("GoHighLevel", "Healthy", 2, Decimal("0.0000"), Decimal("1795.00"), Decimal("1.0000"), Decimal("0.5000")),
        ("SendGrid", "Degraded", 10, Decimal("0.4000"), Decimal("2615.50"), Decimal("1.0000"),
         (Decimal(2) / 600).quantize(q)),
        ("Twilio", "Down", 5, Decimal("0.8000"), Decimal("259.00"), Decimal("0.2000"), Decimal("0.5000"))]


def test_error_categories_and_processing_failures(ops_db):
    assert _rows(ops_db, "select error_category, count(*) from marts.fct_ops_workflow_attempts "
                         "where is_last_30_days and not is_success group by 1 order by 1") == [
        ("api_limit", 4), ("authentication", 5)]
    # executions: 11 lead runs + EX-OPS-1..9; failed: L-11, L-12, EX-OPS-6..9
    assert _rows(ops_db, "select count(*), count(*) filter (where is_failed) from marts.fct_ops_executions") == [
        (20, 6)]
    assert _rows(ops_db, "select count(*), count(*) filter (where is_failed) from marts.fct_ops_executions "
                         "where started_date between '2025-11-01' and '2025-11-28'") == [(10, 4)]


def test_the_rejected_heartbeat_is_the_data_accuracy_error(ops_db):
    """The heartbeat with ok = 'ok' is rejected by the loader, so the crm_sync gap stays a gap."""
    assert _rows(ops_db, "select source_table, line_number from raw_audit.rejected_rows") == [
        ("raw_crm.health_checks", 122)]
    assert _rows(ops_db, "select count(*) from raw_crm.health_checks") == [(120,)]
