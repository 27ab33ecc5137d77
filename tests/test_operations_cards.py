"""Operations monitor and system health (issue 18) on the hand-built CRM fixture: the lead stories of
tests/fixtures/crm/README.md plus the engine's operations stories of tests/fixtures/crm/OPS.md, loaded by the real
loader and built with dbt as of 2025-11-28T23:00:00Z (17:00 CST). Every expected value is worked out by hand in
OPS.md and written here; none is read back from the SQL under test.

KPIS maps each inventory id to the assertion that proves it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from cards import dashcard_rows, normalised  # tests/ is on sys.path
from conftest import OPS_SELECT, OPS_TABLES, assert_suite_passes, build_fixture_warehouse, crm_tables

from orchestration import settings, warehouse
from orchestration.bi import compiler
from orchestration.defs import checks

AS_OF = "2025-11-28T23:00:00Z"
AS_OF_DATE = date(2025, 11, 28)
TABLES, SELECT = OPS_TABLES, OPS_SELECT
SPECS = compiler.compile_specs(settings.PROJECT_ROOT / "metabase")
DASHBOARDS = {key: SPECS.dashboards[key] for key in ("operations_monitor", "system_health")}
CARDS = {k: card for k, card in SPECS.cards.items() if k.startswith(("operations__", "system_health__"))}
LAST_30_DAYS = {"date": "2025-10-30~2025-11-28"}  # the 30 local days ending with the as-of date
SINCE_GO_LIVE = {"date": "2025-06-01~2025-11-28"}
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
    info = build_fixture_warehouse(warehouse_info, tmp_path_factory, "ops", crm_tables(*TABLES), SELECT, AS_OF)
    yield info
    warehouse.drop_database(info)


def _rows(info, sql: str):
    with warehouse.connect(info) as conn:
        return conn.execute(sql).fetchall()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_uptime_current_month_and_12_month_average(ops_db):
    """Heartbeat minutes (OPS.md): November observed 1515 (Apollo) + 75 (Twilio) + 30 (SendGrid) + 90 (CRM sync)
    + 30 (webhook) = 1740, inside incidents 1485 + 68 = 1553; October 60 observed, 15 down."""
    per_month = _rows(
        ops_db,
        "select component, month_start::text, observed_seconds, incident_seconds "
        "from marts.fct_ops_uptime_monthly order by 2, 1",
    )
    assert per_month == [
        ("webhook_receiver", "2025-10-01", 3600, 900),
        ("apollo_enrichment", "2025-11-01", 90900, 89100),
        ("crm_sync", "2025-11-01", 5400, 0),
        ("email_service", "2025-11-01", 1800, 0),
        ("sms_gateway", "2025-11-01", 4500, 4080),
        ("webhook_receiver", "2025-11-01", 1800, 0),
    ]
    current, twelve = _rows(
        ops_db,
        """
        select sum(up_seconds) filter (where is_current_month)::numeric
                   / sum(observed_seconds) filter (where is_current_month),
               sum(up_seconds) filter (where is_last_12_months)::numeric
                   / sum(observed_seconds) filter (where is_last_12_months)
        from marts.fct_ops_uptime_monthly""",
    )[0]
    assert round(current, 6) == round(Decimal(187) / Decimal(1740), 6)
    assert round(twelve, 6) == round(Decimal(232) / Decimal(1800), 6)


def test_incidents_active_errors_and_mttr(ops_db):
    """The June Twilio incident lasts until Twilio next succeeded (no heartbeats then); the Apollo outage runs
    24 h 45 min of real time across local midnight and the DST change (23 h 45 min on the wall clock)."""
    assert _rows(
        ops_db,
        "select component, started_at, resolved_at, duration_seconds, is_open "
        "from marts.fct_ops_incidents order by started_at",
    ) == [
        ("sms_gateway", _utc("2025-06-18T20:05:40"), _utc("2025-07-08T17:00:40"), 1716900, False),
        ("webhook_receiver", _utc("2025-10-15T15:30:00"), _utc("2025-10-15T15:45:00"), 900, False),
        ("apollo_enrichment", _utc("2025-11-02T05:45:00"), _utc("2025-11-03T06:30:00"), 89100, False),
        ("sms_gateway", _utc("2025-11-28T21:52:00"), None, None, True),
    ]
    mttr_all, mttr_30 = _rows(
        ops_db,
        "select avg(duration_seconds), avg(duration_seconds) filter "
        "(where started_in_last_30_days) from marts.fct_ops_incidents",
    )[0]
    assert mttr_all == Decimal(1716900 + 900 + 89100) / 3 and mttr_30 == 89100
    assert _rows(ops_db, "select duration_to_as_of_seconds from marts.fct_ops_incidents where is_open") == [(68 * 60,)]


def test_pipeline_stage_success_is_lead_level(ops_db):
    """D24: L-08's enrichment succeeds on attempt 3 (a success); L-11's fails validation; L-12's first response
    never succeeds; every other first response came within 60 s. The engine's lead-less calls are not counted."""
    assert _rows(
        ops_db,
        "select step, count(*), count(*) filter (where stage_succeeded) "
        "from marts.fct_ops_pipeline_steps group by step, step_order order by step_order",
    ) == [
        ("web_form", 11, 11),
        ("first_response", 11, 10),
        ("enrichment", 10, 9),
        ("scoring", 9, 9),
        ("routing", 9, 9),
        ("nurture", 9, 9),
    ]
    assert _rows(
        ops_db,
        "select attempt, status from marts.fct_ops_workflow_attempts "
        "where lead_id = 'L-08' and step = 'enrichment' order by attempt",
    ) == [(1, "failure"), (2, "failure"), (3, "success")]


