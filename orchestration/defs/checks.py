"""Great Expectations suites (`expectations/*.json`) run as blocking Dagster asset checks.

Each suite is GX 1.x ExpectationSuite JSON plus `meta`:

* `asset_key`: the Dagster asset the suite checks (raw assets are `[source, table]`, dbt models
  `[schema, model]` as dagster-dbt names them);
* `table`: `schema.table` in the warehouse;
* `primary_key`: the column used to fetch sample offending rows, or null for tables without one
  (then the samples are the first rows of the table).

`validate_suite` runs a suite against the real table with an ephemeral GX context and returns a
plain `ValidationOutcome`. Every suite is a blocking check, in one of two ways:

* a suite on a raw table runs inside that raw asset's step (`raw_check_spec`, `raw_check_result`):
  when it fails, the step fails after loading, so nothing downstream of it runs in that run, the
  dbt build included. (A separate blocking `@asset_check` cannot do that: the dbt multi-asset runs
  dbt's source tests as checks on the raw assets, and Dagster exempts an asset that checks an
  upstream asset itself from that asset's other blocking checks, so dbt used to build anyway.)
* a suite on a dbt model is a blocking `@asset_check` (`build_asset_checks`) that validates the
  model's audited build in its shadow schema (`marts__build.fct_bot_leads`, see
  orchestration/publishing.py) before anything is published; a failure holds the publication back.

A failure is recorded as what held new data back (`publishing.hold_back`). GX and Dagster are
imported inside the functions: importing this module is cheap.
"""

import json
import os
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration import publishing, settings, warehouse
from orchestration.warehouse import ConnectionInfo, first_line

if TYPE_CHECKING:
    from dagster import AssetCheckResult, AssetChecksDefinition, AssetCheckSpec

EXPECTATIONS_DIR = settings.PROJECT_ROOT / "expectations"
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold."""

    type: str
    column: str | None  # "a, b" for column-pair expectations; None for table-level ones
    unexpected_count: int | None  # None for table-level expectations and errors
    unexpected_values: list[Any] = field(default_factory=list)  # a partial list, as GX reports it
    observed_value: Any = None  # table-level expectations (row counts)
    error: str | None = None  # the expectation could not be evaluated (e.g. a missing column)

    def describe(self) -> str:
        text = self.type + (f"({self.column})" if self.column else "")
        if self.error:
            return f"{text}: error: {self.error}"
        if self.unexpected_count is not None:
            return f"{text}: {self.unexpected_count} unexpected, e.g. {[_plain(v) for v in self.unexpected_values[:5]]}"
        return f"{text}: observed {self.observed_value!r}"


@dataclass(frozen=True)
class ValidationOutcome:
    """The result of one suite against one table, as plain data."""

    suite: str
    table: str
    passed: bool
    evaluated: int
    failures: list[FailedExpectation]
    sample_rows: list[dict[str, Any]]  # up to SAMPLE_ROWS offending rows, whole rows


def suite_paths(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def load_suite(path: Path) -> dict:
    """The suite JSON, checked for the `meta` keys this module needs."""
    with Path(path).open() as f:
        doc = json.load(f)
    meta = doc.get("meta") or {}
    missing = [k for k in ("asset_key", "table") if not meta.get(k)]
    if missing or "." not in meta.get("table", ""):
        raise ValueError(f"{path}: meta needs asset_key and table (schema.table); missing {missing}")
    return doc


def _column_of(kwargs: dict) -> str | None:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return None


def _failure(result) -> FailedExpectation:
    config = result.expectation_config
    details = result.result or {}
    error = None
    if not details:  # GX puts evaluation errors in exception_info, keyed by metric or flat
        info = result.exception_info or {}
        infos = [info] if "exception_message" in info else list(info.values())
        messages = sorted({i.get("exception_message") for i in infos if i.get("exception_message")})
        error = "; ".join(messages) or "no result"
    return FailedExpectation(
        type=config.type,
        column=_column_of(config.kwargs),
        unexpected_count=details.get("unexpected_count"),
        unexpected_values=list(details.get("partial_unexpected_list") or []),
        observed_value=details.get("observed_value"),
        error=error,
    )


def _plain(value: Any) -> Any:
    """JSON-friendly values for metadata: decimals as floats, times as ISO strings."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


