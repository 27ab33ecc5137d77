"""Great Expectations suites as blocking Dagster asset checks (`orchestration.defs.checks`).

Each suite runs against a small hand-written table in a fresh database: clean rows pass, a corrupted
copy fails with the expectations and offending rows written out below by hand. The last tests run
the real checks in Dagster runs: a corrupted mart build (in its shadow schema) stops the asset
downstream of it, and a raw file with a bad value fails the raw asset's own step, so nothing
downstream of the raw table runs; both record what held new data back.
"""

from orchestration import warehouse
from orchestration.defs import checks
from orchestration.defs.checks import EXPECTATIONS_DIR

RAW_DDL = """
create schema raw_bot_leads;
create table raw_bot_leads.leads (
    lead_id text, source text, bot_type text, service_needed text, confidence_score numeric,
    status text, name text, email text, phone text, region text, created_at timestamptz,
    updated_at timestamptz, _source_file text, _source_line integer, _loaded_at timestamptz default now())
"""
RAW_CLEAN = [
    (
        "L1",
        "Website",
        "chat",
        "AllyChat",
        0.91,
        "new",
        "Ann",
        "ann@example.com",
        "+15550001",
        "TX",
        "2025-03-03 09:15+00",
        "2025-03-03 09:15+00",
        "leads_2025_03.csv",
        2,
    ),
    (
        "L2",
        "WhatsApp",
        "voice",
        "AllyVoice",
        0.35,
        "in progress",
        "Bo",
        "bo@example.com",
        "+15550002",
        None,
        "2025-03-03 10:40+00",
        "2025-03-04 08:00+00",
        "leads_2025_03.csv",
        3,
    ),
    (
        "L3",
        "Ads",
        "chat",
        "AllyBundle",
        None,
        "converted",
        "Cy",
        None,
        "+15550003",
        "CA",
        "2025-03-04 17:05+00",
        "2025-03-05 12:00+00",
        "leads_2025_03.csv",
        4,
    ),
    (
        "L4",
        "Social",
        "voice",
        "AllyChat",
        0.6,
        "dropped",
        "Di",
        "di@example.com",
        None,
        "NY",
        "2025-03-05 23:59+00",
        "2025-03-06 00:10+00",
        "leads_2025_03.csv",
        5,
    ),
]

FCT_DDL = """
create schema if not exists marts;
create table marts.fct_bot_leads (
    lead_id text, source text, bot_type text, service_needed text, status text, region text,
    region_label text, confidence_score numeric, confidence_band text, is_high_confidence boolean,
    is_low_confidence boolean, is_converted boolean, is_repeat_lead boolean, repeat_matched_on text,
    email_normalized text, phone_normalized text, created_at timestamptz, created_at_local timestamp,
    created_date date, updated_at timestamptz)
"""
FCT_COLUMNS = (
    "lead_id, source, bot_type, service_needed, status, region, region_label, confidence_score, "
    "confidence_band, created_at, updated_at"
)
FCT_CLEAN = [
    (
        "L1",
        "Website",
        "chat",
        "AllyChat",
        "new",
        "TX",
        "TX",
        0.91,
        "high",
        "2025-03-03 09:15+00",
        "2025-03-03 09:15+00",
    ),
    (
        "L2",
        "WhatsApp",
        "voice",
        "AllyVoice",
        "in progress",
        None,
        "Unknown",
        0.35,
        "low",
        "2025-03-03 10:40+00",
        "2025-03-04 08:00+00",
    ),
    (
        "L3",
        "Ads",
        "chat",
        "AllyBundle",
        "converted",
        "CA",
        "CA",
        None,
        "unscored",
        "2025-03-04 17:05+00",
        "2025-03-05 12:00+00",
    ),
    (
        "L4",
        "Social",
        "voice",
        "AllyChat",
        "dropped",
        "NY",
        "NY",
        0.6,
        "medium",
        "2025-03-05 23:59+00",
        "2025-03-06 00:10+00",
    ),
]
# L1 twice (a bad join), L2 with an unknown status, L3 with a score above 1.
FCT_CORRUPT = [
    FCT_CLEAN[0],
    (
        "L1",
        "Website",
        "chat",
        "AllyChat",
        "new",
        "TX",
        "TX",
        0.91,
        "high",
        "2025-03-03 09:15+00",
        "2025-03-07 09:00+00",
    ),
    (
        "L2",
        "WhatsApp",
        "voice",
        "AllyVoice",
        "bogus",
        None,
        "Unknown",
        0.35,
        "low",
        "2025-03-03 10:40+00",
        "2025-03-04 08:00+00",
    ),
    (
        "L3",
        "Ads",
        "chat",
        "AllyBundle",
        "converted",
        "CA",
        "CA",
        1.7,
        "high",
        "2025-03-04 17:05+00",
        "2025-03-05 12:00+00",
    ),
    FCT_CLEAN[3],
]

