"""Scheduled reports and alerts in Dagster.

One schedule per report spec (metabase/reports), ticking on the report's cron in its time zone (the reporting
time zone unless the spec names one); a monthly report ticks on days 1-7 and runs only on its n-th business day
(computed from seeds/crm_holidays.csv, D171). A tick's run sends the period of that tick (`as_of` = the tick's
scheduled time), and its run key is report + period, so Dagster itself never starts two runs for one period; the
delivery ledger makes the send once-only even when it does (D172). Schedules ship stopped, like the pipeline's.

The alert rules are an asset after the publish asset: evaluated after every publish.
"""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    Config,
    DefaultScheduleStatus,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    job,
    op,
)

from orchestration import settings
from orchestration.defs.publish import PUBLISH_KEY
from orchestration.defs.resources import WarehouseResource


class SendConfig(Config):
    report: str
    as_of: str  # ISO instant: the tick's scheduled time


@op(description="Render one report for the period of its tick and e-mail it once per recipient.")
def send_report(context: OpExecutionContext, config: SendConfig, warehouse: WarehouseResource) -> None:
    from orchestration.reporting import send

    outcome = send.send(warehouse.info(), settings.current(), config.report, datetime.fromisoformat(config.as_of))
    for line in outcome.lines:
        context.log.info(line)
    if not outcome.ok:
        raise Failure(description=f"{outcome.failed} delivery(ies) failed; retried on the next run")


@job(description="Send one scheduled report (metabase/reports); started by the report schedules.")
def deliver_report():
    send_report()


def report_schedules(config: settings.Settings) -> list[ScheduleDefinition]:
    from orchestration.reporting.specs import load_reports

    return [_schedule(spec, config) for spec in load_reports().values()]


def _schedule(spec, config: settings.Settings) -> ScheduleDefinition:
    schedule = spec.schedule.resolve(config.timezone)

    def evaluate(context: ScheduleEvaluationContext):
        tick = context.scheduled_execution_time or datetime.now(UTC)
        if tick.tzinfo is None:
            tick = tick.replace(tzinfo=UTC)
        from zoneinfo import ZoneInfo

        from orchestration.reporting.calendar import holidays

        if not schedule.fire_day(tick.astimezone(ZoneInfo(schedule.zone)).date(), holidays()):
            return SkipReason(f"{spec.key}: not its business day {schedule.business_day}")
        period = schedule.period(tick)
        return RunRequest(
            run_key=f"{spec.key}:{period.key}",
            run_config={"ops": {"send_report": {"config": {"report": spec.key, "as_of": tick.isoformat()}}}},
            tags={"report": spec.key, "period": period.key},
        )

    return ScheduleDefinition(
        name=f"report_{spec.key}",
        job=deliver_report,
        cron_schedule=schedule.cron(),
        execution_timezone=schedule.zone,
        execution_fn=evaluate,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"{spec.name}: {spec.schedule.cadence} at {spec.schedule.at} ({schedule.zone}).",
    )


@asset(
    key=["alerts", "evaluated"],
    deps=[PUBLISH_KEY],
    group_name="dashboards",
    kinds={"python"},
    description="Every alert rule (metabase/alerts) evaluated on the published marts; changes notified once "
    "(raw_audit.alert_events).",
)
def evaluated_alerts(context: AssetExecutionContext, warehouse: WarehouseResource):
    from orchestration.reporting import alerts

    config = settings.current()
    outcome = alerts.evaluate_and_notify(warehouse.info(), config, config.as_of or datetime.now(UTC))
    for line in outcome.lines:
        context.log.info(line)
    return Output(
        None,
        metadata={
            "fired": len(outcome.fired),
            "resolved": len(outcome.resolved),
            "not_evaluated": MetadataValue.json(outcome.not_evaluated),
        },
    )
