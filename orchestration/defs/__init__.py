"""The Dagster definitions, one module per job: raw loads, dbt, data checks, dashboards, jobs,
schedules, sensors and resources. `orchestration.definitions` assembles them."""