CALENDAR_DDL = """
create schema if not exists marts;
create table marts.dim_calendar (
    calendar_date date, iso_week integer, iso_weekday integer, weekday_name text, days_from_as_of integer)
"""
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# 18-31 March 2025 as of Monday the 31st: the as-of date and the two rolling weeks before it.
CALENDAR_CLEAN = [
    (f"2025-03-{day:02d}", 12 + (day >= 24) + (day >= 31), (day - 17) % 7 + 1, WEEKDAYS[(day - 17) % 7], day - 31)
    for day in range(18, 32)
]
# The 24th twice, a weekday 8 on the 25th, and an as-of date after the calendar ends (every day before it).
CALENDAR_CORRUPT = [(*row[:4], row[4] - 5) for row in CALENDAR_CLEAN[:6]] + [
    CALENDAR_CLEAN[6],
    (*CALENDAR_CLEAN[6][:4], CALENDAR_CLEAN[6][4] - 5),
    ("2025-03-25", 13, 8, "Tuesday", -11),
]


def _create(info: warehouse.ConnectionInfo, ddl: str, table: str, columns: str | None, rows: list[tuple]) -> None:
    with warehouse.connect(info) as conn:
        conn.execute(ddl)
        marks = ", ".join(["%s"] * len(rows[0]))
        target = f"{table} ({columns})" if columns else table
        conn.cursor().executemany(f"insert into {target} values ({marks})", rows)


def create_raw(info, rows):
    _create(
        info,
        RAW_DDL,
        "raw_bot_leads.leads",
        "lead_id, source, bot_type, service_needed, confidence_score, status, name, email, phone, region, "
        "created_at, updated_at, _source_file, _source_line",
        rows,
    )


def create_fct(info, rows, schema: str = "marts"):
    ddl = f"drop table if exists {schema}.fct_bot_leads;" + FCT_DDL.replace("marts", schema)
    _create(info, ddl, f"{schema}.fct_bot_leads", FCT_COLUMNS, rows)


def create_calendar(info, rows):
    _create(info, CALENDAR_DDL, "marts.dim_calendar", None, rows)


def _failed(outcome) -> dict[str, int | None]:
    return {f"{f.type}({f.column})": f.unexpected_count for f in outcome.failures}