def test_web_forms_in_the_last_hour(ops_db):
    assert _rows(
        ops_db,
        "select count(*) from marts.fct_ops_workflow_attempts where step = 'web_form' and is_success and is_last_hour",
    ) == [(3,)]


def test_component_health_table(ops_db):
    """Last 24 hours: four web forms (130 ms on average); four Twilio calls rejected (98.75 ms) while Twilio is
    down; Apollo and SendGrid have not been checked since Nov 3 / Nov 14; CRM sync is checked but idle."""
    assert _rows(
        ops_db,
        "select component, component_status, processed_24h, attempts_24h, success_rate_24h, "
        "round(avg_latency_ms_24h, 2) from marts.rpt_ops__component_health order by component",
    ) == [
        ("apollo_enrichment", "No heartbeat", 0, 0, None, None),
        ("crm_sync", "Healthy", 0, 0, None, None),
        ("email_service", "No heartbeat", 0, 0, None, None),
        ("sms_gateway", "Down", 0, 4, Decimal(0), Decimal("98.75")),
        ("webhook_receiver", "Healthy", 4, 4, Decimal(1), Decimal("130.00")),
    ]


def test_external_api_table(ops_db):
    """Last 30 local days (Oct 30 - Nov 28). Apollo: 2350, 240 (401), 2200 ms; Twilio: 900 then four 401s;
    SendGrid: the rate-limited burst, 4 of 10 calls 429 but all answered within 5 s; GoHighLevel: L-06's two."""
    rows = _rows(
        ops_db,
        "select vendor, vendor_status, attempts_30d, round(error_rate_30d, 4), "
        "round(avg_latency_ms_30d, 2), round(sla_compliance_30d, 4), round(rate_limit_used_share, 4) "
        "from marts.rpt_ops__component_health where vendor <> 'none' order by vendor",
    )
    q = Decimal("0.0001")
    assert rows == [
        (
            "Apollo",
            "Degraded",
            3,
            (Decimal(1) / 3).quantize(q),
            Decimal("1596.67"),
            (Decimal(2) / 3).quantize(q),
            (Decimal(10) / 600).quantize(q),
        ),
        ("GoHighLevel", "Healthy", 2, Decimal("0.0000"), Decimal("1795.00"), Decimal("1.0000"), Decimal("0.5000")),
        (
            "SendGrid",
            "Degraded",
            10,
            Decimal("0.4000"),
            Decimal("2615.50"),
            Decimal("1.0000"),
            (Decimal(2) / 600).quantize(q),
        ),
        ("Twilio", "Down", 5, Decimal("0.8000"), Decimal("259.00"), Decimal("0.2000"), Decimal("0.5000")),
    ]


