"""The one Dagster `Definitions` for the project, assembled from the modules beside it.

`build(settings)` makes them for a run's settings (the CLI's pipeline passes its own); `defs`, which `dagster dev`
and the Dagster UI load, is built from the settings in force, validated (a bad LEAD_ANALYTICS_TIMEZONE or
LEAD_ANALYTICS_AS_OF fails the load with one line saying which).
"""

from __future__ import annotations

from dagster import Definitions

from orchestration import settings
from orchestration.defs.checks import build_asset_checks
from orchestration.defs.dashboards import html_dashboards, metabase_dashboards
from orchestration.defs.dbt import dbt_models, dbt_resource
from orchestration.defs.jobs import full_pipeline_job
from orchestration.defs.publish import published_marts
from orchestration.defs.raw import landing_specs, raw_assets
from orchestration.defs.reconciliation import reconciliation_checks
from orchestration.defs.reporting import deliver_report, evaluated_alerts, report_schedules
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.schedules import hourly_pipeline, refresh_cycle
from orchestration.defs.sensors import new_landing_files


def build(config: settings.Settings) -> Definitions:
    return Definitions(
        assets=[
            *landing_specs,
            *raw_assets,
            dbt_models,
            published_marts,
            html_dashboards,
            metabase_dashboards,
            evaluated_alerts,
        ],
        asset_checks=[*build_asset_checks(), *reconciliation_checks],
        jobs=[full_pipeline_job, deliver_report],
        schedules=[hourly_pipeline(config.timezone), refresh_cycle(config.timezone), *report_schedules(config)],
        sensors=[new_landing_files],
        resources={"warehouse": WarehouseResource(), "dbt": dbt_resource(config)},
    )


defs = build(settings.current())