def test_every_suite_maps_to_an_asset_and_a_table():
    suites = {p.stem: checks.load_suite(p)["meta"] for p in checks.suite_paths()}
    assert {name: (meta["asset_key"], meta["table"]) for name, meta in suites.items()} == {
        "raw_bot_leads__leads": (["bot_leads", "leads"], "raw_bot_leads.leads"),
        "marts__fct_bot_leads": (["marts", "fct_bot_leads"], "marts.fct_bot_leads"),
        "marts__dim_calendar": (["marts", "dim_calendar"], "marts.dim_calendar"),
        **{
            f"marts__{mart}": (["marts", mart], f"marts.{mart}")
            for mart in (  # seed 003, tests/test_messaging_cards.py
                "fct_messaging_potential_daily",
                "fct_messaging_conversation_hours",
                "fct_messaging_user_activity",
                "fct_messaging_after_sales_funnel",
                "fct_messaging_after_sales_activity",
                "fct_messaging_bot_activity",
            )
        },
        **{
            f"marts__{m}": (["marts", m], f"marts.{m}")
            for m in (  # seed 002, tested in test_omnichannel_cards.py
                "fct_omnichannel_daily_usage",
                "fct_omnichannel_channel_usage",
                "fct_omnichannel_hourly_charges",
                "fct_omnichannel_invitation_steps",
            )
        },
        "marts__fct_campaign_daily": (["marts", "fct_campaign_daily"], "marts.fct_campaign_daily"),
        "marts__fct_lead_funnel_daily": (["marts", "fct_lead_funnel_daily"], "marts.fct_lead_funnel_daily"),
        "marts__fct_workspace_months": (["marts", "fct_workspace_months"], "marts.fct_workspace_months"),
        **{
            f"marts__{m}": (["marts", m], f"marts.{m}")
            for m in (  # seed 001 part 1, test_lead_analytics_cards.py and test_agent_performance_cards.py
                "fct_crm_leads",
                "fct_crm_touches",
                "fct_crm_lead_funnel",
                "fct_crm_won_deals",
                "fct_crm_attribution",
                "fct_agent_leads",
                "fct_agent_months",
                "fct_agent_time_entries",
                "rpt_agent_training_gaps",
                "rpt_agent_coaching_notes",
            )
        },
        **{
            f"marts__{m}": (["marts", m], f"marts.{m}")
            for m in (  # seed 001 part 2, test_roi_cards.py
                "fct_roi_months",
                "fct_roi_cost_benefit",
                "fct_kpi_target_status",
                "fct_industry_benchmarks",
                "fct_exec_action_items",
                "rpt_roi_assumptions",
            )
        },
        **{
            f"marts__{m}": (["marts", m], f"marts.{m}")
            for m in (  # seed 001 part 3, test_operations_cards.py
                "fct_ops_uptime_monthly",
                "fct_ops_incidents",
                "fct_ops_workflow_attempts",
                "fct_ops_pipeline_steps",
            )
        },
    }


def test_raw_suite_passes_on_clean_rows(fresh_db):
    create_raw(fresh_db, RAW_CLEAN)
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "raw_bot_leads__leads.json")
    assert outcome.passed, outcome.failures
    assert outcome.evaluated == 8
    assert outcome.sample_rows == []


def test_raw_suite_names_the_bad_values_and_rows(fresh_db):
    bad_source = (*RAW_CLEAN[1][:1], "Fax", *RAW_CLEAN[1][2:])
    no_created = (*RAW_CLEAN[3][:10], None, *RAW_CLEAN[3][11:])
    create_raw(fresh_db, [RAW_CLEAN[0], bad_source, RAW_CLEAN[2], no_created])
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "raw_bot_leads__leads.json")
    assert not outcome.passed
    assert _failed(outcome) == {
        "expect_column_values_to_be_in_set(source)": 1,
        "expect_column_values_to_not_be_null(created_at)": 1,
    }
    assert [(r["lead_id"], r["source"], r["created_at"]) for r in outcome.sample_rows] == [
        ("L2", "Fax", "2025-03-03T10:40:00+00:00"),
        ("L4", "Social", None),
    ]


def test_fct_suite_passes_on_clean_rows(fresh_db):
    create_fct(fresh_db, FCT_CLEAN)
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "marts__fct_bot_leads.json")
    assert outcome.passed, outcome.failures


