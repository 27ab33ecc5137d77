"""Dagster's run history with one SQLite connection per file (orchestration/run_history.py, D206)."""

from __future__ import annotations

import sqlite3

from dagster import AssetCheckResult, AssetKey, DagsterInstance, Definitions, asset, asset_check, define_asset_job
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine

from orchestration import pipeline, settings
from orchestration.run_history import PooledSqliteEventLogStorage


@asset
def leads() -> int:
    return 3


@asset
def leads_doubled(leads: int) -> int:
    return leads * 2


@asset_check(asset=leads_doubled)
def doubled_is_even(leads_doubled: int) -> AssetCheckResult:
    return AssetCheckResult(passed=leads_doubled % 2 == 0)


DEFS = Definitions(assets=[leads, leads_doubled], asset_checks=[doubled_is_even], jobs=[define_asset_job("both")])


def _config(tmp_path) -> settings.Settings:
    return settings.Settings.load().model_copy(update={"state_dir": tmp_path / "state"})


def test_the_instance_yaml_names_the_pooled_event_log_and_upgrades_only_what_a_release_wrote(tmp_path):
    config = _config(tmp_path)
    home = pipeline.dagster_home(config)
    written = (tmp_path / "state" / "dagster_home" / "dagster.yaml").read_text()
    assert "class: PooledSqliteEventLogStorage" in written and "telemetry:\n  enabled: false" in written
    assert f'base_dir: "{home}/history/runs"' in written  # Dagster's default place: earlier runs stay readable
    yaml = tmp_path / "state" / "dagster_home" / "dagster.yaml"
    yaml.write_text("telemetry:\n  enabled: false\n")  # what releases before D206 wrote
    pipeline.dagster_home(config)
    assert yaml.read_text() == written
    moved = written.replace(f'"{home}/history/runs"', '"/elsewhere/history/runs"')  # the state folder moved
    yaml.write_text(moved)
    pipeline.dagster_home(config)
    assert yaml.read_text() == written
    for edited in ("telemetry:\n  enabled: true\n", moved + "run_monitoring:\n  enabled: true\n"):  # by hand
        yaml.write_text(edited)
        pipeline.dagster_home(config)
        assert yaml.read_text() == edited


def _run_counting_connections(home: str) -> tuple[str, list, list[str]]:
    """The job run on the instance of `home`: its run id, its events and the event-log files each SQLite connection
    opened during the run was to."""
    connects: list[str] = []

    def count(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            path = dbapi_connection.execute("pragma database_list").fetchone()[2]
            if "/history/runs/" in path:  # the event log (runs.db, the run storage, is Dagster's own either way)
                connects.append(path.rsplit("/", 1)[1])

    with DagsterInstance.from_config(home) as instance:
        event.listen(Engine, "connect", count)
        try:
            result = DEFS.resolve_job_def("both").execute_in_process(instance=instance)
        finally:
            event.remove(Engine, "connect", count)
        assert result.success
        return result.run_id, instance.all_logs(result.run_id), connects


def test_a_run_writes_its_history_through_one_connection_per_file_and_dagster_reads_it_back(tmp_path):
    home = pipeline.dagster_home(_config(tmp_path))
    with DagsterInstance.from_config(home) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
    run_id, written, pooled = _run_counting_connections(home)

    stock_home = tmp_path / "stock"  # the same job on Dagster's own event log, for comparison
    stock_home.mkdir()
    (stock_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    _, stock_written, stock = _run_counting_connections(str(stock_home))
    # Dagster's own event log connects once per event written (twice for an asset event, mirrored in the index):
    # 64 connections for 32 events. The pooled one connects while Dagster creates and stamps the run's file (a
    # fixed dozen, whatever the number of events), then once to hold it.
    assert len(written) == len(stock_written) > 20
    assert len(stock) >= 2 * len(written) and len(pooled) <= 16, (len(written), len(stock), pooled)

    stock_storage = SqliteEventLogStorage(f"{home}/history/runs")  # what the UI reads with a stock instance
    try:
        read = stock_storage.get_logs_for_run(run_id)
        assert [e.dagster_event_type for e in read] == [e.dagster_event_type for e in written]
        latest = stock_storage.get_latest_materialization_events([AssetKey("leads_doubled")])
        assert latest[AssetKey("leads_doubled")] is not None
        check_key = next(iter(DEFS.resolve_asset_graph().asset_check_keys))
        history = stock_storage.get_asset_check_execution_history(check_key, limit=1)
        assert history and history[0].run_id == run_id
    finally:
        stock_storage.dispose()
