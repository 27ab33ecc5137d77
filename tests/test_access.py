"""Who may read what (orchestration/access.py, D150-D155), tested by logging in as each role: the embedded
PostgreSQL runs the fixtures as a superuser, which bypasses row-level security, so every check here connects as
the login roles themselves. With LEAD_ANALYTICS_DATABASE_URL set (`make test-access-external`) the same tests run
against that external PostgreSQL, with real passwords."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from cards import dashcard_rows  # tests/ is on sys.path
from conftest import LEAD_CAPTURE_FIXTURE, build_fixture_warehouse

from orchestration import access, settings, warehouse
from orchestration.bi import compiler, html_report

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = "2025-11-12T18:00:00Z"
TODAY = date(2025, 11, 12)
CLI = str(Path(sys.executable).parent / "lead-analytics")
SPECS = compiler.compile_specs(settings.PROJECT_ROOT / "metabase")
CHICAGO = "America/Chicago"
CLIENT_ORG, OTHER_ORG = "Lakeside Motors", "Summit Brand"  # tests/fixtures/web1on1/organizations
CLIENT_WORKSPACE, OTHER_WORKSPACE = "Acme Roofing", "Brightline Dental"  # tests/fixtures/bison/workspaces
# The columns that scope each mart built here, written out by hand (the code finds them in the catalog).
SCOPED_MARTS = {
    "fct_messaging_after_sales_activity": ("organization_name",),  # and location_key, location_name
    "fct_messaging_after_sales_funnel": ("organization_name",),
    "fct_messaging_bot_activity": ("organization_name",),
    "fct_messaging_conversation_hours": ("organization_name",),
    "fct_messaging_potential_daily": ("organization_name",),
    "fct_messaging_user_activity": ("organization_name",),
    "fct_campaign_daily": ("workspace_name",),
    "fct_lead_funnel_daily": ("workspace_name",),
    "fct_workspace_months": ("workspace_id",),
}
UNSCOPED_MARTS = ("fct_bot_leads",)  # carries no organisation: a client sees none of it
SHARED_MARTS = ("dim_as_of", "dim_calendar", "dim_calendar_hour")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
MASKED_EMAIL = re.compile(r"^.\*\*\*@[A-Za-z0-9.-]+$")
PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def login(info: warehouse.ConnectionInfo, role: str, password: str) -> warehouse.ConnectionInfo:
    return replace(info, user=role, password=password)


@pytest.fixture(scope="module")
def db(warehouse_info, tmp_path_factory):
    """Messaging, campaign and bot-lead fixtures built into one database, then granted and policed."""
    tables = {f"web1on1__{f.name}": f for f in sorted((FIXTURES / "web1on1").iterdir())}
    tables |= {f"bison__{f.name}": f for f in sorted((FIXTURES / "bison").iterdir()) if f.is_dir()}
    tables["bot_leads__leads"] = LEAD_CAPTURE_FIXTURE
    info = build_fixture_warehouse(
        warehouse_info,
        tmp_path_factory,
        "access",
        tables,
        [
            "+marts.messaging",
            "stg_web1on1__contacts",
            "+fct_campaign_daily",
            "+fct_lead_funnel_daily",
            "+fct_workspace_months",
            "+rpt_campaigns__data_loads",
            "+fct_bot_leads",
            "+rst_bot_lead_contacts",
            "+marts.common",
        ],
        AS_OF,
    )
    with warehouse.connect(info) as conn:
        access.apply(conn)
        conn.commit()
    yield info
    warehouse.drop_database(info)


@pytest.fixture(scope="module")
def logins(db):
    """A client of one organisation and workspace, an admin and an agent; dropped afterwards."""
    made = {
        "client": (unique("client"), access.CLIENT, [("organisation", CLIENT_ORG), ("workspace", CLIENT_WORKSPACE)]),
        "admin": (unique("admin"), access.ADMIN, []),
        "executive": (unique("exec"), access.EXECUTIVE, []),
        "agent": (unique("agent"), access.AGENT, [("agent", "A17")]),
        "manager": (unique("manager"), access.MANAGER, [("location", "loc1"), ("location", "Chicago")]),
    }
    out = {}
    with warehouse.connect(db) as conn:
        for key, (name, group, scopes) in made.items():
            password = uuid.uuid4().hex
            access.add_login(conn, name, group, scopes, password)
            out[key] = login(db, name, password)
        conn.commit()
    out["reader"] = access.reader_info(db)
    yield out
    with warehouse.connect(db) as conn:
        for name, _, _ in made.values():
            access.remove_login(conn, name)
        conn.commit()


def rows(info, query: str, params=None) -> list[tuple]:
    with warehouse.connect(info) as conn:
        return conn.execute(query, params).fetchall()


def refused(info, statement: str) -> bool:
    with warehouse.connect(info) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_the_reader_reads_every_mart_but_no_raw_staging_audit_restricted_or_file(db, logins):
    """s001.acl_role_permissions: the reporting login reads the published marts and nothing else; the executive
    level reads every mart whole too (masked, as every role but the admin: the next tests)."""
    reader = logins["reader"]
    for mart in (*SCOPED_MARTS, *UNSCOPED_MARTS, *SHARED_MARTS):
        assert rows(reader, f"select count(*) from marts.{mart}") == rows(db, f"select count(*) from marts.{mart}")
        assert rows(logins["executive"], f"select count(*) from marts.{mart}") == rows(
            db, f"select count(*) from marts.{mart}"
        ), mart
    assert rows(reader, "select count(*) from marts.fct_bot_leads")[0][0] > 0
    for relation in (
        "raw_bot_leads.leads",
        "raw_web1on1.organizations",
        "raw_bison.workspaces",
        "staging.stg_bot_leads__leads",
        "intermediate.int_bot_leads__enriched",
        "raw_audit.rejected_rows",
        "raw_audit.loaded_files",
        "marts_restricted.rst_bot_lead_contacts",
        "access.role_scopes",
        "snapshots.snp_web1on1__organizations",
    ):
        assert refused(reader, f"select * from {relation} limit 1"), relation
    for statement in (
        "create table public.x (a int)",
        "create table marts.x (a int)",
        "create temp table x (a int)",
        "create schema x",
        "select pg_read_file('/etc/passwd')",
        "select pg_ls_dir('.')",
        "copy (select 1) to program 'true'",
        "copy (select 1) to '/tmp/x'",
        "delete from marts.fct_bot_leads",
        "drop table marts.fct_bot_leads",
        "set role reporting_admin",
    ):
        assert refused(reader, statement), statement
    assert rows(
        db,
        "select rolsuper, rolcreaterole, rolcreatedb, rolbypassrls from pg_roles where rolname = %s",
        (access.READER,),
    ) == [(False, False, False, False)]


def test_a_client_sees_only_its_own_rows_in_every_mart_whatever_sql_it_runs(db, logins):
    client = logins["client"]
    for mart, (column,) in SCOPED_MARTS.items():
        value = CLIENT_ORG if column == "organization_name" else CLIENT_WORKSPACE
        if column == "workspace_id":
            value = str(rows(db, "select id from raw_bison.workspaces where name = %s", (CLIENT_WORKSPACE,))[0][0])
        mine = rows(db, f"select count(*) from marts.{mart} where {column}::text = %s", (value,))[0][0]
        assert mine > 0, mart
        assert rows(db, f"select count(*) from marts.{mart}")[0][0] > mine, mart  # others' rows exist
        assert rows(client, f"select count(*) from marts.{mart}") == [(mine,)], mart
        assert rows(client, f"select count(*) from marts.{mart} where {column}::text <> %s", (value,)) == [(0,)]
    for mart in UNSCOPED_MARTS:
        assert rows(client, f"select count(*) from marts.{mart}") == [(0,)]
    for mart in SHARED_MARTS:
        assert rows(client, f"select count(*) from marts.{mart}") == rows(db, f"select count(*) from marts.{mart}")
    # its own SQL cannot widen its scopes: not by asking about other roles, nor reading the scope table
    assert rows(client, "select access.allowed(%s, 'organisation')", (logins["admin"].user,)) == [([],)]
    assert rows(client, "select access.allowed(current_user, 'organisation')") == [([CLIENT_ORG],)]
    assert refused(client, "select * from access.role_scopes")
    assert refused(client, "insert into access.role_scopes values (current_user, 'organisation', 'Summit Brand')")
    assert refused(client, "select * from marts_restricted.rst_bot_lead_contacts")
    assert refused(client, "set role reporting_reader")
    assert rows(
        client, "select count(*) from marts.fct_messaging_bot_activity where organization_name = %s", (OTHER_ORG,)
    ) == [(0,)]


def test_an_agent_without_agent_columns_in_the_marts_sees_only_the_shared_calendars(db, logins):
    agent = logins["agent"]
    for mart in (*SCOPED_MARTS, *UNSCOPED_MARTS):
        assert rows(agent, f"select count(*) from marts.{mart}") == [(0,)], mart
    assert rows(agent, "select count(*) from marts.dim_calendar")[0][0] > 0


def test_a_manager_sees_its_locations_rows_in_the_marts_with_a_location_and_nothing_in_the_others(db, logins):
    """tests/fixtures/web1on1/locations: loc1 is Chicago (org1); the manager holds both its id and its name, as
    one mart carries the id (location_key) and the other the name only. The organisation-level marts carry no
    location, and a location's manager sees none of them (D151)."""
    manager = logins["manager"]
    for mart in ("fct_messaging_after_sales_activity", "fct_messaging_after_sales_funnel"):
        mine = rows(db, f"select count(*) from marts.{mart} where location_name = 'Chicago'")[0][0]
        assert 0 < mine < rows(db, f"select count(*) from marts.{mart}")[0][0], mart
        assert rows(manager, f"select count(*) from marts.{mart}") == [(mine,)], mart
        assert rows(manager, f"select distinct location_name from marts.{mart}") == [("Chicago",)], mart
    for mart in ("fct_messaging_bot_activity", "fct_campaign_daily", "fct_bot_leads"):
        assert rows(manager, f"select count(*) from marts.{mart}") == [(0,)], mart


