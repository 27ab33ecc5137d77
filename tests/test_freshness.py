"""The dashboard header's source freshness: which raw tables a mart reads, and the freshness rules.

A small manifest is written here by hand (two sources, one without a rule, a staging model and a mart),
and the raw tables' `_loaded_at` values are set by hand; every expected line is worked out from them. The owner
publishes the arrival times (`publish_arrivals`, as a publication does) and the line reads them, as the reader
that renders the pages may (D183).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from conftest import ledger_rows

from orchestration import access, warehouse
from orchestration.bi import freshness

MANIFEST = {
    "sources": {
        "source.p.crm.leads": {
            "source_name": "crm",
            "schema": "raw_crm",
            "name": "leads",
            "loaded_at_field": "_loaded_at",
            "freshness": {"warn_after": {"count": 2, "period": "day"}, "error_after": {"count": 7, "period": "day"}},
        },
        "source.p.crm.agents": {
            "source_name": "crm",
            "schema": "raw_crm",
            "name": "agents",
            "loaded_at_field": "_loaded_at",
            "freshness": None,
        },
        "source.p.bison.events": {
            "source_name": "bison",
            "schema": "raw_bison",
            "name": "events",
            "loaded_at_field": "_loaded_at",
            "freshness": {"warn_after": {"count": 2, "period": "hour"}},
        },
        "source.p.audit.loaded_files": {  # the ledger is a dbt source too; it has no `_loaded_at`
            "source_name": "audit",
            "schema": "raw_audit",
            "name": "loaded_files",
            "loaded_at_field": None,
            "freshness": None,
        },
    },
    "nodes": {
        "model.p.stg_leads": {
            "resource_type": "model",
            "schema": "staging__build",
            "name": "stg_leads",
            "depends_on": {"nodes": ["source.p.crm.leads"]},
        },
        "model.p.fct_leads": {
            "resource_type": "model",
            "schema": "marts__build",
            "name": "fct_leads",
            "depends_on": {"nodes": ["model.p.stg_leads", "source.p.crm.agents"]},
        },
        "model.p.fct_events": {
            "resource_type": "model",
            "schema": "marts__build",
            "name": "fct_events",
            "depends_on": {"nodes": ["source.p.bison.events"]},
        },
        "test.p.unique_x": {
            "resource_type": "test",
            "schema": "marts__build",
            "name": "unique_x",
            "depends_on": {"nodes": ["model.p.fct_leads"]},
        },
    },
}
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def conn(fresh_db):
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        conn.execute("create schema raw_crm; create schema raw_bison")
        conn.execute("create table raw_crm.leads (id int, _loaded_at timestamptz)")
        conn.execute("create table raw_crm.agents (id int, _loaded_at timestamptz)")
        conn.execute("create table raw_bison.events (id int, _loaded_at timestamptz)")
        conn.execute("insert into raw_crm.leads values (1, '2026-12-04 12:00Z'), (2, '2026-12-06 18:30Z')")
        conn.execute("insert into raw_crm.agents values (1, '2026-01-01 00:00Z')")  # old, but it has no rule
        yield conn


def test_a_mart_reads_the_raw_tables_upstream_of_it_and_their_rules_come_from_the_manifest():
    found = freshness.lineage_from_manifest(MANIFEST)
    assert freshness.raw_tables_of({"marts.fct_leads"}, found) == ["raw_crm.agents", "raw_crm.leads"]
    assert freshness.raw_tables_of({"marts.fct_leads", "marts.fct_events"}, found) == [
        "raw_bison.events",
        "raw_crm.agents",
        "raw_crm.leads",
    ]
    assert (found.sources["raw_crm.leads"].rule, found.sources["raw_crm.agents"].rule) == ("2 days", "")


def test_the_header_says_when_the_newest_row_arrived_and_warns_past_a_rule(conn):
    # no arrival times published (a warehouse built by dbt alone): the owner's line computes them
    found = freshness.lineage_from_manifest(MANIFEST)
    leads = freshness.raw_tables_of({"marts.fct_leads"}, found)
    # newest lead row 2026-12-06 18:30Z = 12:30 in Chicago (UTC-6); 17.5 hours before NOW: within 2 days
    assert freshness.freshness_line(conn, leads, found, NOW, "America/Chicago") == (
        "newest source row arrived 2026-12-06 12:30 America/Chicago"
    )
    # four days later the same row is 4 days 17.5 hours old: past the 2-day rule
    later = datetime(2026, 12, 11, 12, 0, tzinfo=UTC)
    assert freshness.freshness_line(conn, leads, found, later, "UTC") == (
        "newest source row arrived 2026-12-06 18:30 UTC; WARNING: older than the sources' freshness rule: "
        "raw_crm.leads (newest row 5 days old; rule: warn after 2 days)"
    )
    # an empty raw table with a rule is late too; one with none only has no newest row
    both = freshness.raw_tables_of({"marts.fct_leads", "marts.fct_events"}, found)
    assert freshness.freshness_line(conn, both, found, NOW, "UTC") == (
        "newest source row arrived 2026-12-06 18:30 UTC; WARNING: older than the sources' freshness rule: "
        "raw_bison.events (no rows; rule: warn after 2 hours)"
    )


def test_the_ledger_gives_the_newest_arrival_without_scanning_the_raw_table(conn):
    # A file that inserted or updated rows counts; one whose rows were all unchanged, or one that failed, does not.
    ledger_rows(
        conn,
        ("crm/leads/a.csv", "raw_crm.leads", "loaded", 3, 0, "2026-12-07 09:00Z"),
        ("crm/leads/b.csv", "raw_crm.leads", "loaded", 0, 0, "2026-12-07 11:00Z"),
        ("crm/leads/c.csv", "raw_crm.leads", "failed", 0, 0, "2026-12-07 11:30Z"),
    )
    found = freshness.lineage_from_manifest(MANIFEST)
    assert freshness.publish_arrivals(conn, found.sources) == 3  # leads, agents, events; the ledger has no _loaded_at
    assert freshness.freshness_line(conn, ["raw_crm.leads"], found, NOW, "UTC") == (
        "newest source row arrived 2026-12-07 09:00 UTC"
    )


def test_the_reader_reads_the_published_arrival_times_not_the_ledger_and_the_header_warns(conn, fresh_db, monkeypatch):
    """The pages read as reporting_reader (D150), which may read neither the ledger nor a raw table: the owner
    publishes one row per raw table (no file name, no row), and the header line is the same as the owner's."""
    ledger_rows(
        conn,
        ("crm/leads/2026-12-04.csv", "raw_crm.leads", "loaded", 2, 0, "2026-12-04 09:00Z"),
        ("crm/leads/2026-12-05.csv", "raw_crm.leads", "failed", 0, 0, "2026-12-05 09:00Z"),
    )
    found = freshness.lineage_from_manifest(MANIFEST)
    freshness.publish_arrivals(conn, found.sources)
    access.apply(conn)
    reader = access.reader_info(fresh_db)
    with warehouse.connect(reader, autocommit=True) as as_reader:
        for relation in ("raw_audit.loaded_files", "raw_crm.leads"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                as_reader.execute(f"select * from {relation} limit 1")
        published = as_reader.execute(
            "select source_name, source_table, newest_arrival, warn_after, freshness_rule "
            f"from {freshness.ARRIVALS} order by source_table"
        ).fetchall()
        columns = [d.name for d in as_reader.execute(f"select * from {freshness.ARRIVALS} limit 0").description]
    assert columns == ["source_name", "source_table", "newest_arrival", "warn_after", "freshness_rule", "refreshed_at"]
    # raw_crm.agents has no ledger row: its newest `_loaded_at`; raw_bison.events has no rows at all; the ledger,
    # a source without the column, has no arrival time
    assert published == [
        ("bison", "raw_bison.events", None, timedelta(hours=2), "2 hours"),
        ("crm", "raw_crm.agents", datetime(2026, 1, 1, tzinfo=UTC), None, None),
        ("crm", "raw_crm.leads", datetime(2026, 12, 4, 9, 0, tzinfo=UTC), timedelta(days=2), "2 days"),
    ]
    # The page header's line as a page renders it, through the reader: the loaded file of 12-04 09:00 (the failed
    # one of 12-05 does not count) is 3 days 3 hours before NOW, past the 2-day rule; events has no rows.
    monkeypatch.setattr(freshness, "lineage", lambda: found)
    assert freshness.dashboard_freshness(reader, {"marts.fct_leads", "marts.fct_events"}, "UTC", NOW) == (
        "newest source row arrived 2026-12-04 09:00 UTC; WARNING: older than the sources' freshness rule: "
        "raw_bison.events (no rows; rule: warn after 2 hours), raw_crm.leads (newest row 3 days old; rule: warn "
        "after 2 days)"
    )
