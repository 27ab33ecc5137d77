"""Loader edge cases on hand-written landing files: every expected value below is written by hand."""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from pathlib import Path

import pytest

from orchestration import warehouse
from orchestration.ingestion import contracts, loaders

BOT_HEADER = (
    "lead_id,source,bot_type,service_needed,confidence_score,status,name,email,phone,region,created_at,updated_at"
)


def write(landing: Path, rel: str, text: str) -> Path:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def conn(fresh_db):
    with warehouse.connect(fresh_db) as conn:
        loaders.ensure_schemas(conn)
        yield conn


def rows(conn, sql: str, *params):
    return conn.execute(sql, params).fetchall()


def test_csv_loads_typed_rows_and_rejects_bad_ones_with_reasons(conn, landing):
    contract = contracts.get("bot_leads", "leads")
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        f"{BOT_HEADER}\n"
        f"B1,Website,chat,AllyChat,0.8,new,Ann,ann@x.com,312-555-0100,Midwest,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n"
        f"B2,Ads,voice,AllyVoice,abc,new,Bob,,,,2025-01-06T16:00:00Z,2025-01-06T16:00:00Z\n"
        f",Social,chat,AllyBundle,0.5,new,Cy,,,,2025-01-06T17:00:00Z,2025-01-06T17:00:00Z\n"
        f"B4,Social,chat,AllyBundle,0.5,new,Di\n"
        f"B5,WhatsApp,chat,AllyChat,0.49,dropped,Ed,,,,2025-02-30T10:00:00Z,2025-02-28T10:00:00Z\n"
        f'B6,WhatsApp,voice,AllyVoice,,in progress,"Fay, Jr.",,,,2025-01-07T09:30:00.5+01:00,2025-01-07T09:30:00Z'
        + "\n",
    )
    result = loaders.load_file(conn, contract, path, landing)
    assert (result.status, result.rows_in_file, result.inserted, result.rejected) == ("loaded", 6, 2, 4)

    assert rows(
        conn, "select lead_id, confidence_score, name, created_at::text from raw_bot_leads.leads order by 1"
    ) == [
        ("B1", Decimal("0.8"), "Ann", "2025-01-06 15:00:00+00"),
        ("B6", None, "Fay, Jr.", "2025-01-07 08:30:00.5+00"),
    ]
    rejected = rows(conn, "select line_number, reason, raw_text from raw_audit.rejected_rows order by 1")
    assert [(r[0], r[1]) for r in rejected] == [
        (3, "invalid numeric in confidence_score: 'abc'"),
        (4, "missing key lead_id"),
        (5, "broken line: expected 12 fields, found 7"),
        (6, "invalid timestamptz in created_at: '2025-02-30T10:00:00Z'"),
    ]
    assert rejected[0][2].startswith("B2,Ads,voice")
    assert rejected[2][2] == "B4,Social,chat,AllyBundle,0.5,new,Di"
    assert rows(conn, "select _source_file, _source_line from raw_bot_leads.leads order by lead_id") == [
        ("bot_leads/leads/leads_2025-01.csv", 2),
        ("bot_leads/leads/leads_2025-01.csv", 7),
    ]


def test_same_file_twice_changes_nothing(conn, landing):
    contract = contracts.get("bot_leads", "leads")
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        BOT_HEADER + "\n"
        "B1,Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n"
        "B2,Website,chat,AllyChat,x,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n",
    )
    first = loaders.load_file(conn, contract, path, landing)
    loaded_at = rows(conn, "select _loaded_at from raw_bot_leads.leads")
    second = loaders.load_file(conn, contract, path, landing)
    assert (first.status, first.inserted, first.rejected) == ("loaded", 1, 1)
    assert second.status == "skipped"
    assert rows(conn, "select _loaded_at from raw_bot_leads.leads") == loaded_at
    assert rows(conn, "select count(*) from raw_audit.rejected_rows") == [(1,)]
    assert rows(conn, "select count(*) from raw_audit.loaded_files") == [(1,)]

    # The same path re-exported with other content loads again; its rejects are replaced, not added.
    path.write_text(
        BOT_HEADER + "\n"
        "B1,Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n"
        "B2,Website,chat,AllyChat,0.3,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n"
    )
    third = loaders.load_file(conn, contract, path, landing)
    assert (third.status, third.inserted, third.unchanged, third.rejected) == ("loaded", 1, 1, 0)
    assert rows(conn, "select count(*) from raw_audit.rejected_rows") == [(0,)]