def test_error_categories_and_processing_failures(ops_db):
    assert _rows(
        ops_db,
        "select error_category, count(*) from marts.fct_ops_workflow_attempts "
        "where is_last_30_days and not is_success group by 1 order by 1",
    ) == [("api_limit", 4), ("authentication", 5)]
    # executions: 11 lead runs + EX-OPS-1..9; failed: L-11, L-12, EX-OPS-6..9
    assert _rows(ops_db, "select count(*), count(*) filter (where is_failed) from marts.fct_ops_executions") == [
        (20, 6)
    ]
    assert _rows(
        ops_db,
        "select count(*), count(*) filter (where is_failed) from marts.fct_ops_executions "
        "where started_date between '2025-11-01' and '2025-11-28'",
    ) == [(10, 4)]


def test_the_rejected_heartbeat_is_the_data_accuracy_error(ops_db):
    """The heartbeat with ok = 'ok' is rejected by the loader, so the crm_sync gap stays a gap."""
    assert _rows(ops_db, "select source_table, line_number from raw_audit.rejected_rows") == [
        ("raw_crm.health_checks", 122)
    ]
    assert _rows(ops_db, "select count(*) from raw_crm.health_checks") == [(120,)]


# ---------------------------------------------------------------- the cards, run with their filters bound


def run_card(info, key: str, filters: dict, dashboard: str = "operations_monitor", today: date = AS_OF_DATE):
    spec = DASHBOARDS[dashboard]
    placement = next(p for p in spec.cards if p.card == key)
    return dashcard_rows(info, CARDS[key], spec, placement, filters, today)


def _dec(text: str) -> Decimal:
    return Decimal(text)


