"""The Dagster definitions as a data engineer sees them in the UI: the asset graph from landing files
to dashboards with lineage, the write-audit-publish gate before the dashboards, the checks on it,
and the sensor that reacts to new landing files."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context

from orchestration.ingestion import contracts


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def _parents(graph, *path: str) -> set[AssetKey]:
    return set(graph.get(AssetKey(list(path))).parent_keys)


def test_every_raw_table_has_landing_raw_and_staging_assets_in_a_line(graph):
    for c in contracts.all_contracts():
        assert _parents(graph, c.source, c.name) == {AssetKey(["landing", c.source, c.name])}
        assert graph.get(AssetKey([c.source, c.name])).group_name == f"raw_{c.source}"
        assert AssetKey([c.source, c.name]) in _parents(graph, "staging", f"stg_{c.source}__{c.name}")


def test_lead_capture_lineage_runs_from_staging_to_the_dashboards(graph):
    assert _parents(graph, "intermediate", "int_bot_leads__enriched") == {AssetKey(["staging", "stg_bot_leads__leads"])}
    assert AssetKey(["intermediate", "int_bot_leads__enriched"]) in _parents(graph, "marts", "fct_bot_leads")
    marts = {AssetKey(["marts", m]) for m in ("fct_bot_leads", "dim_calendar", "dim_calendar_hour", "dim_as_of")}
    publish = AssetKey(["warehouse", "published_marts"])
    assert marts | {publish} <= _parents(graph, "reports", "html_dashboards")  # and the other dashboards' marts
    assert marts | {publish} <= _parents(graph, "metabase", "dashboards")
    # one Dagster group per dbt folder: the domain, the shared calendar, each source's staging
    assert graph.get(AssetKey(["marts", "fct_bot_leads"])).group_name == "lead_capture"
    assert graph.get(AssetKey(["intermediate", "int_bot_leads__enriched"])).group_name == "lead_capture"
    assert graph.get(AssetKey(["marts", "dim_calendar"])).group_name == "common"
    assert graph.get(AssetKey(["staging", "stg_bot_leads__leads"])).group_name == "staging_bot_leads"


def test_omnichannel_lineage_runs_from_staging_to_the_dashboards(graph):
    assert AssetKey(["staging", "stg_omnichannel__user_activity"]) in _parents(
        graph, "intermediate", "int_omnichannel__activity"
    )
    assert graph.get(AssetKey(["marts", "fct_omnichannel_daily_usage"])).group_name == "omnichannel"
    marts = {
        AssetKey(["marts", m])
        for m in (
            "fct_omnichannel_daily_usage",
            "fct_omnichannel_user_days",
            "fct_omnichannel_channel_usage",
            "fct_omnichannel_hourly_blast_users",
            "fct_omnichannel_hourly_charges",
            "fct_omnichannel_invitation_steps",
        )
    }
    assert marts <= _parents(graph, "reports", "html_dashboards")
    assert marts <= _parents(graph, "metabase", "dashboards")
    checks = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    assert (AssetKey(["marts", "fct_omnichannel_daily_usage"]), "gx_marts__fct_omnichannel_daily_usage") in checks


def test_publish_waits_for_every_dbt_model_and_the_dashboards_wait_for_publish(defs, graph):
    from orchestration.defs.dbt import dbt_models

    publish = AssetKey(["warehouse", "published_marts"])
    assert _parents(graph, "warehouse", "published_marts") == set(dbt_models.keys)
    assert {AssetKey(["staging", "stg_bot_leads__leads"]), AssetKey(["marts", "fct_bot_leads"])} <= set(dbt_models.keys)
    # In the job's execution plan the publish step waits for the blocking checks on the marts, the
    # dashboards wait for publish, and the dbt build waits for the raw step that runs the raw suite.
    from dagster._core.execution.api import create_execution_plan

    deps = create_execution_plan(defs.resolve_job_def("full_pipeline")).get_executable_step_deps()
    assert {
        "marts__fct_bot_leads_gx_marts__fct_bot_leads",
        "marts__dim_calendar_gx_marts__dim_calendar",
        "dbt_models",
    } <= deps["warehouse__published_marts"]
    assert "warehouse__published_marts" in deps["reports__html_dashboards"]
    assert "warehouse__published_marts" in deps["metabase__dashboards"]
    assert "raw_tables" in deps["dbt_models"]  # the one step that loads every raw table, in parallel
    assert publish in graph.get(AssetKey(["reports", "html_dashboards"])).parent_keys


def test_great_expectations_suites_are_blocking_checks_on_their_tables(defs, graph):
    from orchestration.defs import checks as gx

    checks = {(k.asset_key, k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    for key, name in [
        (AssetKey(["bot_leads", "leads"]), "gx_raw_bot_leads__leads"),
        (AssetKey(["marts", "fct_bot_leads"]), "gx_marts__fct_bot_leads"),
        (AssetKey(["marts", "dim_calendar"]), "gx_marts__dim_calendar"),
    ]:
        assert checks[(key, name)].blocking
    # The raw suite runs in the raw asset's own step (a failure fails that step, so the dbt build,
    # which runs dbt's source tests as checks on the raw assets and is therefore exempt from their
    # separate blocking checks, cannot start).
    raw = defs.resolve_assets_def(AssetKey(["bot_leads", "leads"]))
    assert {k.name for k in raw.check_keys if k.asset_key == AssetKey(["bot_leads", "leads"])} == {
        "gx_raw_bot_leads__leads"
    }
    assert {k.name for k in raw.check_keys} == {f"gx_{p.stem}" for p in gx.suite_paths() if p.stem.startswith("raw_")}
    # dbt tests are checks too, source tests included
    assert any(
        k.asset_key == AssetKey(["bot_leads", "leads"]) and k.name.startswith("source_") for k in graph.asset_check_keys
    )


def test_job_schedule_and_sensor_ship_stopped(defs):
    assert defs.resolve_job_def("full_pipeline")
    assert defs.resolve_schedule_def("hourly_full_pipeline").default_status.value == "STOPPED"
    assert defs.resolve_sensor_def("new_landing_files").default_status.value == "STOPPED"


def test_sensor_requests_one_run_per_batch_of_new_or_changed_files(defs, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_ANALYTICS_LANDING_DIR", str(tmp_path))
    sensor = defs.resolve_sensor_def("new_landing_files")
    instance = DagsterInstance.ephemeral()

    first = sensor.evaluate_tick(build_sensor_context(instance=instance))
    assert first.run_requests == [] and "no new files among 0" in first.skip_message

    folder = tmp_path / "bot_leads" / "leads"
    folder.mkdir(parents=True)
    (folder / "leads_2025-03.csv").write_text("lead_id\n")
    landed = sensor.evaluate_tick(build_sensor_context(instance=instance))
    assert len(landed.run_requests) == 1 and landed.run_requests[0].tags["new_files"] == "1"

    again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=landed.cursor))
    assert again.run_requests == []

    (folder / "leads_2025-03.csv").write_text("lead_id\nL01\n")  # changed content
    (folder / "leads_2025-04.csv").write_text("lead_id\n")
    changed = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=landed.cursor))
    assert len(changed.run_requests) == 1 and changed.run_requests[0].tags["new_files"] == "2"
    assert changed.run_requests[0].run_key != landed.run_requests[0].run_key


def test_metabase_not_configured_is_visible_as_skipped_with_its_reason(monkeypatch):
    """Without Metabase the asset does nothing; an observation on its page says why (it would otherwise only
    read "Never materialized")."""
    from dagster import materialize

    from orchestration.defs.dashboards import metabase_dashboards
    from orchestration.defs.resources import WarehouseResource

    for name in ("METABASE_URL", "METABASE_USER", "METABASE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    instance = DagsterInstance.ephemeral()
    result = materialize([metabase_dashboards], instance=instance, resources={"warehouse": WarehouseResource()})
    assert result.success
    assert result.asset_materializations_for_node("metabase__dashboards") == []
    [record] = instance.fetch_observations(AssetKey(["metabase", "dashboards"]), limit=5).records
    observation = record.asset_observation
    assert observation.description == (
        "Skipped: Metabase is not configured (set METABASE_URL, METABASE_USER and "
        "METABASE_PASSWORD); the HTML dashboards in reports/ are still written."
    )
    assert observation.metadata["skipped"].value.startswith("Metabase is not configured")


def test_a_partial_build_rewrites_only_the_pages_that_read_what_it_rebuilt():
    from orchestration.defs.dashboards import rebuilt_dashboards

    assert rebuilt_dashboards(None) is None  # a whole build: every page
    # fct_bot_leads is read by the Lead Capture dashboard alone (its exposure in _lead_capture__exposures.yml)
    assert rebuilt_dashboards(["model.lead_analytics.fct_bot_leads"]) == ["lead_capture"]
    assert rebuilt_dashboards(["model.lead_analytics.stg_bot_leads__leads"]) == []  # no card reads staging
    # every one of the 14 dashboards takes its as-of moment from marts.dim_as_of
    assert len(rebuilt_dashboards(["model.lead_analytics.dim_as_of"])) == 14


def test_the_dbt_resource_starts_dbt_without_a_version_probe_or_an_adapter_in_this_process(monkeypatch):
    """dagster-dbt's own way costs a `dbt --version` process and a macro parse before each build (D196): the resource
    knows dbt's version from the environment that holds the dbt it runs, and makes no dbt adapter here."""
    import re

    import dagster_dbt.core.resource
    from packaging import version

    from orchestration import settings
    from orchestration.defs.dbt import dbt_resource

    def no_process(args, *rest, **kwargs):
        raise AssertionError(f"a process was started for the dbt version: {args}")

    monkeypatch.setattr(dagster_dbt.core.resource, "check_output", no_process)  # dagster-dbt's `dbt --version`
    pinned = re.search(r"^dbt-core==(\S+)", (settings.PROJECT_ROOT / "requirements.lock").read_text(), re.MULTILINE)
    resource = dbt_resource(settings.current())
    assert resource._cli_version == version.parse(pinned.group(1)) == version.parse("1.11.16")
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    invocation = resource.cli(["--version"])
    assert invocation.adapter is None
    assert invocation.wait().is_successful()
