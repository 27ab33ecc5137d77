"""Lead Analytics. `ingestion` lands vendor files in the warehouse, `bi` turns the dbt semantic layer
into Metabase and HTML dashboards, `defs` is the Dagster code; `cli`, `pipeline`, `settings` and
`warehouse` are shared by all three."""