def _sample_rows(
    info: ConnectionInfo, table: str, primary_key: str | None, failures: list[FailedExpectation], results: list
) -> list[dict[str, Any]]:
    """Up to SAMPLE_ROWS offending rows: by primary key (from GX's unexpected index list), else by
    the unexpected values of single-column expectations, else the table's first rows."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    schema, name = table.split(".", 1)
    relation = sql.Identifier(schema, name)
    queries: list[tuple[sql.Composable, list]] = []
    if primary_key:
        keys: list[Any] = []
        for result in results:
            for index in (result.result or {}).get("partial_unexpected_index_list") or []:
                if isinstance(index, dict) and index.get(primary_key) not in keys:
                    keys.append(index.get(primary_key))
        present = [k for k in keys if k is not None]
        if present:
            queries.append(
                (
                    sql.SQL("select * from {} where {}::text = any(%s) order by {} limit %s").format(
                        relation, sql.Identifier(primary_key), sql.Identifier(primary_key)
                    ),
                    [[str(k) for k in present], SAMPLE_ROWS],
                )
            )
        if None in keys:
            queries.append(
                (
                    sql.SQL("select * from {} where {} is null limit %s").format(relation, sql.Identifier(primary_key)),
                    [SAMPLE_ROWS],
                )
            )
    if not queries:
        for failure in failures:
            if failure.column and "," not in failure.column and failure.unexpected_values:
                values = [str(v) for v in failure.unexpected_values if v is not None][:50]
                queries.append(
                    (
                        sql.SQL("select * from {} where {}::text = any(%s) or ({} is null and %s) limit %s").format(
                            relation, sql.Identifier(failure.column), sql.Identifier(failure.column)
                        ),
                        [values, None in failure.unexpected_values, SAMPLE_ROWS],
                    )
                )
    if not queries:
        queries.append((sql.SQL("select * from {} limit %s").format(relation), [SAMPLE_ROWS]))

    rows: list[dict[str, Any]] = []
    with psycopg.connect(info.conninfo(), connect_timeout=10, row_factory=dict_row) as conn:
        for query, params in queries:
            for row in conn.execute(query, params).fetchall():
                plain = {k: _plain(v) for k, v in row.items()}
                if plain not in rows and len(rows) < SAMPLE_ROWS:
                    rows.append(plain)
    return rows


def validate_suite(info: ConnectionInfo, suite_path: Path, table: str | None = None) -> ValidationOutcome:
    """Run one suite against its whole table (or `table`, `schema.name`, e.g. the audited build of
    the suite's table) in the warehouse `info` points at."""
    doc = load_suite(suite_path)
    meta = doc["meta"]
    relation = table or meta["table"]
    schema, table = relation.split(".", 1)
    primary_key = meta.get("primary_key")

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres(name="warehouse", connection_string=info.sqlalchemy_url())
    try:
        with warnings.catch_warnings():
            # GX 1.x deprecates schema_name in favour of a per-datasource schema; one datasource
            # serves raw and marts tables here, so the table asset names its schema.
            warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
            asset = source.add_table_asset(name=relation, table_name=table, schema_name=schema)
        batch = asset.add_batch_definition_whole_table("whole_table").get_batch()
        suite = gx.ExpectationSuite(name=doc["name"], expectations=doc["expectations"])
        result_format: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
        if primary_key:
            result_format["unexpected_index_column_names"] = [primary_key]
        validation = batch.validate(suite, result_format=result_format)
    finally:
        source.get_engine().dispose()

    failed = [r for r in validation.results if not r.success]
    failures = [_failure(r) for r in failed]
    samples = _sample_rows(info, relation, primary_key, failures, failed) if failed else []
    return ValidationOutcome(
        suite=doc["name"],
        table=relation,
        passed=bool(validation.success),
        evaluated=len(validation.results),
        failures=failures,
        sample_rows=samples,
    )


def _md_cell(value: Any) -> str:
    return "∅" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def sample_rows_markdown(outcome: ValidationOutcome, primary_key: str | None) -> str:
    """The sample rows as a markdown table, limited to the key and the failing columns (the raw
    table carries names, emails and phones; the check's metadata should not)."""
    if not outcome.sample_rows:
        return "_no row-level samples (table-level expectation)_"
    available = list(outcome.sample_rows[0])
    wanted = {primary_key} if primary_key else set()
    for failure in outcome.failures:
        wanted.update(c.strip() for c in (failure.column or "").split(",") if c.strip())
    columns = [c for c in available if c in wanted] or available
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(row.get(c)) for c in columns) + " |" for row in outcome.sample_rows]
    return "\n".join(lines)


def summary(outcome: ValidationOutcome) -> str:
    """One line: how many expectations failed where, and the first of them."""
    first = outcome.failures[0].describe() if outcome.failures else ""
    return f"{len(outcome.failures)} of {outcome.evaluated} expectations failed on {outcome.table}" + (
        f" ({first}{'; ...' if len(outcome.failures) > 1 else ''})" if first else ""
    )


def check_name(suite_path: Path) -> str:
    return f"gx_{suite_path.stem}"