# Hand values (OPS.md): card key -> (dashboard, filters, rows)
EXPECTED: dict[str, tuple[str, dict, list[tuple]]] = {
    "operations__web_forms_last_hour": ("operations_monitor", {}, [(3,)]),  # OE-15, 16, 17
    "operations__active_errors": ("operations_monitor", {}, [(1,)]),  # Twilio since 21:52Z
    "operations__degradation_alert": ("operations_monitor", {}, [(3,)]),  # Apollo, SendGrid silent; Twilio down
    "operations__uptime_current_month": ("operations_monitor", {}, [(_dec("0.1075"),)]),  # 187 / 1740 min
    "operations__uptime_12m_avg": ("operations_monitor", {}, [(_dec("0.1289"),)]),  # 232 / 1800 min
    "operations__mttr": ("operations_monitor", LAST_30_DAYS, [(89100,)]),  # the Apollo outage only
    "operations__pipeline_flow": (
        "operations_monitor",
        SINCE_GO_LIVE,
        [
            (1, "web_form", 11, 1),
            (2, "first_response", 11, _dec("0.9091")),
            (3, "enrichment", 10, _dec("0.9")),
            (4, "scoring", 9, 1),
            (5, "routing", 9, 1),
            (6, "nurture", 9, 1),
        ],
    ),
    "operations__component_health": (
        "operations_monitor",
        {},
        [
            ("Apollo Enrichment", "No heartbeat", None, None, 0),
            ("CRM Sync", "Healthy", None, None, 0),
            ("Email Service", "No heartbeat", None, None, 0),
            ("SMS Gateway", "Down", _dec("98.75"), 0, 0),
            ("Webhook Receiver", "Healthy", 130, 1, 4),
        ],
    ),
    "operations__error_categories": ("operations_monitor", LAST_30_DAYS, [("authentication", 5), ("api_limit", 4)]),
    "operations__error_trend": (
        "operations_monitor",
        LAST_30_DAYS,
        [
            (date(2025, 11, 2), "authentication", 1),
            (date(2025, 11, 14), "api_limit", 4),
            (date(2025, 11, 28), "authentication", 4),
        ],
    ),
    "operations__incident_trend": (
        "operations_monitor",
        SINCE_GO_LIVE,
        [  # weeks start on Monday
            (date(2025, 6, 16), 1, 1716900),
            (date(2025, 10, 13), 1, 900),
            (date(2025, 10, 27), 1, 89100),
            (date(2025, 11, 24), 1, None),
        ],
    ),
    "operations__throughput_day": (
        "operations_monitor",
        LAST_30_DAYS,
        [(date(2025, 11, 2), 2), (date(2025, 11, 28), 4)],
    ),
    "operations__throughput_week": (
        "operations_monitor",
        LAST_30_DAYS,
        [(date(2025, 10, 27), 2), (date(2025, 11, 24), 4)],
    ),
    "operations__throughput_hour": (
        "operations_monitor",
        LAST_30_DAYS,
        [  # local hours (CDT until 07:00Z on 11-02)
            (date(2025, 11, 2), 1),
            (datetime(2025, 11, 2, 8), 1),
            (datetime(2025, 11, 28, 15), 1),
            (datetime(2025, 11, 28, 16), 3),
        ],
    ),
    "operations__response_times": (
        "operations_monitor",
        LAST_30_DAYS,
        [  # average, median, p95 (percentile_cont)
            (date(2025, 11, 2), 1742, 1760, 4190),
            (date(2025, 11, 3), 2200, 2200, 2200),
            (date(2025, 11, 14), _dec("2225.625").quantize(Decimal("0.0001")), 2155, 4265),
            (date(2025, 11, 28), _dec("114.375"), 115, _dec("138.25")),
        ],
    ),
    "operations__success_rates": (
        "operations_monitor",
        LAST_30_DAYS,
        [
            (date(2025, 11, 2), "Apollo Enrichment", _dec("0.5")),
            (date(2025, 11, 2), "CRM Sync", 1),
            (date(2025, 11, 2), "Email Service", 1),
            (date(2025, 11, 2), "SMS Gateway", 1),
            (date(2025, 11, 2), "Webhook Receiver", 1),
            (date(2025, 11, 3), "Apollo Enrichment", 1),
            (date(2025, 11, 14), "Email Service", _dec("0.5")),
            (date(2025, 11, 28), "SMS Gateway", 0),
            (date(2025, 11, 28), "Webhook Receiver", 1),
        ],
    ),
    "operations__uptime_trend": (
        "operations_monitor",
        SINCE_GO_LIVE,
        [(date(2025, 10, 1), _dec("0.75")), (date(2025, 11, 1), _dec("0.1075"))],
    ),
    "operations__processing_failure_rate": ("operations_monitor", LAST_30_DAYS, [(_dec("0.4"),)]),  # 4 of 10 runs
    "system_health__external_apis": (
        "system_health",
        {},
        [
            ("Apollo.io", "Degraded", _dec("1596.6667"), _dec("0.0167"), _dec("0.3333"), _dec("0.6667")),
            ("GoHighLevel", "Healthy", 1795, _dec("0.5"), 0, 1),
            ("SendGrid", "Degraded", _dec("2615.5"), _dec("0.0033"), _dec("0.4"), 1),
            ("Twilio SMS", "Down", 259, _dec("0.5"), _dec("0.8"), _dec("0.2")),
        ],
    ),
    "system_health__rows_per_table": (
        "system_health",
        {},
        [("raw_crm.health_checks", 120, 1), ("raw_crm.workflow_events", 63 + 20, 0)],
    ),
}
KPIS.update(
    {
        "s001.trend_throughput": "operations__throughput_day",
        "s001.trend_response_times": "operations__response_times",
        "s001.trend_success_rates": "operations__success_rates",
        "s001.errors_trends": "operations__error_trend",
        "s001.alert_system_degradation": "operations__degradation_alert",
        "s001.db_data_growth": "system_health__rows_per_table",
        "s001.rule_data_freshness": "test_the_pages_say_how_fresh_their_data_is",
    }
)


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: k.split("__", 1)[1])
def test_card_matches_hand_computed_rows(ops_db, key):
    dashboard, filters, rows = EXPECTED[key]
    assert run_card(ops_db, key, filters, dashboard) == normalised(rows)