def test_fct_suite_fails_on_a_corrupted_copy(fresh_db):
    create_fct(fresh_db, FCT_CORRUPT)
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "marts__fct_bot_leads.json")
    assert not outcome.passed
    assert _failed(outcome) == {
        "expect_column_values_to_be_unique(lead_id)": 2,
        "expect_column_values_to_be_in_set(status)": 1,
        "expect_column_values_to_be_between(confidence_score)": 1,
    }
    assert sorted((r["lead_id"], r["status"], r["confidence_score"], r["updated_at"]) for r in outcome.sample_rows) == [
        ("L1", "new", 0.91, "2025-03-03T09:15:00+00:00"),
        ("L1", "new", 0.91, "2025-03-07T09:00:00+00:00"),
        ("L2", "bogus", 0.35, "2025-03-04T08:00:00+00:00"),
        ("L3", "converted", 1.7, "2025-03-05T12:00:00+00:00"),
    ]
    table = checks.sample_rows_markdown(outcome, "lead_id")
    assert table.splitlines()[0] == "| lead_id | status | confidence_score |"
    assert "| L2 | bogus | 0.35 |" in table


def test_fct_suite_fails_on_an_empty_table(fresh_db):
    with warehouse.connect(fresh_db) as conn:
        conn.execute(FCT_DDL)
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "marts__fct_bot_leads.json")
    assert [(f.type, f.observed_value) for f in outcome.failures] == [("expect_table_row_count_to_be_between", 0)]


def test_calendar_suite_passes_on_two_clean_weeks(fresh_db):
    assert CALENDAR_CLEAN[0] == ("2025-03-18", 12, 2, "Tuesday", -13)  # the input, read by a person
    assert CALENDAR_CLEAN[-1] == ("2025-03-31", 14, 1, "Monday", 0)
    create_calendar(fresh_db, CALENDAR_CLEAN)
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "marts__dim_calendar.json")
    assert outcome.passed, outcome.failures


def test_calendar_suite_fails_on_a_duplicate_date_a_bad_weekday_and_an_as_of_outside_it(fresh_db):
    create_calendar(fresh_db, CALENDAR_CORRUPT)
    outcome = checks.validate_suite(fresh_db, EXPECTATIONS_DIR / "marts__dim_calendar.json")
    assert _failed(outcome) == {
        "expect_column_values_to_be_unique(calendar_date)": 2,  # 2025-03-24 twice
        "expect_column_values_to_be_between(iso_weekday)": 1,  # 8
        "expect_column_max_to_be_between(days_from_as_of)": None,  # -5: the as-of date is after the calendar
    }


def _run_with_check(fresh_db, monkeypatch, fct_rows: list[tuple]):
    """Materialize upstream fct_bot_leads -> real GX check -> downstream report in one run."""
    from dagster import AssetKey, asset, materialize

    from orchestration.defs.resources import WarehouseResource

    monkeypatch.setenv("LEAD_ANALYTICS_DATABASE_URL", fresh_db.conninfo())
    fct_key = AssetKey(["marts", "fct_bot_leads"])
    ran: list[str] = []

    @asset(key=fct_key)
    def fct_bot_leads(warehouse: WarehouseResource) -> None:  # as dbt builds it: in the shadow schema
        create_fct(warehouse.info(), fct_rows, schema="marts__build")

    @asset(deps=[fct_key])
    def lead_capture_report() -> None:
        ran.append("lead_capture_report")

    [check] = [c for c in checks.build_asset_checks() if fct_key in {k.asset_key for k in c.check_keys}]
    result = materialize(
        [fct_bot_leads, lead_capture_report, check], resources={"warehouse": WarehouseResource()}, raise_on_error=False
    )
    [evaluation] = result.get_asset_check_evaluations()
    return result, evaluation, ran