def test_the_report_command_reads_as_the_reader_and_logs_it(db, tmp_path):
    done = _cli(db, "report", "--dashboard", "lead_capture", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["lead_capture.html"]
    assert rows(db, "select who, action, what, filters from raw_audit.access_log order by id desc limit 1") == [
        (access.READER, "render", "html dashboard lead_capture -> lead_capture.html", {})
    ]


def test_the_page_header_says_when_the_sources_arrived_through_the_reader(db, logins, tmp_path):
    """The "Sources" line of a page rendered as reporting_reader (D183), which still may not read the ledger: the
    bot-lead files' ledger times are set by hand to 3 days 2 hours ago; lead_capture reads fct_bot_leads (from
    raw_bot_leads.leads, rule: warn after 2 days) and the calendars (no source), so the line warns."""
    arrived = (datetime.now(UTC) - timedelta(days=3, hours=2)).replace(second=0, microsecond=0)
    with warehouse.connect(db) as conn:
        conn.execute(
            "update raw_audit.loaded_files set loaded_at = %s where source_table = 'raw_bot_leads.leads'", (arrived,)
        )
    done = _cli(db, "report", "--dashboard", "lead_capture", "--out", str(tmp_path), LEAD_ANALYTICS_TIMEZONE=CHICAGO)
    assert done.returncode == 0, done.stderr
    found = re.search(r'<dd id="freshness"( class="stale")?>([^<]*)</dd>', (tmp_path / "lead_capture.html").read_text())
    local = arrived.astimezone(ZoneInfo(CHICAGO))
    assert (found.group(1), html.unescape(found.group(2))) == (
        ' class="stale"',
        f"newest source row arrived {local:%Y-%m-%d %H:%M} {CHICAGO}; WARNING: older than the sources' freshness "
        "rule: raw_bot_leads.leads (newest row 3 days old; rule: warn after 2 days)",
    )
    assert refused(logins["reader"], "select * from raw_audit.loaded_files limit 1")


def test_the_run_summary_reads_the_marts_and_the_minimal_dashboard_as_the_reader(db, monkeypatch, capsys):
    """D185: `run`/`demo` print the marts' rows and the seed-000 tiles as reporting_reader reads them, the raw and
    rejected rows (the ledger's facts) as the owner."""
    from orchestration import cli, pipeline

    read_as = []
    real = pipeline.format_minimal_dashboard

    def spy(info):
        read_as.append(info.user)
        return real(info)

    monkeypatch.setattr(pipeline, "format_minimal_dashboard", spy)
    result = pipeline.PipelineResult(success=True, seconds=1.0)
    cli._print_outcome(settings.current(), db, result, time.perf_counter(), time.time())
    out = capsys.readouterr().out.splitlines()
    assert read_as == [access.READER]
    assert "(marts counted as reporting_reader, the login the dashboards read as)" in out
    reader = access.reader_info(db)
    tiles = real(reader).splitlines()
    # the owner's tiles, and by hand: as of 12 Nov every bot lead of the fixture, L01-L20 (L21 was rejected)
    assert tiles == real(db).splitlines()
    assert any(re.fullmatch(r"  Total leads\s+20 leads", line) for line in tiles), tiles
    assert all(line in out for line in tiles[1:])
    marts = rows(reader, "select count(*) from information_schema.tables where table_schema = 'marts'")[0][0]
    assert marts == rows(db, "select count(*) from information_schema.tables where table_schema = 'marts'")[0][0]
    assert any(re.fullmatch(rf"marts\s+{marts}\s+[\d,]+", line) for line in out), out
    bot_leads = rows(db, "select count(*) from raw_bot_leads.leads")[0][0]  # as the owner: the reader may not
    assert any(re.fullmatch(rf"bot_leads\s+{bot_leads:,}\s+\d+", line) for line in out), out


def _card_runs(dashboard_keys):
    for key in dashboard_keys:
        dashboard = SPECS.dashboards[key]
        for placement in dashboard.cards:
            if placement.card:
                yield dashboard, placement, SPECS.cards[placement.card]


@pytest.mark.parametrize(
    ("dashboards", "slug", "value"),
    [
        (["messaging", "bots", "potential", "after_sales"], "organisation", CLIENT_ORG),
        (["campaign_analytics"], "workspace", CLIENT_WORKSPACE),
    ],
)
def test_every_card_run_as_the_client_shows_what_the_owner_sees_filtered_to_that_client(
    db, logins, dashboards, slug, value
):
    """Each card's own SQL, unfiltered, as the client equals the card as the owner with the client's filter set;
    as the reader it equals the owner's unfiltered result."""
    checked = 0
    for dashboard, placement, card in _card_runs(dashboards):
        if slug not in placement.mappings:
            continue
        as_owner = dashcard_rows(db, card, dashboard, placement, {slug: [value]}, TODAY)
        as_client = dashcard_rows(logins["client"], card, dashboard, placement, {}, TODAY)
        assert as_client == as_owner, (dashboard.key, card.key)
        assert dashcard_rows(logins["reader"], card, dashboard, placement, {}, TODAY) == dashcard_rows(
            db, card, dashboard, placement, {}, TODAY
        ), (dashboard.key, card.key)
        checked += 1
    assert checked >= 5


def test_lead_capture_cards_read_as_the_reader_equal_the_owners_and_are_empty_for_a_client(db, logins):
    checked = 0
    for dashboard, placement, card in _card_runs(["lead_capture"]):
        as_owner = dashcard_rows(db, card, dashboard, placement, {}, TODAY)
        assert dashcard_rows(logins["reader"], card, dashboard, placement, {}, TODAY) == as_owner, card.key
        measures = [card.columns.index(c) for c in card.measure_columns]
        for row in dashcard_rows(logins["client"], card, dashboard, placement, {}, TODAY):
            assert [row[i] for i in measures] in ([None] * len(measures), [0] * len(measures)), (card.key, row)
        checked += 1
    assert checked >= 5


def _text_columns(info, schema: str) -> list[tuple[str, str]]:
    """(table, column) of the text columns of `schema` that `info`'s role may select."""
    return rows(
        info,
        """select table_name, column_name from information_schema.columns
           where table_schema = %s and data_type in ('text', 'character varying')
             and has_column_privilege(format('%%I.%%I', table_schema, table_name), column_name, 'select')
           order by 1, 2""",
        (schema,),
    )


def _personal_values(info, schema: str) -> list[tuple[str, str, str]]:
    """(table, column, value) of every clear-text e-mail or phone in the text columns `info` may read."""
    found = []
    columns = _text_columns(info, schema)
    with warehouse.connect(info) as conn:
        for table, column in columns:
            for (value,) in conn.execute(
                f'select distinct "{column}" from "{schema}"."{table}" where "{column}" is not null'
            ):
                if (EMAIL.search(value) and not MASKED_EMAIL.match(value)) or (
                    PHONE.match(value) and sum(ch.isdigit() for ch in value) >= 7
                ):
                    found.append((table, column, value))
    return found


def test_no_mart_column_a_non_admin_role_can_read_holds_a_clear_text_email_or_phone(db, logins):
    """s001.acl_data_masking: masked or hashed for every role but the admin."""
    for role in ("reader", "executive", "manager", "client", "agent"):
        assert _personal_values(logins[role], "marts") == [], role
        # the scan read something: every role may select the text columns of the marts (its rows are another matter)
        assert len(_text_columns(logins[role], "marts")) > 20, role
    # the scan finds them where they are: the admin-only schema, and masked values in the marts
    clear = _personal_values(logins["admin"], "marts_restricted")
    assert {c for _, c, _ in clear} == {"email_normalized", "phone_normalized"}
    assert rows(
        logins["reader"],
        "select count(email_masked) > 0, count(phone_masked) > 0, "
        "bool_and(phone_masked ~ '^[*]{3}[0-9]{4}$') from marts.fct_bot_leads",
    ) == [(True, True, True)]
    masked = rows(
        db,
        "select c.email_normalized, l.email_masked, l.email_key = encode(sha256(convert_to("
        "c.email_normalized, 'UTF8')), 'hex') from marts.fct_bot_leads l join "
        "marts_restricted.rst_bot_lead_contacts c using (lead_id) where c.email_normalized is not null "
        "order by lead_id limit 1",
    )[0]
    assert masked[1] == masked[0][0] + "***@" + masked[0].split("@")[1] and masked[2] is True


def test_rejected_raw_lines_are_readable_by_the_admin_role_only(db, logins):
    assert rows(logins["admin"], "select count(*) from raw_audit.rejected_rows")[0][0] >= 0
    assert rows(logins["admin"], "select count(*) from marts_restricted.rst_bot_lead_contacts")[0][0] > 0
    for role in ("reader", "executive", "client", "agent"):
        assert refused(logins[role], "select raw_text from raw_audit.rejected_rows"), role


def test_a_render_is_logged_with_the_role_that_read_the_marts(db, logins, tmp_path):
    """s001.acl_audit_logging: who (the database role), what, filters, rows."""
    written = html_report.write_reports(
        logins["reader"], settings.PROJECT_ROOT / "metabase", tmp_path, {"created": "2025-03"}, keys=["lead_capture"]
    )
    assert [p.name for p, _ in written] == [written[0][1].filename]
    logged = rows(
        db,
        "select who, action, what, filters, row_count from raw_audit.access_log "
        "where what like 'html dashboard lead_capture%' order by id desc limit 1",
    )
    assert logged[0][:2] == (access.READER, "render")
    assert logged[0][3] == {"created": "2025-03"} and logged[0][4] == sum(len(r.rows) for r in written[0][1].results)
    assert refused(logins["reader"], "insert into raw_audit.access_log (who, action, what) values ('x', 'render', 'y')")
    assert refused(logins["reader"], "delete from raw_audit.access_log")


def _cli(db, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ANALYTICS_")}
    url = (
        f"postgresql://{db.user}@/{db.dbname}?host={db.host}&port={db.port}"
        if db.host.startswith("/")
        else f"postgresql://{db.user}:{db.password}@{db.host}:{db.port}/{db.dbname}"
    )
    environment.update(
        LEAD_ANALYTICS_DATABASE_URL=url,
        LEAD_ANALYTICS_HOME=os.environ.get("LEAD_ANALYTICS_HOME", str(settings.state_dir())),
        **env,
    )
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=environment, timeout=120, stdin=subprocess.DEVNULL
    )


def test_access_add_client_list_and_remove_from_the_command_line(db):
    name, secret = unique("cli"), "pw-" + uuid.uuid4().hex
    added = _cli(
        db, "access", "add-client", name, "--organisation", OTHER_ORG, "--password-env", "CLIENT_PW", CLIENT_PW=secret
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"client login {name}: reporting_client; organisation={OTHER_ORG}"
    listed = _cli(db, "access", "list")
    assert f"{name}: reporting_client; organisation={OTHER_ORG}" in listed.stdout.splitlines()
    assert secret not in added.stdout + added.stderr + listed.stdout
    client = login(db, name, secret)
    assert rows(client, "select distinct organization_name from marts.fct_messaging_bot_activity") == [(OTHER_ORG,)]
    no_password = _cli(db, "access", "add-client", unique("cli"), "--organisation", OTHER_ORG)
    assert no_password.returncode == 2
    assert no_password.stderr.strip() == (
        "lead-analytics: error: no terminal to ask for the password; pass --password-env VARIABLE"
    )
    bad = _cli(db, "access", "add-client", "Robert'); drop", "--organisation", "x", "--password-env", "P", P="x")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    removed = _cli(db, "access", "remove-client", name)
    assert removed.returncode == 0, removed.stderr
    assert rows(db, "select count(*) from pg_roles where rolname = %s", (name,)) == [(0,)]
    assert rows(db, "select count(*) from access.role_scopes where role_name = %s", (name,)) == [(0,)]


def test_a_filter_value_past_the_calendar_is_one_line(db):
    done = _cli(
        db,
        "report",
        "--dashboard",
        "lead_capture",
        "--filter",
        "created=past9999999days",
        "--out",
        str(settings.state_dir() / "unused"),
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "'past9999999days' is not a date filter value" in done.stderr