def test_changed_record_replaces_old_version_but_never_with_an_older_one(conn, landing):
    contract = contracts.get("bot_leads", "leads")
    jan = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        BOT_HEADER + "\nB1,Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n",
    )
    feb = write(
        landing,
        "bot_leads/leads/leads_2025-02.csv",
        BOT_HEADER + "\nB1,Website,chat,AllyChat,0.8,converted,Ann,,,,2025-01-06T15:00:00Z,2025-02-10T09:00:00Z\n",
    )
    loaders.load_file(conn, contract, jan, landing)
    result = loaders.load_file(conn, contract, feb, landing)
    assert (result.inserted, result.updated) == (0, 1)
    assert rows(conn, "select status, _source_file from raw_bot_leads.leads") == [
        ("converted", "bot_leads/leads/leads_2025-02.csv")
    ]

    # A late re-export of January's older version must not overwrite February's.
    jan.write_text(
        BOT_HEADER + "\nB1,Website,chat,AllyChat,0.8,in progress,Ann,,,,2025-01-06T15:00:00Z,2025-01-20T09:00:00Z\n"
    )
    late = loaders.load_file(conn, contract, jan, landing)
    assert (late.status, late.updated, late.unchanged) == ("loaded", 0, 1)
    assert rows(conn, "select status from raw_bot_leads.leads") == [("converted",)]


def test_a_table_loads_new_keys_straight_and_stored_keys_by_upsert_each_file_on_its_own(conn, landing):
    """Three files of one table, validated together (one group): January's keys are all new (COPYed
    straight into the raw table); February's B1 is stored, so February and every later file go through
    the upsert; each file's rejects keep its own name and line, and its rows carry its transaction's time."""
    contract = contracts.get("bot_leads", "leads")
    row = "{key},Website,chat,AllyChat,{score},{status},Ann,,,,2025-01-06T15:00:00Z,{updated}"

    def month(name: str, *lines: str) -> None:
        write(landing, f"bot_leads/leads/leads_{name}.csv", "\n".join([BOT_HEADER, *lines]) + "\n")

    month(
        "2025-01",
        row.format(key="B1", score="0.8", status="new", updated="2025-01-06T15:00:00Z"),
        row.format(key="B2", score="x1", status="new", updated="2025-01-06T15:00:00Z"),
        row.format(key="B3", score="0.5", status="new", updated="2025-01-07T15:00:00Z"),
    )
    month(
        "2025-02",
        row.format(key="B4", score="0.7", status="new", updated="2025-02-01T10:00:00Z"),
        row.format(key="B1", score="0.8", status="converted", updated="2025-02-10T09:00:00Z"),
        row.format(key="B5", score="0.6", status="new", updated="2025-02-30T10:00:00Z"),
    )
    month("2025-03", row.format(key="B6", score="0.1", status="new", updated="2025-03-01T10:00:00Z"))
    result = loaders.load_table(conn, contract, landing)
    assert result.errors == []
    assert [(f.file, f.status, f.inserted, f.updated, f.unchanged, f.rejected) for f in result.files] == [
        ("bot_leads/leads/leads_2025-01.csv", "loaded", 2, 0, 0, 1),
        ("bot_leads/leads/leads_2025-02.csv", "loaded", 1, 1, 0, 1),
        ("bot_leads/leads/leads_2025-03.csv", "loaded", 1, 0, 0, 0),
    ]
    assert rows(conn, "select lead_id, status, _source_file, _source_line from raw_bot_leads.leads order by 1") == [
        ("B1", "converted", "bot_leads/leads/leads_2025-02.csv", 3),
        ("B3", "new", "bot_leads/leads/leads_2025-01.csv", 4),
        ("B4", "new", "bot_leads/leads/leads_2025-02.csv", 2),
        ("B6", "new", "bot_leads/leads/leads_2025-03.csv", 2),
    ]
    assert rows(conn, "select file_path, line_number, reason from raw_audit.rejected_rows order by 1, 2") == [
        ("bot_leads/leads/leads_2025-01.csv", 3, "invalid numeric in confidence_score: 'x1'"),
        ("bot_leads/leads/leads_2025-02.csv", 4, "invalid timestamptz in updated_at: '2025-02-30T10:00:00Z'"),
    ]
    # Every row's _loaded_at is its file's ledger time (one transaction per file), on both routes.
    assert rows(
        conn,
        "select count(*), count(*) filter (where r._loaded_at = f.loaded_at) from raw_bot_leads.leads r "
        "join raw_audit.loaded_files f on f.file_path = r._source_file",
    ) == [(4, 4)]


