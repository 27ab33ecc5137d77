"""Publishing an audited build (`orchestration.publishing`) on a real database, without dbt: the shadow
schemas are made by hand here, as a dbt build with the build suffix would make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from conftest import ledger_rows

from orchestration import access, publishing, warehouse

EXPECTED = {"staging": {"stg_leads"}, "marts": {"fct_leads"}}


@pytest.fixture
def conn(fresh_db):
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        yield conn


def build(conn, run_id: str, leads: list[str], relations: dict[str, set[str]] = EXPECTED) -> None:
    """What the dbt step does: claim the shadows, then build a staging view and a mart table in them."""
    publishing.start_build(conn, run_id, sorted(EXPECTED))
    conn.execute("create schema if not exists raw")
    conn.execute("create table if not exists raw.leads (lead_id text)")
    conn.execute("truncate raw.leads")
    for lead in leads:
        conn.execute("insert into raw.leads values (%s)", [lead])
    conn.execute("create schema staging__build")
    conn.execute("create schema marts__build")
    if "stg_leads" in relations.get("staging", ()):
        conn.execute("create view staging__build.stg_leads as select lead_id from raw.leads")
    if "fct_leads" in relations.get("marts", ()):
        conn.execute("create table marts__build.fct_leads as select lead_id from staging__build.stg_leads")
        conn.execute("create view marts__build.lead_count as select count(*) as n from marts__build.fct_leads")


def schemas(conn) -> list[str]:
    return [
        n
        for (n,) in conn.execute(
            "select nspname from pg_namespace where nspname in "
            "('staging', 'marts', 'staging__build', 'marts__build', 'staging__previous', "
            "'marts__previous') order by 1"
        )
    ]


def test_publish_swaps_the_shadow_schemas_in_and_views_follow_the_rename(conn):
    build(conn, "run-1", ["L1", "L2"])
    assert publishing.publish(conn, "run-1", EXPECTED) == ["marts", "staging"]
    assert schemas(conn) == ["marts", "staging"]
    assert conn.execute("select n from marts.lead_count").fetchone() == (2,)  # a view built in marts__build
    assert (
        conn.execute("select pg_get_viewdef('marts.lead_count'::regclass)")
        .fetchone()[0]
        .strip()
        .endswith("FROM marts.fct_leads;")
    )
    status = publishing.publication_status(conn)
    assert (status.published_run, status.held_back_by) == ("run-1", None)
    assert status.line("UTC") == f"published {status.published_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC (run run-1)"

    # The next build replaces the published marts as a whole.
    build(conn, "run-2", ["L1", "L2", "L3"])
    publishing.publish(conn, "run-2", EXPECTED)
    assert conn.execute("select count(*) from marts.fct_leads").fetchone() == (3,)
    assert schemas(conn) == ["marts", "staging"]


def test_a_held_back_or_partial_build_leaves_the_published_marts_as_they_were(conn):
    build(conn, "run-1", ["L1"])
    publishing.publish(conn, "run-1", EXPECTED)

    build(conn, "run-2", ["L1", "BAD"])
    publishing.hold_back(
        conn, "run-2", "check gx_marts__fct_leads", "1 of 3 expectations failed on marts__build.fct_leads"
    )
    with pytest.raises(publishing.PublishError, match="run run-2 is held_back, not ready to publish"):
        publishing.publish(conn, "run-2", EXPECTED)
    assert conn.execute("select lead_id from marts.fct_leads").fetchall() == [("L1",)]
    assert conn.execute("select count(*) from marts__build.fct_leads").fetchone() == (2,)  # kept for inspection
    status = publishing.publication_status(conn)
    assert (status.published_run, status.held_back_by) == ("run-1", "check gx_marts__fct_leads, publish")
    assert status.reason == (
        "1 of 3 expectations failed on marts__build.fct_leads; run run-2 is held_back, not ready to publish"
    )
    assert "; newer data held back " in status.line("UTC")

    build(conn, "run-3", ["L1", "L3"], relations={"staging": {"stg_leads"}})  # a partial build: no mart
    with pytest.raises(
        publishing.PublishError, match=r"the build lacks 1 relation\(s\) dbt defines, e.g. marts.fct_leads"
    ):
        publishing.publish(conn, "run-3", EXPECTED)
    assert conn.execute("select lead_id from marts.fct_leads").fetchall() == [("L1",)]


def test_only_the_newest_build_may_publish(conn):
    build(conn, "run-a", ["L1"])
    publishing.start_build(conn, "run-b", sorted(EXPECTED))  # a second run starts building (and empties the shadows)
    with pytest.raises(
        publishing.PublishError, match=r"a newer build \(run run-b\) replaced this run's shadow schemas"
    ):
        publishing.publish(conn, "run-a", EXPECTED)
    assert schemas(conn) == []
    status = publishing.publication_status(conn)
    assert (status.published_at, status.held_back_by) == (None, "publish")
    assert status.line("UTC").startswith("nothing published yet; newer data held back ")


def test_status_of_a_database_without_a_publication_record(conn):
    status = publishing.publication_status(conn)
    assert status == publishing.PublicationStatus(recorded=False)
    assert status.line() == "no publication record (these marts were not built by the write-audit-publish pipeline)"


def test_a_build_neither_published_nor_held_back_is_said_to_be_running_or_stopped(conn):
    build(conn, "run-1", ["L1"])
    publishing.publish(conn, "run-1", EXPECTED)
    publishing.start_build(conn, "run-2", sorted(EXPECTED))
    line = publishing.publication_status(conn).line("UTC")
    assert line.startswith("published ") and line.endswith(" UTC is not published (running or stopped)")
    assert datetime.now(UTC).strftime("%Y-%m-%d") in line


def test_snapshots_keep_their_history_outside_the_shadow_build():
    """A shadow snapshot would start empty on every build and lose the history it exists to keep (D38): in a
    write-audit-publish build the snapshot still writes to `snapshots`, and publishing never swaps it."""
    import json

    from orchestration.dbt_project import ensure_manifest

    manifest = ensure_manifest()  # parsed with the build suffix
    nodes = json.loads(manifest.read_text())["nodes"].values()
    schemas = {n["resource_type"]: set() for n in nodes}
    for n in nodes:
        schemas[n["resource_type"]].add(n["schema"])
    assert schemas["snapshot"] == {"snapshots"}
    assert schemas["model"] >= {"staging__build", "intermediate__build", "marts__build"}
    relations = publishing.published_relations(manifest)
    assert "snapshots" not in relations and "snp_web1on1__organizations" not in set().union(*relations.values())


def test_publish_grants_the_reader_the_new_marts_and_polices_them_in_the_same_transaction(conn, fresh_db):
    """The swapped-in schemas are new objects without grants: the publish grants them before it commits (D150)."""
    build(conn, "run-1", ["L1", "L2"])
    publishing.publish(conn, "run-1", EXPECTED)
    reader = access.reader_info(fresh_db)
    with warehouse.connect(reader) as as_reader:
        assert as_reader.execute("select count(*) from marts.fct_leads").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_reader.execute("select * from staging.stg_leads")
    assert conn.execute("select relrowsecurity from pg_class where oid = 'marts.fct_leads'::regclass").fetchone() == (
        True,
    )
    build(conn, "run-2", ["L1", "L2", "L3"])  # the next publication's new tables are granted again
    publishing.publish(conn, "run-2", EXPECTED)
    with warehouse.connect(reader) as as_reader:
        assert as_reader.execute("select count(*) from marts.fct_leads").fetchone() == (3,)


def test_publish_publishes_the_sources_arrival_times_for_the_reader_on_every_publication(conn, fresh_db):
    """The dashboards' "Sources" line, read as the reader (D183): rewritten and granted by every publication."""
    from orchestration.bi import freshness

    sources = {"raw.leads": freshness.Source("raw.leads", "_loaded_at", timedelta(hours=6), "6 hours", "crm")}
    ledger_rows(conn, ("raw/leads/a.csv", "raw.leads", "loaded", 2, 0, "2026-12-01 08:00Z"))
    conn.execute("create schema raw")
    conn.execute("create table raw.leads (lead_id text, _loaded_at timestamptz)")  # a raw table has its load time
    build(conn, "run-1", ["L1", "L2"])
    publishing.publish(conn, "run-1", EXPECTED, sources=sources)
    reader = access.reader_info(fresh_db)
    query = (
        "select source_name, source_table, newest_arrival, warn_after, freshness_rule from raw_audit.source_arrivals"
    )
    with warehouse.connect(reader) as as_reader:
        assert as_reader.execute(query).fetchall() == [
            ("crm", "raw.leads", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), timedelta(hours=6), "6 hours")
        ]
    ledger_rows(conn, ("raw/leads/b.csv", "raw.leads", "loaded", 1, 0, "2026-12-02 08:00Z"))
    build(conn, "run-2", ["L1", "L2", "L3"])
    publishing.publish(conn, "run-2", EXPECTED, sources=sources)
    with warehouse.connect(reader) as as_reader:
        assert as_reader.execute(query).fetchall() == [
            ("crm", "raw.leads", datetime(2026, 12, 2, 8, 0, tzinfo=UTC), timedelta(hours=6), "6 hours")
        ]


