"""Dashboards as Dagster assets: the HTML report files and the Metabase dashboards.

Both read the card and dashboard specs in `metabase/` and depend on the mart tables their compiled
cards read (lineage) and on the publish asset (gating): they run only after a build passed every
check and was published, so they never read a mart built from data that failed a blocking check.
Without METABASE_URL, METABASE_USER and METABASE_PASSWORD the Metabase asset is skipped (not
materialised, with a log line saying why), never failed.
"""

import os
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetObservation, Failure, MetadataValue, Output, asset

from orchestration import publishing, settings
from orchestration.bi import compiler
from orchestration.defs.publish import PUBLISH_KEY
from orchestration.defs.resources import WarehouseResource

SPECS_DIR = settings.PROJECT_ROOT / "metabase"
SKIPPED = "skipped"  # metadata key of the observation an asset logs when it skips its work, with the reason


def mart_dependencies(specs_dir: Path = SPECS_DIR) -> list[AssetKey]:
    """The dbt mart assets (`["marts", model]`) that the compiled cards read."""
    relations = compiler.marts_read(compiler.compile_specs(specs_dir))
    return [AssetKey(relation.split(".", 1)) for relation in relations]


MART_DEPENDENCIES = mart_dependencies()
DASHBOARD_DEPENDENCIES = [*MART_DEPENDENCIES, PUBLISH_KEY]  # the marts they read, once published


@asset(
    key=["reports", "html_dashboards"],
    deps=DASHBOARD_DEPENDENCIES,
    group_name="dashboards",
    kinds={"html"},
    description="Every dashboard in metabase/dashboards rendered to one self-contained HTML file in reports/ "
    "(KPI tiles and charts from the same card SQL Metabase runs).",
)
def html_dashboards(context: AssetExecutionContext, warehouse: WarehouseResource):
    from orchestration import access
    from orchestration.bi import html_report, run

    with warehouse.connect() as conn:
        keys = rebuilt_dashboards(publishing.partial_nodes(conn, context.run.run_id))
    if keys == []:
        context.log.info("no dashboard reads a relation this run rebuilt; the pages stay as they are")
        return Output(None, metadata={"dashboards": 0})
    try:
        # the reporting_reader login: what the page shows is what the role Metabase uses may read. The publish step
        # before this one granted the marts and wrote the sources' arrival times in its transaction: nothing to redo.
        written = html_report.write_reports(
            access.reader_info(warehouse.info()), SPECS_DIR, settings.reports_dir(), keys=keys
        )
    except (run.ReportError, run.FilterError, access.AccessError) as exc:
        raise Failure(description=f"no HTML dashboard written: {exc}") from None
    paths, timings = [], {}
    for path, report in written:
        paths.append(path)
        context.log.info(
            f"wrote {path} ({len(report.results)} queries, {report.charts} charts, as of {report.as_of_text})"
        )
        timings.update({f"{report.dashboard.key}/{card}": round(ms, 1) for card, ms in report.timings_ms().items()})
    return Output(
        None,
        metadata={
            "files": MetadataValue.md("\n".join(f"- `{p}`" for p in paths)),
            "dashboards": len(paths),
            "card_query_ms": MetadataValue.json(timings),
        },
    )


def rebuilt_dashboards(nodes: "list[str] | None") -> "list[str] | None":
    """The dashboards a build of dbt `nodes` changes: None (all) for a whole build; for a partial one (a refresh
    cycle, orchestration/selective.py) those whose cards or as-of moment read a rebuilt relation. Another page's
    marts, as-of moment and sources are what they were, so it stays as written."""
    if nodes is None:
        return None
    from orchestration.defs.dbt import ASSET_KEYS

    compiled = compiler.compile_specs(SPECS_DIR)
    rebuilt = {".".join(ASSET_KEYS[uid].path) for uid in nodes if uid in ASSET_KEYS}
    return [
        key
        for key, dashboard in sorted(compiled.dashboards.items())
        if rebuilt & {*compiler.marts_read(compiled, [key]), *([dashboard.as_of.table] if dashboard.as_of else [])}
    ]


@asset(
    key=["metabase", "dashboards"],
    deps=DASHBOARD_DEPENDENCIES,
    group_name="dashboards",
    kinds={"metabase"},
    output_required=False,
    description="Creates or updates the Metabase database connection, collection, cards and dashboards from "
    "metabase/ and pushes the marts' dbt descriptions into Metabase's data model. Objects are known by "
    "their spec key through raw_audit.metabase_objects; people's own questions are never touched; cards "
    "removed from code are archived. Skipped when METABASE_URL, METABASE_USER and METABASE_PASSWORD are "
    "not set.",
)
def metabase_dashboards(context: AssetExecutionContext, warehouse: WarehouseResource):
    from orchestration.bi import metabase
    from orchestration.bi.specs import SpecError
    from orchestration.warehouse import WarehouseError

    if not metabase.is_configured():
        reason = (
            "Metabase is not configured (set METABASE_URL, METABASE_USER and METABASE_PASSWORD); "
            "the HTML dashboards in reports/ are still written"
        )
        context.log.warning(f"skipping the Metabase dashboards: {reason}")
        # No materialization, so the asset page would only say "Never materialized": an observation says why.
        context.log_event(
            AssetObservation(asset_key=context.asset_key, description=f"Skipped: {reason}.", metadata={SKIPPED: reason})
        )
        return
    info = warehouse.info()
    try:  # the provisioner's records live in the warehouse it reads (raw_audit.metabase_objects)
        # reporting_reader by default, its password the one the project keeps for it (D184)
        database_settings = metabase.warehouse_database_settings(info)
        report = metabase.provision(
            SPECS_DIR, database_settings=database_settings, state=info, adopt=os.environ.get("METABASE_ADOPT") == "1"
        )
    except (metabase.MetabaseError, SpecError, WarehouseError) as exc:
        raise Failure(description=f"{type(exc).__name__}: {exc}") from None
    context.log.info(f"Metabase: {report.summary()}")
    _mirror_subscriptions(context, info)
    for note in report.notes:
        context.log.info(f"Metabase: {note}")
    yield Output(
        None,
        metadata={
            **report.counts(),
            "left_alone": len(report.foreign),
            "url": MetadataValue.url(os.environ["METABASE_URL"]),
        },
    )


def _mirror_subscriptions(context: AssetExecutionContext, info) -> None:
    """The report subscriptions and card alerts Metabase can schedule (issue 20), after its dashboards exist."""
    from orchestration.bi import metabase_subscriptions as subs
    from orchestration.bi.metabase_client import Client, MetabaseError
    from orchestration.bi.metabase_state import WarehouseState

    try:
        with Client(
            os.environ["METABASE_URL"],
            os.environ["METABASE_USER"],
            os.environ["METABASE_PASSWORD"],
            allow_http=os.environ.get("METABASE_ALLOW_HTTP") == "1",
        ) as client:
            mirrored = subs.provision(client, WarehouseState(info), subs.plan(SPECS_DIR))
    except MetabaseError as exc:
        raise Failure(description=f"MetabaseError: subscriptions: {exc}") from None
    context.log.info(f"Metabase subscriptions and alerts: {mirrored.summary()}")
    for line in mirrored.not_mirrored:
        context.log.info(f"not in Metabase: {line}")
