"""Landing files and raw tables: one asset per raw table, grouped by source.

Landing files are external assets (vendors write them; `lead-analytics generate` writes synthetic
ones). One step, `raw_tables`, holds every raw asset and loads the selected tables in parallel
(`Settings.load_parallelism` at a time, one connection each: Dagster runs the steps of an in-process
run one after another, so per-table steps could never overlap). For each table it loads the new files
with `orchestration.ingestion.loaders`, reports loaded, rejected and failed counts in its metadata and
then runs the table's Great Expectations suite, if it has one, in the same step: a failed suite (or a
failed file) fails the step, so the dbt build does not run and nothing new is published.
Raw asset keys are `[source, table]`, the keys dagster-dbt gives the matching dbt sources, so
lineage runs on into the staging models.
"""

from dagster import AssetExecutionContext, AssetKey, AssetSpec, Failure, MaterializeResult, MetadataValue, multi_asset

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


def _raw_spec(contract: TableContract) -> AssetSpec:
    return AssetSpec(
        key=raw_key(contract),
        deps=[landing_key(contract)],
        group_name=f"raw_{contract.source}",
        description=contract.description,
        kinds={"postgres"},
        metadata={"table": f"{contract.schema}.{contract.name}", "natural_key": ", ".join(contract.natural_key)},
        skippable=True,  # a subset run, or a table whose load failed, materializes only some
    )


def _table_metadata(contract: TableContract, result: loaders.TableLoadResult, total_rows: int) -> dict:
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
            f"where source_table = '{contract.schema}.{contract.name}'`"
        ),
    }
    if result.ignored:
        metadata["not_loaded"] = MetadataValue.md("\n".join(f"- `{i.path}`: {i.reason}" for i in result.ignored))
    return metadata


_CONTRACTS = list(contracts.all_contracts())
_SUITES = {c.key: checks.raw_suite([c.source, c.name]) for c in _CONTRACTS}


@multi_asset(
    name="raw_tables",
    specs=[_raw_spec(c) for c in _CONTRACTS],
    check_specs=[checks.raw_check_spec(suite) for suite in _SUITES.values() if suite],
    can_subset=True,
    description="Loads the new landing files of every selected raw table, `load_parallelism` tables at a time "
    "(one connection each), then runs each table's Great Expectations suite.",
)
def raw_tables(context: AssetExecutionContext, warehouse: WarehouseResource):
    selected = [c for c in _CONTRACTS if raw_key(c) in context.selected_asset_keys]
    info = warehouse.info()
    with warehouse.connect() as conn:
        loaders.ensure_schemas(conn)
    results = loaders.load_tables(
        info,
        selected,
        settings.landing_dir(),
        settings.current().load_parallelism,
        progress=lambda table, f: context.log.debug(
            f"{table}: {f.file}: {f.status}, {f.inserted} inserted, {f.updated} updated, "
            f"{f.unchanged} unchanged, {f.rejected} rejected ({f.seconds:.2f}s)"
        ),
    )
    failures: list[str] = []
    for contract, result in zip(selected, results, strict=False):
        with warehouse.connect() as conn:
            total_rows = conn.execute(f"select count(*) from {contract.qualified_name}").fetchone()[0]
        context.log.info(
            f"{contract.key}: {result.loaded_files} new files ({result.skipped_files} already loaded"
            f"{f', {result.failed_files} failed' if result.failed_files else ''}): "
            f"{result.total('inserted'):,} inserted, {result.total('updated'):,} updated, "
            f"{result.total('rejected'):,} rejected; {total_rows:,} rows in {contract.schema}.{contract.name}"
        )
        for ignored in result.ignored:
            context.log.warning(f"not loaded: {ignored.path}: {ignored.reason}")
        if result.errors:
            reason = f"{len(result.errors)} file(s) failed to load: " + "; ".join(result.errors)
            with warehouse.connect() as conn:
                publishing.hold_back(conn, context.run.run_id, f"load {contract.key}", reason)
            failures.append(reason)
            continue
        suite = _SUITES[contract.key]
        # Great Expectations runs one suite at a time, here, after the parallel loads.
        check_results = [checks.raw_check_result(info, context.run.run_id, suite)] if suite else []
        yield MaterializeResult(
            asset_key=raw_key(contract),
            metadata=_table_metadata(contract, result, total_rows),
            check_results=check_results,
        )
    if failures:
        raise Failure(description="; ".join(failures))


landing_specs = [_landing_spec(c) for c in contracts.all_contracts()]
raw_assets = [raw_tables]
