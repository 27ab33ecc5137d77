"""The publish asset: the last gate of write-audit-publish, between the audited build and the dashboards.

It runs only when the dbt build succeeded (models and tests, in the shadow schemas) and every
blocking check upstream of it passed (Dagster skips it otherwise). A whole build's shadow schemas are
swapped in for the published ones in one transaction (`orchestration.publishing.publish`); a partial
build's relations (a refresh cycle's, orchestration/selective.py) replace their published namesakes in one
transaction (`publishing.publish_relations`). The dashboard assets depend on it, so they only ever read
published marts. After each publish the build's dbt state is kept for the next partial build to defer to.
"""

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, asset

from orchestration import publishing, selective
from orchestration.dbt_project import ensure_manifest
from orchestration.defs.dbt import ASSET_KEYS, PUBLISHED_RELATIONS, UNIQUE_IDS, ProjectDbtResource, dbt_models
from orchestration.defs.resources import WarehouseResource

PUBLISH_KEY = AssetKey(["warehouse", "published_marts"])
REBUILT_TAG = "lead_analytics/rebuilt"  # a refresh cycle's line saying what it rebuilds and why


def partial_relations(manifest: dict, keys: set[AssetKey]) -> list[tuple[str, str]]:
    """The published relations (schema, name) of the dbt assets `keys`, parents first. PublishError when a
    model downstream of one of them is not among them: it would keep reading the relation being replaced."""
    nodes = {UNIQUE_IDS[k] for k in keys}
    stale = sorted(selective.downstream(manifest, nodes) - nodes)
    if stale:
        names = ", ".join(ASSET_KEYS[u].to_user_string() for u in stale[:3] if u in ASSET_KEYS)
        raise publishing.PublishError(
            f"a partial build must rebuild everything downstream of what it rebuilds; it leaves {len(stale)} "
            f"out, e.g. {names}"
        )
    out = []
    for uid in selective.publish_order(manifest, nodes):
        node = manifest["nodes"][uid]
        schema, name = node["schema"].removesuffix(publishing.BUILD_SUFFIX), node.get("alias") or node["name"]
        if name in PUBLISHED_RELATIONS.get(schema, ()):  # not ephemeral models, nor snapshots (built in place)
            out.append((schema, name))
    return out


@asset(
    key=PUBLISH_KEY,
    deps=sorted(dbt_models.keys),
    group_name="publish",
    kinds={"postgres"},
    description="Publishes the audited dbt build: swaps "
    + ", ".join(f"{publishing.build_schema(s)} for {s}" for s in sorted(PUBLISHED_RELATIONS))
    + " in one transaction (a partial build: moves each rebuilt relation in place of its published namesake, "
    "in one transaction), once the build and every blocking check passed; records the publication in "
    "raw_audit.publications and the raw sources' arrival times in raw_audit.source_arrivals. "
    "Readers never see a half-built or unchecked mart.",
)
def published_marts(
    context: AssetExecutionContext, warehouse: WarehouseResource, dbt: ProjectDbtResource
) -> MaterializeResult:
    from orchestration.bi import freshness

    config = dbt.run_settings()
    sources = freshness.lineage().sources  # the dashboards' "Sources" line reads their arrival times (D183)
    manifest_path = ensure_manifest()
    total = sum(len(v) for v in PUBLISHED_RELATIONS.values())
    # what this run's dbt step built; read in a connection of its own, so that the publish below (and the hold-back
    # it records when it fails) runs in transactions of its own, not as savepoints of this read's transaction
    with warehouse.connect() as conn:
        nodes = publishing.partial_nodes(conn, context.run.run_id)
    with warehouse.connect() as conn:
        whole = nodes is None
        rebuilt = {ASSET_KEYS[uid] for uid in nodes or ()}
        try:
            if whole:
                record = publishing.BuildRecord(selective.fingerprint(config), config.as_of_text, None)
                published = publishing.publish(conn, context.run.run_id, PUBLISHED_RELATIONS, record, sources)
                count = total
            else:
                relations = partial_relations(selective.load_manifest(manifest_path), rebuilt)
                note = context.run.tags.get(REBUILT_TAG) or f"{len(relations)} of {total} relations rebuilt"
                record = publishing.BuildRecord(selective.fingerprint(config), config.as_of_text, note)
                published = publishing.publish_relations(conn, context.run.run_id, relations, record, sources)
                count = len(relations)
        except publishing.PublishError as exc:
            raise Failure(description=f"not published: {exc}; the published marts are unchanged") from None
        status = publishing.publication_status(conn)
    selective.write_published_state(
        manifest_path, selective.state_dir(config), warehouse.info().dbname, record.fingerprint
    )
    context.log.info(f"published {count} relation(s): {status.line()}")
    return MaterializeResult(
        metadata={
            "published": ", ".join(published),
            "run_id": context.run.run_id,
            "relations": count,
            "whole_build": whole,
        }
    )
