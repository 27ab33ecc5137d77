"""Dashboards as Dagster assets: the HTML report files and the Metabase dashboards.

Both read the card and dashboard specs in `metabase/` and depend on the mart tables their cards'
SQL reads, so the Great Expectations checks on those marts (blocking) stop them when data is bad.
Without METABASE_URL, METABASE_USER and METABASE_PASSWORD the Metabase asset is skipped (not
materialised, with a log line saying why), never failed.
"""
import os
import re
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, Failure, MetadataValue, Output, asset

from orchestration import settings
from orchestration.bi import specs
from orchestration.defs.resources import WarehouseResource

SPECS_DIR = settings.PROJECT_ROOT / "metabase"
_MART_REFERENCE = re.compile(rf"\b{settings.MARTS_SCHEMA}\.([a-z_][a-z0-9_]*)", re.IGNORECASE)


def mart_dependencies(specs_dir: Path = SPECS_DIR) -> list[AssetKey]:
    """The dbt mart assets (`["marts", model]`) that any card's SQL reads."""
    loaded = specs.load_specs(specs_dir)
    models = {m.lower() for card in loaded.cards.values() for m in _MART_REFERENCE.findall(card.sql)}
    return [AssetKey([settings.MARTS_SCHEMA, m]) for m in sorted(models)]


MART_DEPENDENCIES = mart_dependencies()


@asset(
    key=["reports", "html_dashboards"],
    deps=MART_DEPENDENCIES,
    group_name="dashboards",
    kinds={"html"},
    description="Every dashboard in metabase/dashboards rendered to one self-contained HTML file in reports/ "
                "(KPI tiles and charts from the same card SQL Metabase runs).",
)
def html_dashboards(context: AssetExecutionContext, warehouse: WarehouseResource):
    from orchestration.bi import html_report

    paths, timings, failures = [], {}, []
    for path, rendered in html_report.build_all(warehouse.info(), SPECS_DIR, settings.reports_dir()):
        key = rendered.dashboard.key
        paths.append(path)
        context.log.info(f"wrote {path} ({len(rendered.results)} cards, as of {rendered.as_of})")
        timings.update({f"{key}/{card}": ms for card, ms in rendered.timings_ms().items()})
        failures += [f"{key}/{r.key}: {r.error}" for r in rendered.failures]
    if failures:
        raise Failure(description=f"{len(failures)} card(s) failed: " + "; ".join(failures),
                      metadata={"files": MetadataValue.md("\n".join(f"- `{p}`" for p in paths))})
    return Output(None, metadata={
        "files": MetadataValue.md("\n".join(f"- `{p}`" for p in paths)),
        "dashboards": len(paths),
        "card_query_ms": MetadataValue.json(timings),
    })


def metabase_database_settings(info) -> "dict[str, object]":
    """How Metabase reaches the warehouse: METABASE_DB_* variables, else the warehouse's own TCP address."""
    host = os.environ.get("METABASE_DB_HOST") or info.host
    if host.startswith("/"):
        raise Failure(description="Metabase needs a TCP address for the warehouse, but the embedded warehouse "
                                  "listens on a unix socket: set METABASE_DB_HOST (and METABASE_DB_PORT, "
                                  "METABASE_DB_USER, METABASE_DB_PASSWORD) or use an external warehouse")
    return {
        "name": os.environ.get("METABASE_DB_NAME_IN_METABASE", "Lead Analytics warehouse"),
        "host": host,
        "port": int(os.environ.get("METABASE_DB_PORT") or info.port),
        "dbname": os.environ.get("METABASE_DB_DATABASE") or info.dbname,
        "user": os.environ.get("METABASE_DB_USER") or info.user,
        "password": os.environ.get("METABASE_DB_PASSWORD") or info.password,
    }


@asset(
    key=["metabase", "dashboards"],
    deps=MART_DEPENDENCIES,
    group_name="dashboards",
    kinds={"metabase"},
    output_required=False,
    description="Creates or updates the Metabase database connection, collection, cards and dashboards from "
                "metabase/ (idempotent; cards removed from code are archived). Skipped when METABASE_URL, "
                "METABASE_USER and METABASE_PASSWORD are not set.",
)
def metabase_dashboards(context: AssetExecutionContext, warehouse: WarehouseResource):
    from orchestration.bi import metabase

    if not metabase.is_configured():
        context.log.warning("Metabase is not configured (set METABASE_URL, METABASE_USER and METABASE_PASSWORD); "
                            "skipping the Metabase dashboards. The HTML dashboards in reports/ are still written.")
        return
    try:
        report = metabase.provision(SPECS_DIR,
                                                database_settings=metabase_database_settings(warehouse.info()))
    except metabase.MetabaseError as exc:
        raise Failure(description=f"MetabaseError: {exc}") from None
    context.log.info(f"Metabase: {report.summary()}")
    yield Output(None, metadata={**report.counts(), "url": MetadataValue.url(os.environ["METABASE_URL"])})