def test_a_raw_table_from_before_the_direct_copy_gets_its_loaded_at_default(conn, landing):
    conn.execute("alter table raw_bot_leads.leads alter column _loaded_at drop default")
    conn.commit()
    loaders.ensure_schemas(conn)
    assert rows(
        conn,
        "select column_default from information_schema.columns where table_schema = 'raw_bot_leads' "
        "and table_name = 'leads' and column_name = '_loaded_at'",
    ) == [("now()",)]


def test_duplicate_keys_within_a_file_keep_the_latest_version(conn, landing):
    contract = contracts.get("bot_leads", "leads")
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        BOT_HEADER + "\n"
        "B1,Website,chat,AllyChat,0.8,converted,Ann,,,,2025-01-06T15:00:00Z,2025-01-09T00:00:00Z\n"
        "B1,Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n",
    )
    result = loaders.load_file(conn, contract, path, landing)
    assert (result.inserted, result.unchanged) == (1, 1)
    assert rows(conn, "select status, _source_line from raw_bot_leads.leads") == [("converted", 2)]


def test_wrong_columns_fail_the_file_naming_them_and_load_nothing(conn, landing):
    contract = contracts.get("bot_leads", "leads")
    header = BOT_HEADER.replace("region,", "").replace("email", "e_mail")
    path = write(landing, "bot_leads/leads/leads_2025-01.csv", header + "\nB1,Website\n")
    result = loaders.load_file(conn, contract, path, landing)
    reason = (
        "bot_leads/leads/leads_2025-01.csv: columns do not match raw_bot_leads.leads: "
        "missing email, region; unexpected e_mail"
    )
    assert (result.status, result.reason, result.inserted) == ("failed", reason, 0)
    assert rows(conn, "select file_path, status, reason from raw_audit.loaded_files") == [
        ("bot_leads/leads/leads_2025-01.csv", "failed", reason)
    ]
    assert rows(conn, "select count(*) from raw_bot_leads.leads") == [(0,)]

    # load_table records the failure and carries on with the table's other files.
    write(
        landing,
        "bot_leads/leads/leads_2025-02.csv",
        BOT_HEADER + "\nB9,Website,chat,AllyChat,0.8,new,Ann,,,,2025-02-06T15:00:00Z,2025-02-06T15:00:00Z\n",
    )
    table = loaders.load_table(conn, contract, landing)
    assert table.errors == [reason]
    assert table.total("inserted") == 1


def test_generated_total_costs_is_computed_and_never_loaded(conn, landing):
    contract = contracts.get("bison", "client_costs")
    header = "workspace_id,month,email_account_costs,labor_costs,other_costs,client_revenue,updated_at"
    path = write(
        landing,
        "bison/client_costs/client_costs_2025-01.csv",
        header + "\n7,2025-01-01,100.50,200,0.25,5000,2025-01-31T12:00:00Z\n",
    )
    loaders.load_file(conn, contract, path, landing)
    assert rows(conn, "select total_costs from raw_bison.client_costs") == [(Decimal("300.75"),)]

    with_total = write(
        landing,
        "bison/client_costs/client_costs_2025-02.csv",
        header + ",total_costs\n7,2025-02-01,1,1,1,5000,2025-02-28T12:00:00Z,3\n",
    )
    result = loaders.load_file(conn, contract, with_total, landing)
    assert (result.status, result.reason) == (
        "failed",
        "bison/client_costs/client_costs_2025-02.csv: columns do "
        "not match raw_bison.client_costs: unexpected total_costs",
    )


@pytest.mark.parametrize("route", ["direct", "upsert"])
def test_interrupted_load_leaves_nothing_behind(conn, landing, monkeypatch, route):
    """A crash after the rows reached the raw table, on either route: a first file's rows are COPYed
    straight into it, a file whose keys may be stored goes through the temporary table and the upsert."""
    contract = contracts.get("bot_leads", "leads")
    path = write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        BOT_HEADER + "\n"
        "B1,Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n"
        "B2,Website,chat,AllyChat,bad,new,Ann,,,,2025-01-06T15:00:00Z,2025-01-06T15:00:00Z\n",
    )
    if route == "upsert":
        monkeypatch.setattr(loaders, "_Route", functools.partial(loaders._Route, direct=False))
    name = "_copy_csv" if route == "direct" else "_upsert"
    real = getattr(loaders, name)

    def crash_after_writing(cur, *args):
        real(cur, *args)
        if cur.execute(f"select count(*) from {contract.qualified_name}").fetchone() == (1,):
            raise KeyboardInterrupt("simulated crash mid-file")

    monkeypatch.setattr(loaders, name, crash_after_writing)
    with pytest.raises(KeyboardInterrupt):
        loaders.load_file(conn, contract, path, landing)
    for table in ("raw_bot_leads.leads", "raw_audit.loaded_files", "raw_audit.rejected_rows"):
        assert rows(conn, f"select count(*) from {table}") == [(0,)], table

    monkeypatch.setattr(loaders, name, real)
    result = loaders.load_file(conn, contract, path, landing)
    assert (result.inserted, result.rejected) == (1, 1)


