"""The publish asset: the last gate of write-audit-publish, between the audited build and the dashboards.

It runs only when the dbt build succeeded (models and tests, in the shadow schemas) and every
blocking check upstream of it passed (Dagster skips it otherwise), and swaps the shadow schemas in
for the published ones in one transaction (`orchestration.publishing.publish`). The dashboard assets
depend on it, so they only ever read published marts.
"""

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, asset

from orchestration import publishing
from orchestration.defs.dbt import PUBLISHED_RELATIONS, dbt_models
from orchestration.defs.resources import WarehouseResource

PUBLISH_KEY = AssetKey(["warehouse", "published_marts"])


@asset(
    key=PUBLISH_KEY,
    deps=sorted(dbt_models.keys),
    group_name="publish",
    kinds={"postgres"},
    description="Publishes the audited dbt build: swaps "
    + ", ".join(f"{publishing.build_schema(s)} for {s}" for s in sorted(PUBLISHED_RELATIONS))
    + " in one transaction, once the build and every blocking check passed; records the publication in "
    "raw_audit.publications and the raw sources' arrival times in raw_audit.source_arrivals. "
    "Readers never see a half-built or unchecked mart.",
)
def published_marts(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from orchestration.bi import freshness

    sources = freshness.lineage().sources  # the dashboards' "Sources" line reads their arrival times (D183)
    with warehouse.connect() as conn:
        try:
            schemas = publishing.publish(conn, context.run.run_id, PUBLISHED_RELATIONS, sources)
        except publishing.PublishError as exc:
            raise Failure(description=f"not published: {exc}; the published marts are unchanged") from None
        status = publishing.publication_status(conn)
    context.log.info(f"published {', '.join(schemas)}: {status.line()}")
    return MaterializeResult(
        metadata={
            "schemas": ", ".join(schemas),
            "run_id": context.run.run_id,
            "relations": sum(len(v) for v in PUBLISHED_RELATIONS.values()),
        }
    )
