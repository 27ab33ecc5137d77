"""Schedules. Bison and the other vendors sync hourly (seed 004), so the pipeline runs hourly;
the schedule ships stopped and is switched on in the Dagster UI."""
from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition

from orchestration.defs.jobs import full_pipeline_job


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
