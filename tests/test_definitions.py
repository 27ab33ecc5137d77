"""The Dagster definitions as a data engineer sees them in the UI: the asset graph from landing files
to dashboards with lineage, the checks on it, and the sensor that reacts to new landing files."""
from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, SkipReason, build_sensor_context

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
    assert _parents(graph, "intermediate", "int_bot_leads__enriched") == {
        AssetKey(["staging", "stg_bot_leads__leads"])}
    assert AssetKey(["intermediate", "int_bot_leads__enriched"]) in _parents(graph, "marts", "fct_bot_leads")
    marts = {AssetKey(["marts", m]) for m in ("fct_bot_leads", "rpt_bot_leads__snapshot", "rpt_bot_leads__kpis")}
    assert _parents(graph, "reports", "html_dashboards") == marts
    assert _parents(graph, "metabase", "dashboards") == marts
    assert graph.get(AssetKey(["marts", "fct_bot_leads"])).group_name == "marts"


def test_great_expectations_suites_are_blocking_checks_on_their_tables(graph):
    checks = {(k.asset_key, k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    for key, name in [(AssetKey(["bot_leads", "leads"]), "gx_raw_bot_leads__leads"),
                      (AssetKey(["marts", "fct_bot_leads"]), "gx_marts__fct_bot_leads"),
                      (AssetKey(["marts", "rpt_bot_leads__kpis"]), "gx_marts__rpt_bot_leads__kpis")]:
        assert checks[(key, name)].blocking
    # dbt tests are checks too, source tests included
    assert any(k.asset_key == AssetKey(["bot_leads", "leads"]) and k.name.startswith("source_")
               for k in graph.asset_check_keys)


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
