"""The one Dagster `Definitions` for the project, assembled from the modules beside it."""
from __future__ import annotations

from dagster import Definitions

from orchestration.assets.dbt import dbt_models, dbt_resource
from orchestration.assets.raw import landing_specs, raw_assets
from orchestration.assets.reports import html_dashboards, metabase_dashboards
from orchestration.checks import build_asset_checks
from orchestration.jobs import full_pipeline_job
from orchestration.resources import WarehouseResource
from orchestration.schedules import hourly_pipeline
from orchestration.sensors import new_landing_files

defs = Definitions(
    assets=[*landing_specs, *raw_assets, dbt_models, html_dashboards, metabase_dashboards],
    asset_checks=build_asset_checks(),
    jobs=[full_pipeline_job],
    schedules=[hourly_pipeline],
    sensors=[new_landing_files],
    resources={"warehouse": WarehouseResource(), "dbt": dbt_resource()},
)