def test_the_run_summary_counts_the_marts_as_the_reader_and_the_rest_as_the_owner(conn, fresh_db):
    """D185: the marts' numbers are what a dashboard user reads. A restrictive policy hides L3 from the reader
    only: the owner would count fct_leads 3 + lead_count 1 = 4 rows; the reader counts 2 + 1 (the view reads as
    its owner) = 3. Staging is counted as the owner (the reader may not read it): stg_leads 3 rows."""
    from orchestration import pipeline

    build(conn, "run-1", ["L1", "L2", "L3"])
    publishing.publish(conn, "run-1", EXPECTED)
    conn.execute(
        "create policy hide_l3 on marts.fct_leads as restrictive for select to reporting_reader using (lead_id <> 'L3')"
    )
    summary = pipeline.summarise(fresh_db, access.reader_info(fresh_db))
    assert summary.layer_rows == {"staging": (1, 3), "intermediate": (0, 0), "marts": (2, 3)}
    assert summary.marts_read_as == "reporting_reader"
    text = pipeline.format_summary(summary, None, 1.0).splitlines()
    assert "marts                    2           3" in text
    assert "(marts counted as reporting_reader, the login the dashboards read as)" in text
    assert "marts" not in pipeline.summarise(fresh_db).layer_rows  # no reader: the marts are not counted


