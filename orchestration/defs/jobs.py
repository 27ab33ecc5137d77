"""Jobs: the full pipeline (every asset) and ingestion only."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

full_pipeline_job = define_asset_job(
    "full_pipeline",
    selection=AssetSelection.all(),
    description="Load every new landing file, build and test all dbt models, run the data checks and "
    "publish the dashboards.",
)