def _check_result(
    outcome: ValidationOutcome, suite_path: Path, primary_key: str | None, asset_key: "list[str] | None" = None
) -> "AssetCheckResult":
    from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MetadataValue

    failed = "\n".join(f.describe() for f in outcome.failures) or "none"
    counts = {f"{f.type}({f.column or ''})": f.unexpected_count for f in outcome.failures}
    return AssetCheckResult(
        passed=outcome.passed,
        asset_key=AssetKey(asset_key) if asset_key else None,
        check_name=check_name(suite_path) if asset_key else None,
        severity=AssetCheckSeverity.ERROR,
        description=None if outcome.passed else summary(outcome),
        metadata={
            "failed_expectations": MetadataValue.text(failed),
            "unexpected_counts": MetadataValue.json(counts),
            "sample_offending_rows": MetadataValue.md(sample_rows_markdown(outcome, primary_key)),
            "suite": MetadataValue.path(str(suite_path)),
            "table": outcome.table,
            "expectations_evaluated": outcome.evaluated,
        },
    )


def _raw_asset_keys() -> set[tuple[str, ...]]:
    from orchestration.ingestion import contracts

    return {(c.source, c.name) for c in contracts.all_contracts()}


def raw_suite(asset_key: "list[str]", directory: Path = EXPECTATIONS_DIR) -> Path | None:
    """The suite on the raw table with this asset key, if any (at most one per raw table)."""
    for path in suite_paths(directory):
        if list(load_suite(path)["meta"]["asset_key"]) == list(asset_key):
            return path
    return None


def raw_check_spec(suite_path: Path) -> "AssetCheckSpec":
    """The blocking check a raw asset declares and runs in its own step (see the module docstring)."""
    from dagster import AssetCheckSpec, AssetKey

    doc = load_suite(suite_path)
    return AssetCheckSpec(
        name=check_name(suite_path),
        asset=AssetKey(doc["meta"]["asset_key"]),
        blocking=True,
        description=f"Great Expectations suite {suite_path.name} on {doc['meta']['table']} "
        f"({len(doc['expectations'])} expectations), run right after loading; when it fails, "
        "nothing downstream runs (the dbt build included) and nothing new is published.",
    )


def _validate_or_hold_back(
    info: ConnectionInfo, run_id: str, suite_path: Path, table: str | None = None
) -> ValidationOutcome:
    """Validate; a failed suite, or one that cannot run, is recorded as what held new data back."""
    try:
        outcome = validate_suite(info, suite_path, table=table)
    except Exception as exc:
        with warehouse.connect(info) as conn:
            publishing.hold_back(
                conn,
                run_id,
                f"check {check_name(suite_path)}",
                f"could not run: {type(exc).__name__}: {first_line(exc)}",
            )
        raise
    if not outcome.passed:
        with warehouse.connect(info) as conn:
            publishing.hold_back(conn, run_id, f"check {check_name(suite_path)}", summary(outcome))
    return outcome


def raw_check_result(info: ConnectionInfo, run_id: str, suite_path: Path) -> "AssetCheckResult":
    doc = load_suite(suite_path)
    outcome = _validate_or_hold_back(info, run_id, suite_path)
    return _check_result(outcome, suite_path, doc["meta"].get("primary_key"), doc["meta"]["asset_key"])


def _gx_asset_check(suite_path: Path) -> "AssetChecksDefinition":
    from dagster import AssetCheckExecutionContext, AssetKey, asset_check

    from orchestration.defs.resources import WarehouseResource

    doc = load_suite(suite_path)
    meta = doc["meta"]
    audited = publishing.build_relation(meta["table"])

    @asset_check(
        asset=AssetKey(meta["asset_key"]),
        name=check_name(suite_path),
        blocking=True,
        description=f"Great Expectations suite {suite_path.name} on the audited build {audited} of "
        f"{meta['table']} ({len(doc['expectations'])} expectations); when it fails, nothing is "
        "published and the dashboards keep the previous marts.",
    )
    def gx_suite_check(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        outcome = _validate_or_hold_back(warehouse.info(), context.run.run_id, suite_path, table=audited)
        return _check_result(outcome, suite_path, meta.get("primary_key"))

    return gx_suite_check


def build_asset_checks(directory: Path = EXPECTATIONS_DIR) -> "list[AssetChecksDefinition]":
    """One blocking `AssetChecksDefinition` per suite in `directory` on a dbt model (suites on raw
    tables run inside the raw assets instead)."""
    raw = _raw_asset_keys()
    return [
        _gx_asset_check(path)
        for path in suite_paths(directory)
        if tuple(load_suite(path)["meta"]["asset_key"]) not in raw
    ]