def test_a_partial_build_replaces_only_its_relations_and_keeps_the_others(conn):
    build(conn, "run-1", ["L1"])
    publishing.publish(conn, "run-1", EXPECTED)
    untouched = conn.execute("select 'staging.stg_leads'::regclass::oid").fetchone()[0]
    conn.execute("insert into raw.leads values ('L2')")

    # run-2 rebuilds the mart and the view on it (what is downstream of the new data), not the staging view
    publishing.start_build(conn, "run-2", sorted(EXPECTED), ["model.x.lead_count", "model.x.fct_leads"])
    assert publishing.partial_nodes(conn, "run-2") == ["model.x.fct_leads", "model.x.lead_count"]
    assert publishing.partial_nodes(conn, "run-1") is None  # a whole build
    conn.execute("create schema marts__build")
    conn.execute("create table marts__build.fct_leads as select lead_id from staging.stg_leads")  # deferred ref
    conn.execute("create view marts__build.lead_count as select count(*) as n from marts__build.fct_leads")
    record = publishing.BuildRecord("abc", "", "2 of 3 relations rebuilt (new data in raw.leads)")
    assert publishing.publish_relations(conn, "run-2", [("marts", "fct_leads"), ("marts", "lead_count")], record) == [
        "marts.fct_leads",
        "marts.lead_count",
    ]
    assert schemas(conn) == ["marts", "staging"]  # the shadow schemas are gone
    assert conn.execute("select n from marts.lead_count").fetchone() == (2,)
    assert conn.execute("select 'staging.stg_leads'::regclass::oid").fetchone()[0] == untouched
    status = publishing.publication_status(conn)
    assert status.line("UTC") == (
        f"published {status.published_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
        "(run run-2; 2 of 3 relations rebuilt (new data in raw.leads))"
    )
    published = publishing.published_build(conn)
    assert (published.fingerprint, published.as_of) == ("abc", "")


def test_a_partial_build_never_drops_a_relation_something_outside_it_reads(conn):
    build(conn, "run-1", ["L1"])
    publishing.publish(conn, "run-1", EXPECTED)
    conn.execute("create view marts.someones_view as select * from marts.fct_leads")  # not dbt's, not rebuilt

    publishing.start_build(conn, "run-2", sorted(EXPECTED))
    conn.execute("create schema marts__build")
    conn.execute("create table marts__build.fct_leads as select 'L9'::text as lead_id")
    with pytest.raises(publishing.PublishError, match="has dependants outside the build"):
        publishing.publish_relations(conn, "run-2", [("marts", "fct_leads")], publishing.BuildRecord())
    assert conn.execute("select lead_id from marts.someones_view").fetchall() == [("L1",)]
    assert publishing.publication_status(conn).held_back_by == "publish"

    # a partial build lacking a relation it claims to have rebuilt is not published either
    publishing.start_build(conn, "run-3", sorted(EXPECTED))
    with pytest.raises(publishing.PublishError, match="the build lacks 1 relation"):
        publishing.publish_relations(conn, "run-3", [("marts", "fct_leads")], publishing.BuildRecord())
    assert conn.execute("select lead_id from marts.fct_leads").fetchall() == [("L1",)]


def test_a_deadlocked_publish_transaction_is_run_again_at_most_three_times(monkeypatch):
    """The demo once lost its publish to PostgreSQL's deadlock detector (autovacuum analysing a fresh shadow table
    while the swap policed it): the rolled-back transaction is run again, pausing 0.5 s then 1 s, at most
    DEADLOCK_ATTEMPTS (3) times; then the deadlock is the caller's to hold the build back with."""
    pauses: list[float] = []
    monkeypatch.setattr(publishing.time, "sleep", pauses.append)
    calls = []

    def deadlocks_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return "published"

    assert publishing.retrying_deadlocks(deadlocks_twice) == "published"
    assert (len(calls), pauses) == (3, [0.5, 1.0])

    attempts = []

    def always() -> str:
        attempts.append(1)
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    pauses.clear()
    with pytest.raises(psycopg.errors.DeadlockDetected):
        publishing.retrying_deadlocks(always)
    assert (len(attempts), pauses, publishing.DEADLOCK_ATTEMPTS) == (3, [0.5, 1.0], 3)