def test_load_dated_cards_on_the_day_the_fixture_was_loaded(ops_db):
    """The ledger dates the rows by their load: 63 + 20 workflow events and 121 heartbeat lines, one rejected."""
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago")).date()
    around = {"date": f"{today - timedelta(days=1)}~{today + timedelta(days=1)}"}
    assert run_card(ops_db, "operations__data_accuracy_error_rate", around, today=today) == normalised(
        [(Decimal(1) / Decimal(63 + 20 + 121),)]
    )
    assert run_card(ops_db, "system_health__data_growth", around, "system_health", today) == [
        (today - timedelta(days=today.weekday()), "raw_crm", 120 + 83)
    ]


def test_the_pages_say_how_fresh_their_data_is(ops_db):
    """D49: both pages show when the engine's logs were last loaded, and every text box says the data is as of it."""
    [(loaded,)] = _rows(
        ops_db,
        "select max(_loaded_at) from (select _loaded_at from raw_crm.workflow_events "
        "union all select _loaded_at from raw_crm.health_checks) t",
    )
    assert run_card(ops_db, "operations__data_as_of", {}) == [(loaded,)]
    for spec in DASHBOARDS.values():
        assert any(p.card == "operations__data_as_of" for p in spec.cards)
        assert all("as of the last load" in p.text.lower() for p in spec.cards if p.text), spec.name
    assert "not in any data" in next(p.text for p in DASHBOARDS["system_health"].cards if p.text)


def test_every_card_is_placed_and_proves_its_items():
    placed = {p.card for spec in DASHBOARDS.values() for p in spec.cards if p.card}
    assert placed == set(CARDS)
    checked = set(EXPECTED) | {
        "operations__data_accuracy_error_rate",
        "system_health__data_growth",
        "operations__data_as_of",
        "system_health__last_load",
    }
    assert checked == set(CARDS)
    shown = {kpi for card in CARDS.values() for kpi in card.kpis}
    assert shown <= set(KPIS), shown - set(KPIS)


MARTS_WITH_SUITES = (
    "fct_ops_uptime_monthly",
    "fct_ops_incidents",
    "fct_ops_workflow_attempts",
    "fct_ops_pipeline_steps",
)


def test_gx_suites_pass_on_the_fixture_marts(ops_db):
    for name in MARTS_WITH_SUITES:
        assert_suite_passes(ops_db, checks.EXPECTATIONS_DIR / f"marts__{name}.json")


def test_gx_suite_fails_when_incident_time_exceeds_heartbeat_time(fresh_db):
    with warehouse.connect(fresh_db) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.fct_ops_uptime_monthly (component text, month_start date, "
            "observed_seconds bigint, incident_seconds bigint, up_seconds bigint, is_current_month boolean, "
            "is_last_12_months boolean)"
        )
        conn.execute(
            "insert into marts.fct_ops_uptime_monthly values "
            "('sms_gateway', '2025-11-01', 900, 1800, -900, true, true), "  # more down than observed
            "('sms_gateway', '2025-11-01', 900, 0, 900, true, true), "  # the month twice
            "('fax_gateway', '2025-10-01', 900, 0, 900, false, true)"
        )  # not a component
    outcome = checks.validate_suite(fresh_db, checks.EXPECTATIONS_DIR / "marts__fct_ops_uptime_monthly.json")
    assert sorted((f.type, f.column, f.unexpected_count) for f in outcome.failures) == [
        ("expect_column_pair_values_a_to_be_greater_than_b", "observed_seconds, incident_seconds", 1),
        ("expect_column_values_to_be_in_set", "component", 1),
        ("expect_compound_columns_to_be_unique", "component, month_start", 2),
    ]


