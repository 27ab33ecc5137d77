"""Schedules. Bison and the other vendors sync hourly (seed 004), so the pipeline runs hourly;
the 15-minute refresh cycle (seed 001: "15-minute batch for analytics") runs the same job only when
the landing folder holds something the published marts lack (orchestration/refresh.py), and then only the
assets that new data reaches (orchestration/selective.py), never while another run of it is in progress.
Both ship stopped and are switched on in the Dagster UI."""

from __future__ import annotations

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from orchestration.defs.jobs import full_pipeline_job

_IN_PROGRESS = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def hourly_pipeline(reporting_timezone: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="hourly_full_pipeline",
        job=full_pipeline_job,
        cron_schedule="15 * * * *",
        execution_timezone=reporting_timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Runs the full pipeline at a quarter past every hour (reporting time zone), after the vendors' "
        "hourly syncs: loads new landing files, rebuilds and tests the models, runs the checks, publishes "
        "the dashboards. Ships stopped: switch it on here.",
    )


def refresh_cycle(reporting_timezone: str) -> ScheduleDefinition:
    @schedule(
        name="refresh_every_15_minutes",
        job=full_pipeline_job,
        cron_schedule="*/15 * * * *",
        execution_timezone=reporting_timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Every 15 minutes (reporting time zone): runs the pipeline when new or changed landing "
        "files (or loaded files no published build has read) are waiting; skips the tick when "
        "nothing is new or a run of the pipeline is still in progress. Ships stopped.",
    )
    def refresh_every_15_minutes(context: ScheduleEvaluationContext):
        from orchestration import refresh, selective, settings, warehouse

        running = context.instance.get_run_records(
            RunsFilter(job_name=full_pipeline_job.name, statuses=_IN_PROGRESS), limit=1
        )
        if running:
            run = running[0].dagster_run
            return SkipReason(
                f"run {run.run_id[:8]} of {full_pipeline_job.name} is still in progress "
                f"({run.status.value.lower()}); one run at a time, so this tick is skipped"
            )
        config = settings.current()
        with warehouse.connect(warehouse.ensure_running()) as conn:
            found = refresh.pending(conn, config.landing_dir, selective.fingerprint(config))
            if found.nothing_new:
                return SkipReason(f"{found.reason()}: no rebuild")
            chosen = refresh.plan(conn, config, found)
        tags = {"refresh_reason": found.reason()[:250]}
        if chosen.selection is None:
            return RunRequest(tags={**tags, "refresh_rebuild": f"everything: {chosen.why}"[:250]})
        from orchestration import pipeline
        from orchestration.dbt_project import ensure_manifest
        from orchestration.definitions import defs
        from orchestration.defs.publish import REBUILT_TAG

        note = chosen.selection.describe(len(selective.built_nodes(selective.load_manifest(ensure_manifest()))))
        return RunRequest(
            asset_selection=pipeline.selection_keys(defs, chosen.selection), tags={**tags, REBUILT_TAG: note[:1000]}
        )

    return refresh_every_15_minutes