def _event(i: int, **override) -> dict:
    event = {
        "id": f"ev{i}",
        "event_type": "EMAIL_SENT",
        "workspace_id": 3,
        "campaign_id": 40 + i,
        "lead_id": 900 + i,
        "scheduled_email_id": 5000 + i,
        "sender_email": "s@agency.io",
        "is_interested": False,
        "occurred_at": f"2025-01-0{i}T10:00:00Z",
    }
    event.update(override)
    return event


@pytest.mark.parametrize("broken_line", [False, True], ids=["fast-path", "line-by-line"])
def test_jsonl_loads_and_rejects_wrong_types_on_both_paths(conn, landing, broken_line):
    contract = contracts.get("bison", "email_events")
    lines = [
        json.dumps(_event(1)),
        json.dumps(_event(2, is_interested=True, event_type="CONTACT_INTERESTED")),
        json.dumps(_event(3, occurred_at="yesterday")),
        json.dumps(_event(4, id=None)),
    ]
    if broken_line:
        lines += ['{"id": "ev5", "event_type": "EMAIL_SE', json.dumps(_event(6, workspace_id="n/a"))]
    path = write(landing, "bison/email_events/email_events_2025-01.jsonl", "\n".join(lines) + "\n")
    result = loaders.load_file(conn, contract, path, landing)
    assert result.inserted == 2
    assert rows(
        conn,
        "select id, event_type, workspace_id, is_interested, occurred_at::text from raw_bison.email_events order by id",
    ) == [
        ("ev1", "EMAIL_SENT", 3, False, "2025-01-01 10:00:00+00"),
        ("ev2", "CONTACT_INTERESTED", 3, True, "2025-01-02 10:00:00+00"),
    ]
    expected = [(3, "invalid timestamptz in occurred_at: 'yesterday'"), (4, "missing key id")]
    if broken_line:
        expected += [(5, "unparseable JSON line"), (6, "invalid bigint in workspace_id: 'n/a'")]
    got = rows(conn, "select line_number, reason from raw_audit.rejected_rows order by 1")
    assert [(line, reason[: len(want)]) for (line, reason), (_, want) in zip(got, expected, strict=False)] == expected
    assert len(got) == len(expected)


def test_jsonb_column_keeps_the_nested_object(conn, landing):
    contract = contracts.get("web1on1", "results")
    record = {
        "id": "65a000000000000000000001",
        "organization_id": "65a000000000000000000002",
        "conversation_id": "65a000000000000000000003",
        "user_id": None,
        "bot_id": None,
        "category": "sales",
        "result_type": "lead",
        "fields": {"email": "a@b.nl", "name": "Ann"},
        "created_at": "2025-01-02T10:00:00Z",
        "updated_at": "2025-01-02T10:00:00Z",
    }
    path = write(landing, "web1on1/results/results_2025-01.jsonl", json.dumps(record) + "\n")
    loaders.load_file(conn, contract, path, landing)
    assert rows(conn, "select fields->>'email', fields->>'name' from raw_web1on1.results") == [("a@b.nl", "Ann")]


