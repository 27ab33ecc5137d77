"""Landing files and raw tables: one asset per raw table, grouped by source.

Landing files are external assets (vendors write them; `lead-analytics generate` writes synthetic
ones). Each raw asset loads the new files of its table with `orchestration.ingestion.loaders`, reports
loaded, rejected and failed counts in its metadata and then runs the table's Great Expectations suite,
if it has one, in the same step: a failed suite (or a failed file) fails the step, so nothing
downstream of the table runs in that run, the dbt build included, and nothing new is published.
Raw asset keys are `[source, table]`, the keys dagster-dbt gives the matching dbt sources, so
lineage runs on into the staging models.
"""

from dagster import (AssetExecutionContext, AssetKey, AssetSpec, Failure, MaterializeResult, MetadataValue,
                     asset)

from orchestration import publishing, settings
from orchestration.defs import checks
from orchestration.defs.resources import WarehouseResource
from orchestration.ingestion import contracts, loaders
from orchestration.ingestion.contracts import TableContract


def landing_key(contract: TableContract) -> AssetKey:
    return AssetKey(["landing", contract.source, contract.name])


def raw_key(contract: TableContract) -> AssetKey:
    return AssetKey([contract.source, contract.name])


def _landing_spec(contract: TableContract) -> AssetSpec:
    return AssetSpec(
        key=landing_key(contract),
        description=f"Vendor export files ({contract.file_format}) for {contract.schema}.{contract.name}, "
                    f"in <landing dir>/{contract.landing_path}/.",
        group_name="landing",
        kinds={contract.file_format},
    )


def _raw_asset(contract: TableContract):
    suite = checks.raw_suite([contract.source, contract.name])

    @asset(
        key=raw_key(contract),
        deps=[landing_key(contract)],
        group_name=f"raw_{contract.source}",
        description=contract.description,
        kinds={"postgres"},
        metadata={"table": f"{contract.schema}.{contract.name}",
                  "natural_key": ", ".join(contract.natural_key)},
        check_specs=[checks.raw_check_spec(suite)] if suite else None,
    )
    def load_raw_table(context: AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.connect() as conn:
            loaders.ensure_schemas(conn)
            result = loaders.load_table(
                conn, contract, settings.landing_dir(),
                progress=lambda f: context.log.debug(
                    f"{f.file}: {f.status}, {f.inserted} inserted, {f.updated} updated, "
                    f"{f.unchanged} unchanged, {f.rejected} rejected ({f.seconds:.2f}s)"))
            total_rows = conn.execute(f"select count(*) from {contract.qualified_name}").fetchone()[0]
        context.log.info(
            f"{result.loaded_files} new files ({result.skipped_files} already loaded"
            f"{f', {result.failed_files} failed' if result.failed_files else ''}): "
            f"{result.total('inserted'):,} inserted, {result.total('updated'):,} updated, "
            f"{result.total('rejected'):,} rejected; {total_rows:,} rows in {contract.schema}.{contract.name}")
        for ignored in result.ignored:
            context.log.warning(f"not loaded: {ignored.path}: {ignored.reason}")
        metadata = {
            "files_loaded": result.loaded_files,
            "files_skipped": result.skipped_files,
            "files_failed": result.failed_files,
            "rows_inserted": result.total("inserted"),
            "rows_updated": result.total("updated"),
            "rows_unchanged": result.total("unchanged"),
            "rows_rejected": result.total("rejected"),
            "table_rows": int(total_rows),
            "rejected_rows": MetadataValue.md(
                f"`select * from {settings.AUDIT_SCHEMA}.rejected_rows "
                f"where source_table = '{contract.schema}.{contract.name}'`"),
        }
        if result.ignored:
            metadata["not_loaded"] = MetadataValue.md("\n".join(f"- `{i.path}`: {i.reason}" for i in result.ignored))
        if result.errors:
            reason = f"{len(result.errors)} file(s) failed to load: " + "; ".join(result.errors)
            with warehouse.connect() as conn:
                publishing.hold_back(conn, context.run.run_id, f"load {contract.key}", reason)
            raise Failure(description=reason, metadata=metadata)
        check_results = [checks.raw_check_result(warehouse.info(), context.run.run_id, suite)] if suite else []
        return MaterializeResult(metadata=metadata, check_results=check_results)

    return load_raw_table


landing_specs = [_landing_spec(c) for c in contracts.all_contracts()]
raw_assets = [_raw_asset(c) for c in contracts.all_contracts()]