# The status chips of a table tile: (the row's first cell, the status word, its computed background colour).
CHIPS_JS = """
Array.from(document.querySelectorAll('section.card[data-card="%s"] tbody tr')).map(tr => {
  const chip = tr.querySelector('.status-chip');
  return [tr.cells[0].textContent, chip.textContent, getComputedStyle(chip).backgroundColor];
})
"""
GREEN, YELLOW, RED, GREY = "rgb(132, 187, 76)", "rgb(249, 207, 72)", "rgb(237, 110, 110)", "rgb(167, 167, 167)"


def test_both_dashboards_draw_in_chromium(ops_db, browser, tmp_path):
    """The flow, the health tables with their status colours (Metabase's and the HTML chips, from the one rule on
    the status dimension), and the trends, drawn by the browser."""
    from browser import assert_every_card_drawn, open_report

    from orchestration.bi import html_report
    from orchestration.bi import metabase_payloads as mp

    displays = {k: v.display for k, v in SPECS.cards.items()}
    report = html_report.build_report(ops_db, SPECS.cards, DASHBOARDS["operations_monitor"], LAST_30_DAYS)
    page = open_report(browser, report.write(tmp_path / "ops"))
    shown = assert_every_card_drawn(
        page, DASHBOARDS["operations_monitor"], displays, empty=frozenset({"operations__data_accuracy_error_rate"})
    )
    assert shown["operations__web_forms_last_hour"]["value"].split()[0] == "3"
    assert shown["operations__active_errors"]["value"].split()[0] == "1"
    # the flow: every stage in order (in the 30 days, L-11's enrichment failed validation, L-12's response never came)
    assert page.eval(
        "Array.from(document.querySelectorAll('section.card[data-card=\"operations__pipeline_flow\"] tbody tr'))"
        ".map(tr => tr.cells[1].textContent)"
    ) == ["web_form", "first_response", "enrichment", "scoring", "routing", "nurture"]
    # the trends: one bar per day / week with web forms, and the response-time lines on their four days
    assert len(shown["operations__throughput_day"]["figures"][0]["marks"]) == 2
    assert len(shown["operations__throughput_week"]["figures"][0]["marks"]) == 2
    assert len(shown["operations__throughput_hour"]["figures"][0]["marks"]) == 4
    assert shown["operations__response_times"]["figures"][0]["marks"]
    assert shown["operations__success_rates"]["figures"][0]["marks"]
    # health table (last 24 h): healthy, down and silent components, each word in its colour
    assert page.eval(CHIPS_JS % "operations__component_health") == [
        ["Apollo Enrichment", "No heartbeat", GREY],
        ["CRM Sync", "Healthy", GREEN],
        ["Email Service", "No heartbeat", GREY],
        ["SMS Gateway", "Down", RED],
        ["Webhook Receiver", "Healthy", GREEN],
    ]
    # the fixture was loaded today, long after its as-of month: the load-dated growth chart has nothing in range
    report = html_report.build_report(ops_db, SPECS.cards, DASHBOARDS["system_health"], {})
    page = open_report(browser, report.write(tmp_path / "health"))
    health = assert_every_card_drawn(
        page, DASHBOARDS["system_health"], displays, empty=frozenset({"system_health__data_growth"})
    )
    assert "system_health__external_apis" in health
    # external APIs (30 days): a healthy, two degraded and a down vendor
    assert page.eval(CHIPS_JS % "system_health__external_apis") == [
        ["Apollo.io", "Degraded", YELLOW],
        ["GoHighLevel", "Healthy", GREEN],
        ["SendGrid", "Degraded", YELLOW],
        ["Twilio SMS", "Down", RED],
    ]
    # Metabase gets the same colours for the same words
    formatting = mp.visualization(CARDS["operations__component_health"])[1]["table.column_formatting"]
    assert {(f["value"], f["color"]) for f in formatting} == {
        ("Healthy", "#84BB4C"),
        ("Degraded", "#F9CF48"),
        ("Down", "#ED6E6E"),
        ("No heartbeat", "#A7A7A7"),
    }