CRM_NEW_TABLES = {
    # table: (header, first version, newer version of the same key, a second key, a row with a blank key part,
    #         the query that reads the kept values, what it returns after the newer version)
    "locations": (
        "location_id,name,organization_name,timezone,updated_at",
        "LOC-CHI,Chicago,Lakeside Motors,America/Chicago,2025-01-02T15:00:00Z",
        "LOC-CHI,Chicago Loop,Lakeside Motors,America/Chicago,2025-02-03T15:00:00Z",
        "LOC-NYC,Manhattan,Lakeside Motors,Not/A_Zone,2025-02-03T15:00:00Z",
        ",Nowhere,Lakeside Motors,America/Denver,2025-02-03T15:00:00Z",
        "select location_id, name, timezone from raw_crm.locations order by 1",
        [("LOC-CHI", "Chicago Loop", "America/Chicago"), ("LOC-NYC", "Manhattan", "Not/A_Zone")],
    ),
    "agent_rates": (
        "agent_id,valid_from,hourly_rate,updated_at",
        "AG-001,2025-01-01,40.00,2025-01-02T15:00:00Z",
        "AG-001,2025-01-01,40.50,2025-02-03T15:00:00Z",
        "AG-001,2025-07-01,42.00,2025-02-03T15:00:00Z",
        "AG-002,,38.00,2025-02-03T15:00:00Z",
        "select agent_id, valid_from::text, hourly_rate::text from raw_crm.agent_rates order by 1, 2",
        [("AG-001", "2025-01-01", "40.50"), ("AG-001", "2025-07-01", "42.00")],
    ),
    "agent_time_entries": (
        "agent_id,work_date,category,minutes,updated_at",
        "AG-001,2025-01-06,selling,200,2025-01-07T01:00:00Z",
        "AG-001,2025-01-06,selling,215,2025-02-03T15:00:00Z",
        "AG-001,2025-01-06,coffee,30,2025-02-03T15:00:00Z",
        "AG-001,2025-01-06,,45,2025-02-03T15:00:00Z",
        "select category, minutes from raw_crm.agent_time_entries order by 1",
        [("coffee", 30), ("selling", 215)],
    ),
}


@pytest.mark.parametrize("table", sorted(CRM_NEW_TABLES))
def test_new_crm_tables_load_and_version_by_their_key(conn, landing, table):
    """Key and version as the contract says; a blank key part is rejected. Domain values (a time zone PostgreSQL
    does not know, a category outside selling/administrative/follow_up) load: staging's tests refuse them (D100)."""
    header, first, newer, other, blank_key, query, expected = CRM_NEW_TABLES[table]
    contract = contracts.get("crm", table)
    jan = write(landing, f"crm/{table}/{table}_2025-01.csv", f"{header}\n{first}\n")
    feb = write(landing, f"crm/{table}/{table}_2025-02.csv", f"{header}\n{newer}\n{other}\n{blank_key}\n")
    assert loaders.load_file(conn, contract, jan, landing).inserted == 1
    result = loaders.load_file(conn, contract, feb, landing)
    assert (result.inserted, result.updated, result.rejected) == (1, 1, 1)
    assert rows(conn, query) == expected
    # a later file re-exporting January's older version does not overwrite February's
    late = loaders.load_file(
        conn, contract, write(landing, f"crm/{table}/{table}_2025-03.csv", f"{header}\n{first}\n"), landing
    )
    assert (late.updated, late.unchanged) == (0, 1)
    assert rows(conn, query) == expected


def test_new_crm_columns_load_nulls_where_the_value_is_not_known_yet(conn, landing):
    agents = write(
        landing,
        "crm/agents/agents_2025-10.csv",
        "agent_id,name,location_id,team,hourly_rate,active,hired_at,terminated_at,updated_at\n"
        "AG-001,Sarah Miller,LOC-CHI,Inbound,42.00,true,2023-04-03,,2025-07-01T14:00:00Z\n"
        "AG-004,David Lee,LOC-LAX,Referrals,47.25,false,2022-05-02,2025-10-01,2025-10-01T16:00:00Z\n",
    )
    leads = write(
        landing,
        "crm/leads/leads_2025-07.csv",
        "lead_id,location_id,source,score,status,priority,assigned_agent_id,assigned_at,email,phone,"
        "created_at,updated_at,sms_consent_at,email_consent_at,sms_opt_out_at,email_opt_out_at\n"
        "L-11,LOC-NYC,Paid Ads,,contacted,low,,,,,2025-07-15T14:00:00Z,2025-07-15T14:00:40Z,,,,\n"
        "L-12,LOC-CHI,Paid Ads,20,new,low,AG-001,2025-06-18T20:30:00Z,,,2025-06-18T20:00:00Z,"
        "2025-06-18T20:30:00Z,,,,\n",
    )
    deals = write(
        landing,
        "crm/deals/deals_2025-07.csv",
        "deal_id,lead_id,agent_id,status,value,attribution_type,close_channel,created_at,closed_at,"
        "updated_at\n"
        "D-02,L-08,AG-004,won,12300.00,direct,automation,2025-07-15T20:00:00Z,2025-07-25T20:00:00Z,"
        "2025-07-25T20:00:00Z\n"
        "D-05,L-13,AG-002,open,6800.00,assisted,,2025-07-23T16:00:00Z,,2025-07-23T16:00:00Z\n",
    )
    for table, path in (("agents", agents), ("leads", leads), ("deals", deals)):
        result = loaders.load_file(conn, contracts.get("crm", table), path, landing)
        assert (result.inserted, result.rejected) == (2, 0), table
    assert rows(conn, "select agent_id, location_id, terminated_at::text from raw_crm.agents order by 1") == [
        ("AG-001", "LOC-CHI", None),
        ("AG-004", "LOC-LAX", "2025-10-01"),
    ]
    assert rows(conn, "select lead_id, location_id, assigned_at::text from raw_crm.leads order by 1") == [
        ("L-11", "LOC-NYC", None),
        ("L-12", "LOC-CHI", "2025-06-18 20:30:00+00"),
    ]
    assert rows(conn, "select deal_id, close_channel from raw_crm.deals order by 1") == [
        ("D-02", "automation"),
        ("D-05", None),
    ]


