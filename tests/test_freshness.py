"""The dashboard header's source freshness: which raw tables a mart reads, and the freshness rules.

A small manifest is written here by hand (two sources, one without a rule, a staging model and a mart),
and the raw tables' `_loaded_at` values are set by hand; every expected line is worked out from them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestration import warehouse
from orchestration.bi import freshness

MANIFEST = {
    "sources": {
        "source.p.crm.leads": {
            "schema": "raw_crm",
            "name": "leads",
            "loaded_at_field": "_loaded_at",
            "freshness": {"warn_after": {"count": 2, "period": "day"}, "error_after": {"count": 7, "period": "day"}},
        },
        "source.p.crm.agents": {
            "schema": "raw_crm",
            "name": "agents",
            "loaded_at_field": "_loaded_at",
            "freshness": None,
        },
        "source.p.bison.events": {
            "schema": "raw_bison",
            "name": "events",
            "loaded_at_field": "_loaded_at",
            "freshness": {"warn_after": {"count": 2, "period": "hour"}},
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
    conn.execute("create schema raw_audit")
    conn.execute(
        "create table raw_audit.loaded_files (source_table text, status text, inserted int, updated int, "
        "loaded_at timestamptz)"
    )
    conn.execute(
        "insert into raw_audit.loaded_files values "
        "('raw_crm.leads', 'loaded', 3, 0, '2026-12-07 09:00Z'), "
        "('raw_crm.leads', 'loaded', 0, 0, '2026-12-07 11:00Z'), "
        "('raw_crm.leads', 'failed', 0, 0, '2026-12-07 11:30Z')"
    )
    found = freshness.lineage_from_manifest(MANIFEST)
    assert freshness.freshness_line(conn, ["raw_crm.leads"], found, NOW, "UTC") == (
        "newest source row arrived 2026-12-07 09:00 UTC"
    )
