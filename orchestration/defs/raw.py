"""Landing files and raw tables: one asset per raw table, grouped by source.

Landing files are external assets (vendors write them; `lead-analytics generate` writes synthetic
ones). Each raw asset loads the new files of its table with `orchestration.ingestion.loaders` and reports
loaded and rejected counts in its metadata. Raw asset keys are `[source, table]`, the keys
dagster-dbt gives the matching dbt sources, so lineage runs on into the staging models.
"""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, Failure, MetadataValue, asset

from orchestration import settings
from orchestration.ingestion import contracts, loaders
from orchestration.ingestion.contracts import TableContract
from orchestration.defs.resources import WarehouseResource


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
    @asset(
        key=raw_key(contract),
        deps=[landing_key(contract)],
        group_name=f"raw_{contract.source}",
        description=contract.description,
        kinds={"postgres"},
        metadata={"table": f"{contract.schema}.{contract.name}",
                  "natural_key": ", ".join(contract.natural_key)},
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
            f"{result.loaded_files} new files ({result.skipped_files} already loaded): "
            f"{result.total('inserted'):,} inserted, {result.total('updated'):,} updated, "
            f"{result.total('rejected'):,} rejected; {total_rows:,} rows in {contract.schema}.{contract.name}")
        metadata = {
            "files_loaded": result.loaded_files,
            "files_skipped": result.skipped_files,
            "rows_inserted": result.total("inserted"),
            "rows_updated": result.total("updated"),
            "rows_unchanged": result.total("unchanged"),
            "rows_rejected": result.total("rejected"),
            "table_rows": int(total_rows),
            "rejected_rows": MetadataValue.md(
                f"`select * from {settings.AUDIT_SCHEMA}.rejected_rows "
                f"where source_table = '{contract.schema}.{contract.name}'`"),
        }
        if result.errors:
            raise Failure(description="; ".join(result.errors), metadata=metadata)
        context.add_output_metadata(metadata)

    return load_raw_table


landing_specs = [_landing_spec(c) for c in contracts.all_contracts()]
raw_assets = [_raw_asset(c) for c in contracts.all_contracts()]