def test_heartbeats_load_by_component_and_time_and_a_bad_flag_is_rejected(conn, landing):
    """raw_crm.health_checks (issue 18): keyed by component + checked_at, no version column, so a re-export of the
    same check changes nothing; a timeout loads with no status and no latency; `ok` must be a boolean."""
    contract = contracts.get("crm", "health_checks")
    header = "component,checked_at,ok,latency_ms,http_status"
    first = write(
        landing,
        "crm/health_checks/health_checks_2025-11.csv",
        f"{header}\nsms_gateway,2025-11-28T21:45:00Z,true,210,200\n"
        "sms_gateway,2025-11-28T22:00:00Z,false,80,401\n"
        "webhook_receiver,2025-11-28T22:00:03Z,false,,\n"
        "crm_sync,2025-11-28T22:00:06Z,ok,330,200\n"
        ",2025-11-28T22:00:09Z,true,40,200\n",
    )
    result = loaders.load_file(conn, contract, first, landing)
    assert (result.inserted, result.rejected) == (3, 2)
    again = write(
        landing,
        "crm/health_checks/health_checks_2025-12.csv",
        f"{header}\nsms_gateway,2025-11-28T22:00:00Z,false,80,401\n",
    )
    assert (loaders.load_file(conn, contract, again, landing).inserted,) == (0,)
    assert rows(conn, "select component, ok, latency_ms, http_status from raw_crm.health_checks order by 1, 2") == [
        ("sms_gateway", False, 80, 401),
        ("sms_gateway", True, 210, 200),
        ("webhook_receiver", False, None, None),
    ]


def test_workflow_calls_load_the_engine_fields_and_refuse_a_call_without_attempt_or_vendor(conn, landing):
    """execution_id, attempt and vendor are required; HTTP status and the rate-limit headers may be empty (a timeout,
    a 401, the engine's own webhook)."""
    contract = contracts.get("crm", "workflow_events")
    path = write(
        landing,
        "crm/workflow_events/workflow_events_2025-11.csv",
        "event_id,lead_id,execution_id,step,attempt,component,vendor,status,http_status,latency_ms,"
        "error_category,rate_limit_remaining,rate_limit_limit,occurred_at\n"
        "OE-07,,EX-OPS-4,nurture,1,email_service,SendGrid,failure,429,300,api_limit,0,600,2025-11-14T15:00:10Z\n"
        "OE-14,,EX-OPS-6,first_response,1,sms_gateway,Twilio,failure,401,95,authentication,,,2025-11-28T21:52:00Z\n"
        "OE-21,,EX-OPS-9,web_form,,webhook_receiver,none,success,200,120,,,,2025-11-28T22:50:00Z\n"
        "OE-22,,EX-OPS-9,web_form,1,webhook_receiver,,success,200,120,,,,2025-11-28T22:51:00Z\n",
    )
    result = loaders.load_file(conn, contract, path, landing)
    assert (result.inserted, result.rejected) == (2, 2)
    assert rows(
        conn,
        "select event_id, attempt, vendor, http_status, rate_limit_remaining, rate_limit_limit "
        "from raw_crm.workflow_events order by 1",
    ) == [("OE-07", 1, "SendGrid", 429, 0, 600), ("OE-14", 1, "Twilio", 401, None, None)]