def test_a_corrupted_mart_blocks_the_downstream_assets(fresh_db, monkeypatch):
    result, evaluation, ran = _run_with_check(fresh_db, monkeypatch, FCT_CORRUPT)
    assert evaluation.check_name == "gx_marts__fct_bot_leads"
    assert not evaluation.passed
    assert evaluation.blocking
    failed = evaluation.metadata["failed_expectations"].value
    assert "expect_column_values_to_be_in_set(status): 1 unexpected, e.g. ['bogus']" in failed
    assert "expect_column_values_to_be_unique(lead_id): 2 unexpected" in failed
    assert "| L2 | bogus | 0.35 |" in evaluation.metadata["sample_offending_rows"].value
    assert ran == []
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"marts/fct_bot_leads"}
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert started == ["marts__fct_bot_leads", "marts__fct_bot_leads_gx_marts__fct_bot_leads"]
    assert [e.step_key for e in result.get_step_failure_events()] == ["marts__fct_bot_leads_gx_marts__fct_bot_leads"]
    assert evaluation.metadata["table"].value == "marts__build.fct_bot_leads"
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select run_id, status, held_back_by, reason from raw_audit.publications").fetchall() == [
            (
                result.run_id,
                "held_back",
                "check gx_marts__fct_bot_leads",
                "3 of 10 expectations failed on "
                "marts__build.fct_bot_leads (expect_column_values_to_be_unique(lead_id): "
                "2 unexpected, e.g. ['L1', 'L1']; ...)",
            )
        ]


def test_a_clean_mart_lets_the_downstream_assets_run(fresh_db, monkeypatch):
    result, evaluation, ran = _run_with_check(fresh_db, monkeypatch, FCT_CLEAN)
    assert evaluation.passed
    assert evaluation.metadata["failed_expectations"].value == "none"
    assert ran == ["lead_capture_report"]
    assert result.success


def test_a_failed_raw_suite_fails_the_raw_step_so_nothing_downstream_runs(fresh_db, monkeypatch, tmp_path):
    """The real raw asset (loader and suite in one step): a bot lead with confidence 1.5 is loaded, the
    suite fails, and the asset downstream of the raw table (as the dbt build is) does not run."""
    from dagster import AssetKey, asset, materialize

    from orchestration.defs.raw import raw_assets
    from orchestration.defs.resources import WarehouseResource

    folder = tmp_path / "landing" / "bot_leads" / "leads"
    folder.mkdir(parents=True)
    (folder / "leads_2025-03.csv").write_text(
        "lead_id,source,bot_type,service_needed,confidence_score,status,name,email,phone,region,created_at,updated_at\n"
        "L1,Website,chat,AllyChat,0.9,new,Ann,,,,2025-03-03T09:15:00Z,2025-03-03T09:15:00Z\n"
        "L2,Ads,voice,AllyVoice,1.5,new,Bo,,,,2025-03-03T10:40:00Z,2025-03-03T10:40:00Z\n"
    )
    monkeypatch.setenv("LEAD_ANALYTICS_DATABASE_URL", fresh_db.conninfo())
    monkeypatch.setenv("LEAD_ANALYTICS_LANDING_DIR", str(tmp_path / "landing"))
    raw_key = AssetKey(["bot_leads", "leads"])
    [raw] = [a for a in raw_assets if raw_key in a.keys]
    ran: list[str] = []

    @asset(deps=[raw_key])
    def stg_bot_leads() -> None:
        ran.append("stg_bot_leads")

    # One step loads every raw table; select this table's asset alone.
    result = materialize(
        [raw, stg_bot_leads],
        selection=[raw_key, AssetKey(["stg_bot_leads"])],
        resources={"warehouse": WarehouseResource()},
        raise_on_error=False,
    )
    [evaluation] = result.get_asset_check_evaluations()
    assert (evaluation.check_name, evaluation.passed, evaluation.blocking) == ("gx_raw_bot_leads__leads", False, True)
    assert evaluation.description == (
        "1 of 8 expectations failed on raw_bot_leads.leads "
        "(expect_column_values_to_be_between(confidence_score): 1 unexpected, e.g. [1.5])"
    )
    assert "| L2 | 1.5 |" in evaluation.metadata["sample_offending_rows"].value
    assert ran == [] and not result.success
    assert [e.step_key for e in result.get_step_failure_events()] == ["raw_tables"]
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} == {"bot_leads/leads"}
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select held_back_by from raw_audit.publications").fetchall() == [
            ("check gx_raw_bot_leads__leads",)
        ]
