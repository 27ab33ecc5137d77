"""The refresh cycle's question "is anything new?" and the 15-minute schedule that asks it.

Landing files are written here by hand; a publication is recorded with the real `publishing` calls
(an empty build publishes nothing but is a published build, which is all `pending` reads).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from orchestration import publishing, refresh, settings, warehouse
from orchestration.ingestion import contracts, loaders

HEADER = "lead_id,source,bot_type,service_needed,confidence_score,status,name,email,phone,region,created_at,updated_at"
LEADS = contracts.get("bot_leads", "leads")


def lead(lead_id: str) -> str:
    return f"{lead_id},Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T08:00:00Z,2025-01-06T08:00:00Z"


def write(root: Path, rel: str, *lines: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *lines]) + "\n")


@pytest.fixture
def conn(fresh_db):
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        loaders.ensure_schemas(conn)
        yield conn


def _publish(conn, as_of: str = "", nodes: list[str] | None = None) -> None:
    """A published build of the code and settings in force (its fingerprint, as the publish step records it), with
    as-of text `as_of` ("" following the clock), that rebuilt the dbt nodes `nodes` (None: all)."""
    from orchestration import selective

    run = str(uuid.uuid4())
    publishing.start_build(conn, run, [], nodes)
    publishing.publish(conn, run, {}, publishing.BuildRecord(selective.fingerprint(settings.current()), as_of))


def test_a_cycle_builds_only_when_a_file_is_new_changed_or_loaded_but_unpublished(conn, landing):
    write(landing, "bot_leads/leads/leads_2025-01.csv", lead("A1"))
    first = refresh.pending(conn, landing)
    assert (first.new_files, first.unbuilt_files, first.nothing_new) == (
        ["bot_leads/leads/leads_2025-01.csv"],
        [],
        False,
    )
    assert first.reason() == "nothing published yet"

    loaders.load_table(conn, LEADS, landing)
    _publish(conn)
    quiet = refresh.pending(conn, landing)
    assert (quiet.new_files, quiet.unbuilt_files, quiet.nothing_new) == ([], [], True)
    assert quiet.reason().startswith("nothing new since the published build of ")

    # A late file: new until loaded, then loaded but unbuilt until a build publishes it.
    write(landing, "bot_leads/leads/leads_2024-12.csv", lead("L1"))
    late = refresh.pending(conn, landing)
    assert (late.new_files, late.unbuilt_files) == (["bot_leads/leads/leads_2024-12.csv"], [])
    assert late.reason() == "1 new or changed landing file(s), e.g. bot_leads/leads/leads_2024-12.csv"
    loaders.load_table(conn, LEADS, landing)
    loaded = refresh.pending(conn, landing)
    assert (loaded.new_files, loaded.unbuilt_files) == ([], ["bot_leads/leads/leads_2024-12.csv"])
    _publish(conn)
    assert refresh.pending(conn, landing).nothing_new

    # A changed old file is new; an unchanged broken file is not new again every cycle.
    write(landing, "bot_leads/leads/leads_2025-01.csv", lead("A1"), lead("A2"))
    (landing / "bot_leads/leads/leads_2025-02.csv").write_bytes(b"")
    assert refresh.pending(conn, landing).new_files == [
        "bot_leads/leads/leads_2025-01.csv",
        "bot_leads/leads/leads_2025-02.csv",
    ]
    result = loaders.load_table(conn, LEADS, landing)
    assert [f.status for f in result.files] == ["skipped", "loaded", "failed"]
    _publish(conn)
    assert refresh.pending(conn, landing).nothing_new


def test_the_15_minute_schedule_skips_a_tick_while_a_run_is_in_progress_or_nothing_is_new(
    conn, fresh_db, landing, monkeypatch
):
    from dagster import RunRequest, SkipReason, build_schedule_context, instance_for_test
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from orchestration import definitions, selective

    monkeypatch.setenv(settings.ENV_DATABASE_URL, fresh_db.conninfo())
    monkeypatch.setenv(settings.ENV_LANDING, str(landing))
    defs = definitions.build(settings.current())
    cycle = defs.resolve_schedule_def("refresh_every_15_minutes")
    assert (cycle.cron_schedule, cycle.execution_timezone, cycle.default_status.value) == (
        "*/15 * * * *",
        settings.current().timezone,
        "STOPPED",
    )
    write(landing, "bot_leads/leads/leads_2025-01.csv", lead("A1"))

    with instance_for_test() as instance:  # a real (temporary) instance: the tick reads its runs
        tick = cycle.evaluate_tick(build_schedule_context(instance=instance))
        [request] = tick.run_requests
        assert isinstance(request, RunRequest) and request.tags["refresh_reason"] == "nothing published yet"

        run_id = str(uuid.uuid4())
        instance.add_run(DagsterRun(job_name="full_pipeline", run_id=run_id, status=DagsterRunStatus.STARTED))
        busy = cycle.evaluate_tick(build_schedule_context(instance=instance))
        assert busy.run_requests == [] and busy.skip_message == (
            f"run {run_id[:8]} of full_pipeline is still in progress (started); one run at a time, "
            "so this tick is skipped"
        )
        instance.report_run_canceled(instance.get_run_by_id(run_id))

        loaders.load_table(conn, LEADS, landing)
        _publish(conn)
        quiet = cycle.evaluate_tick(build_schedule_context(instance=instance))
        assert quiet.run_requests == [] and quiet.skip_message.startswith("nothing new since the published build of ")
        assert quiet.skip_message.endswith(": no rebuild")

        # A published build of other code or settings: the next tick rebuilds everything, with no new file.
        other = settings.current().model_copy(update={"timezone": "Europe/Amsterdam"})
        run_id = str(uuid.uuid4())
        publishing.start_build(conn, run_id, [])
        publishing.publish(conn, run_id, {}, publishing.BuildRecord(selective.fingerprint(other), ""))
        [stale] = cycle.evaluate_tick(build_schedule_context(instance=instance)).run_requests
        assert stale.tags["refresh_reason"].startswith(
            "the dbt project or its settings changed since the published build of "
        )
        assert stale.tags["refresh_rebuild"] == (
            "everything: the dbt project or its settings changed since the published build"
        )
    assert SkipReason  # imported for the reader: a skipped tick carries its reason as skip_message


def test_a_cycle_rebuilds_what_is_downstream_of_the_changed_raw_tables_and_of_a_moved_clock():
    from orchestration import selective
    from orchestration.dbt_project import ensure_manifest

    manifest = selective.load_manifest(ensure_manifest())
    total = len(selective.built_nodes(manifest))
    leads = selective.select(manifest, {"bot_leads.leads"}, selective.ClockMove.still())
    # the bot-lead lineage, and the loader's audit tables, which change with every load
    assert sorted(uid.rsplit(".", 1)[1] for uid in leads.nodes) == [
        "fct_bot_leads",
        "fct_warehouse_loads",
        "int_bot_leads__enriched",
        "rst_bot_lead_contacts",
        "stg_bot_leads__leads",
    ]
    order = [uid.rsplit(".", 1)[1] for uid in selective.publish_order(manifest, set(leads.nodes))]
    assert order.index("stg_bot_leads__leads") < order.index("int_bot_leads__enriched") < order.index("fct_bot_leads")
    assert leads.describe(total) == f"5 of {total} relations rebuilt (new data in bot_leads.leads)"

    clock = selective.select(manifest, set(), selective.ClockMove(True))  # moved anyhow: every clock reader
    assert "model.lead_analytics.dim_as_of" in clock.nodes and "model.lead_analytics.fct_bot_leads" in clock.nodes
    assert "model.lead_analytics.stg_bot_leads__leads" not in clock.nodes  # staging does not read the clock
    assert clock.describe(total).endswith("relations rebuilt (the as-of moment moved)")


def test_a_moved_clock_rebuilds_moment_readers_always_date_readers_on_a_new_date_and_cuts_when_a_stamp_passed():
    """D198: how a model reads the clock decides whether a move of the as-of moment can change its rows."""
    from orchestration import selective
    from orchestration.dbt_project import ensure_manifest

    manifest = selective.load_manifest(ensure_manifest())
    readers = selective.clock_readers(manifest)
    kinds = {uid.rsplit(".", 1)[1]: k for uid, k in readers.items()}
    assert kinds["dim_as_of"] == {"moment"}  # the moment itself
    assert kinds["int_common__as_of_date"] == {"date"}
    assert kinds["fct_bot_leads"] == {"cut"}  # leaves out leads created after the as-of moment
    assert kinds["int_ops__component_incidents"] == {"cut", "moment"}  # open incidents last until the moment
    assert "dim_calendar" not in kinds  # reads the date through int_common__as_of_date, not the clock

    def names(clock: selective.ClockMove) -> set[str]:
        return {uid.rsplit(".", 1)[1] for uid in selective.select(manifest, set(), clock).nodes}

    same_day = names(selective.ClockMove(True, date_changed=False, crossed=frozenset()))
    # the moment's readers and what is built on them; the calendar and the bot leads stay
    assert {"dim_as_of", "fct_crm_leads", "rpt_ops__component_health", "int_ops__component_incidents"} <= same_day
    assert not {"dim_calendar", "int_common__as_of_date", "fct_bot_leads", "int_messaging__messages"} & same_day
    new_day = names(selective.ClockMove(True, date_changed=True, crossed=frozenset()))
    assert {"int_common__as_of_date", "dim_calendar", "fct_roi_months"} <= new_day - same_day
    assert "fct_bot_leads" not in new_day
    passed = names(selective.ClockMove(True, date_changed=False, crossed=frozenset({"bot_leads.leads"})))
    assert passed - same_day == {"fct_bot_leads", "rst_bot_lead_contacts"}  # the two cuts on bot leads
    assert "bot_leads.leads" in selective.upstream_sources(manifest, "model.lead_analytics.fct_bot_leads")
    assert names(selective.ClockMove.still()) == set()


def test_the_clock_move_finds_the_raw_tables_holding_a_stamp_it_passed_and_a_new_reporting_date(conn, landing):
    """D198: `clock_move` looks between the as-of moment each clock reader's published relation was built with and
    this cycle's for a new reporting date and for stamps in the raw tables upstream of an `as_of_cut` model (a table
    with new data is rebuilt anyway, so it is not looked in)."""
    from datetime import UTC, datetime, timedelta

    from orchestration import selective
    from orchestration.dbt_project import ensure_manifest

    manifest = selective.load_manifest(ensure_manifest())
    bot_leads, dim_as_of = "model.lead_analytics.fct_bot_leads", "model.lead_analytics.dim_as_of"
    calendar_date = "model.lead_analytics.int_common__as_of_date"
    write(
        landing,
        "bot_leads/leads/leads_2025-01.csv",
        "A1,Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T08:00:00Z,2025-01-06T08:00:00Z",
        "A2,Website,chat,AllyChat,0.8,new,Bob,,,,2025-01-06T09:30:00Z,2025-01-06T09:30:00Z",  # 03:30 in Chicago
    )
    loaders.load_table(conn, LEADS, landing)
    chicago = settings.current().model_copy(update={"timezone": "America/Chicago"})

    def move(built_as_of: str, now: str, changed: frozenset[str] = frozenset()) -> selective.ClockMove:
        _publish(conn, built_as_of)
        config = chicago.model_copy(update={"as_of": datetime.fromisoformat(now)})
        return refresh.clock_move(conn, config, manifest, set(changed))

    # 09:00 -> 09:15 UTC (03:00 -> 03:15 in Chicago): no lead stamped in between, the same local date
    quiet = move("2025-01-06T09:00:00+00:00", "2025-01-06T09:15:00+00:00")
    assert (quiet.moved, quiet.date_changed, quiet.crossed) == (True, False, frozenset())
    assert dim_as_of in quiet.readers and bot_leads not in quiet.readers and calendar_date not in quiet.readers
    # 09:15 -> 09:45: lead A2 (09:30) is passed, so the cut on bot leads changes
    passed = move("2025-01-06T09:15:00+00:00", "2025-01-06T09:45:00+00:00")
    assert passed.crossed == {"bot_leads.leads"} and bot_leads in passed.readers
    # backwards too: a pinned as-of moved back before 09:30 takes A2 out again
    assert move("2025-01-06T09:45:00+00:00", "2025-01-06T09:15:00+00:00").crossed == {"bot_leads.leads"}
    # the table has new data: rebuilt anyway, not looked in
    new_data = move("2025-01-06T09:15:00+00:00", "2025-01-06T09:45:00+00:00", frozenset({"bot_leads.leads"}))
    assert new_data.crossed == frozenset() and bot_leads not in new_data.readers
    # 05:50 -> 06:10 UTC is 23:50 -> 00:10 in Chicago: a new reporting date, and no lead in between
    midnight = move("2025-01-06T05:50:00+00:00", "2025-01-06T06:10:00+00:00")
    assert (midnight.date_changed, midnight.crossed) == (True, frozenset()) and calendar_date in midnight.readers
    # pinned to the moment every clock reader was built with: the clock did not move
    assert move("2025-01-06T09:15:00+00:00", "2025-01-06T09:15:00+00:00") == selective.ClockMove.still()

    # A later build that rebuilt only dim_as_of (a partial run from the UI, pinned at 09:40) decides nothing for the
    # bot-lead cut: it still holds the rows of 09:15, and moving to 09:45 passes lead A2 (09:30).
    _publish(conn, "2025-01-06T09:40:00+00:00", [dim_as_of])
    later = refresh.clock_move(
        conn, chicago.model_copy(update={"as_of": datetime(2025, 1, 6, 9, 45, tzinfo=UTC)}), manifest, set()
    )
    assert later.crossed == {"bot_leads.leads"} and bot_leads in later.readers

    # Following the clock: from the published build's start to now, and CLOCK_SLACK on (the new build's moment).
    _publish(conn)
    following = chicago.model_copy(update={"as_of": None})
    now = conn.execute("select now()").fetchone()[0]

    def stamped(lead_id: str, at: datetime) -> str:
        text = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{lead_id},Website,chat,AllyChat,0.8,new,Cy,,,,{text},{text}"

    write(landing, "bot_leads/leads/leads_2025-02.csv", stamped("F1", now + timedelta(days=1)))  # far ahead
    loaders.load_table(conn, LEADS, landing)
    assert refresh.clock_move(conn, following, manifest, set()).crossed == frozenset()
    write(landing, "bot_leads/leads/leads_2025-03.csv", stamped("F2", now + refresh.CLOCK_SLACK / 2))
    loaders.load_table(conn, LEADS, landing)
    assert refresh.clock_move(conn, following, manifest, set()).crossed == {"bot_leads.leads"}


def test_a_cycle_rebuilds_everything_when_the_project_or_its_settings_changed(conn, landing):
    from orchestration import selective

    config = settings.current()
    other_zone = config.model_copy(update={"timezone": "Europe/Amsterdam"})
    assert selective.fingerprint(config) == selective.fingerprint(config.model_copy())
    assert selective.fingerprint(other_zone) != selective.fingerprint(config)

    write(landing, "bot_leads/leads/leads_2025-01.csv", lead("A1"))
    assert refresh.plan(conn, config, refresh.pending(conn, landing)).why == "nothing published yet"
    loaders.load_table(conn, LEADS, landing)
    run = str(uuid.uuid4())
    publishing.start_build(conn, run, [])
    publishing.publish(conn, run, {}, publishing.BuildRecord(selective.fingerprint(other_zone), ""))
    write(landing, "bot_leads/leads/leads_2025-02.csv", lead("A2"))
    found = refresh.pending(conn, landing)
    assert found.changed_tables == ["bot_leads.leads"]
    chosen = refresh.plan(conn, config, found)
    assert (chosen.selection, chosen.why) == (
        None,
        "the dbt project or its settings changed since the published build",
    )
    # With no new file at all, the published build of other settings is still something to rebuild (a deploy, a
    # changed time zone): the cycle and the 15-minute schedule pass the fingerprint in force.
    loaders.load_table(conn, LEADS, landing)
    run = str(uuid.uuid4())
    publishing.start_build(conn, run, [])
    publishing.publish(conn, run, {}, publishing.BuildRecord(selective.fingerprint(other_zone), ""))
    assert refresh.pending(conn, landing).nothing_new  # the landing folder alone holds nothing new
    stale = refresh.pending(conn, landing, selective.fingerprint(config))
    assert not stale.nothing_new and stale.new_files == [] and stale.unbuilt_files == []
    assert stale.reason().startswith("the dbt project or its settings changed since the published build of ")
    assert refresh.pending(conn, landing, selective.fingerprint(other_zone)).nothing_new


def test_a_partial_build_defers_only_to_this_warehouses_state_of_the_published_build(tmp_path):
    """The published dbt state names its warehouse and build: a state directory shared by two warehouses, or a
    run killed between its publish and writing the state, sends the next cycle to a whole rebuild."""
    import json

    from orchestration import selective
    from orchestration.dbt_project import ensure_manifest

    folder, code = tmp_path / "published_dbt_state", "fingerprint-of-this-code"
    assert (
        selective.state_problem(folder, "wh1", None, code)
        == "no published build records the code and settings it was built from"
    )
    assert (
        selective.state_problem(folder, "wh1", "fingerprint-of-older-code", code)
        == "the dbt project or its settings changed since the published build"
    )
    assert selective.state_problem(folder, "wh1", code, code) == f"no published dbt state in {folder}"
    selective.write_published_state(ensure_manifest(), folder, "wh1", code)
    assert selective.state_problem(folder, "wh1", code, code) is None
    node = json.loads((folder / "manifest.json").read_text())["nodes"]["model.lead_analytics.fct_bot_leads"]
    assert node["relation_name"] == '"wh1"."marts"."fct_bot_leads"'  # the published relation, not the shadow one
    elsewhere = f"the dbt state in {folder} is not the published build's of this warehouse"
    assert selective.state_problem(folder, "wh2", code, code) == elsewhere  # another warehouse, same directory
    # a build of new code was published, and the run was killed before it wrote its state: the old one is left
    assert selective.state_problem(folder, "wh1", "fingerprint-of-newer-code", "fingerprint-of-newer-code") == elsewhere


def test_a_cycle_asks_what_is_pending_with_the_fingerprint_of_the_settings_in_force(monkeypatch):
    """The wiring of the rule above in `run_cycle` (the demo and `lead-analytics refresh`): without the fingerprint,
    a published build of other code would be "nothing new"."""
    from datetime import UTC, datetime

    from orchestration import selective

    asked = []

    def spy(conn, landing_root, fingerprint=None):
        asked.append(fingerprint)
        return refresh.Pending(published_build_at=datetime(2026, 1, 1, tzinfo=UTC))

    monkeypatch.setattr(refresh, "pending", spy)
    config = settings.current()
    assert not refresh.run_cycle(config, lambda line: None).built
    assert asked == [selective.fingerprint(config)]
