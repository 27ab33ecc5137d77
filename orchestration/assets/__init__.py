"""Dagster assets, one module per integration: raw loads, dbt, data checks, dashboards."""
