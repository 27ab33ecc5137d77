"""Loads landing files (vendor CSV and JSON-lines exports) into the raw schemas at COPY speed.

For each file, in one transaction (a file loads whole or not at all):

1. skip it if the ledger (`raw_audit.loaded_files`) already holds this path with this content hash;
2. check its columns against the table's contract (a mismatch fails the file, naming the columns);
3. parse every value as text and validate it against the column's type with vectorised pyarrow
   kernels; rows with an unparseable value, a missing key or required value, the wrong type or a
   broken line go to `raw_audit.rejected_rows` with file, line, raw text and reason;
4. COPY the valid rows into a temporary table and upsert them into the raw table by natural key: a
   new key is inserted, a changed record replaces the stored version (never an older version over a
   newer one where the table has a version column), an identical record changes nothing;
5. record the file in the ledger with its counts.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from orchestration import settings
from orchestration.ingestion import contracts
from orchestration.ingestion.contracts import TableContract


class ContractError(ValueError):
    """A landing file whose columns do not match its table's contract."""


@dataclass
class FileLoadResult:
    file: str
    status: str  # "loaded" or "skipped" (already loaded with identical content)
    rows_in_file: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0


@dataclass
class TableLoadResult:
    table: str
    files: list[FileLoadResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def loaded_files(self) -> int:
        return sum(1 for f in self.files if f.status == "loaded")

    @property
    def skipped_files(self) -> int:
        return sum(1 for f in self.files if f.status == "skipped")


@dataclass
class _Parsed:
    """A file parsed to text columns in contract order, plus the rows already rejected while parsing."""

    table: pa.Table  # string columns, contract order
    lines: pa.Array  # int32 physical line number of each row
    rejects: list[tuple[int, str, str]]  # (line, raw text, reason)
    raw_lines: Callable[[], list[bytes]] | None  # physical lines of the file, for rejected-row text


# --------------------------------------------------------------------------- DDL

_PG_TYPES = {"text": "text", "integer": "integer", "bigint": "bigint", "numeric": "numeric",
             "boolean": "boolean", "timestamptz": "timestamptz", "date": "date", "jsonb": "jsonb"}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_schemas(conn) -> None:
    """Create every raw schema, the audit schema and the raw tables (idempotent; adds new contract
    columns to existing tables)."""
    with conn.cursor() as cur:
        for schema in [*contracts.raw_schemas(), settings.AUDIT_SCHEMA]:
            cur.execute(f"create schema if not exists {_ident(schema)}")
        audit = _ident(settings.AUDIT_SCHEMA)
        cur.execute(f"""
            create table if not exists {audit}.loaded_files (
                file_path text primary key,
                source_table text not null,
                sha256 text not null,
                rows_in_file integer not null,
                inserted integer not null,
                updated integer not null,
                unchanged integer not null,
                rejected integer not null,
                duration_ms integer not null,
                loaded_at timestamptz not null default now()
            )""")
        cur.execute(f"""
            create table if not exists {audit}.rejected_rows (
                source_table text not null,
                file_path text not null,
                line_number integer not null,
                raw_text text,
                reason text not null,
                rejected_at timestamptz not null default now(),
                primary key (file_path, line_number)
            )""")
        for contract in contracts.all_contracts():
            cols = []
            for c in contract.columns:
                if c.generated:
                    cols.append(f"{_ident(c.name)} {_PG_TYPES[c.data_type]} generated always as ({c.generated}) stored")
                else:
                    cols.append(f"{_ident(c.name)} {_PG_TYPES[c.data_type]}")
            cols += ["_source_file text not null", "_source_line integer", "_loaded_at timestamptz not null"]
            key = ", ".join(_ident(k) for k in contract.natural_key)
            cur.execute(f"create table if not exists {contract.qualified_name} ({', '.join(cols)}, primary key ({key}))")
            for c in contract.loadable_columns:
                cur.execute(f"alter table {contract.qualified_name} add column if not exists "
                            f"{_ident(c.name)} {_PG_TYPES[c.data_type]}")
    conn.commit()


# --------------------------------------------------------------------------- parsing

def _check_columns(contract: TableContract, found: Iterable[str], rel: str) -> None:
    expected = [c.name for c in contract.loadable_columns]
    found = list(found)
    missing = [c for c in expected if c not in found]
    unexpected = [c for c in found if c not in expected]
    duplicated = sorted({c for c in found if found.count(c) > 1})
    if missing or unexpected or duplicated:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected)}")
        if duplicated:
            parts.append(f"duplicated {', '.join(duplicated)}")
        raise ContractError(f"{rel}: columns do not match {contract.schema}.{contract.name}: {'; '.join(parts)}")


def _parse_csv(contract: TableContract, data: bytes, rel: str) -> _Parsed:
    header_line = data.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    header = next(csv.reader([header_line])) if header_line else []
    _check_columns(contract, header, rel)
    rejects: list[tuple[int, str, str]] = []

    def on_invalid(row) -> str:
        rejects.append((row.number, row.text,
                        f"broken line: expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    table = pa_csv.read_csv(
        io.BytesIO(data),
        read_options=pa_csv.ReadOptions(use_threads=False),  # single-threaded: exact row numbers
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(column_types={c: pa.string() for c in header},
                                              strings_can_be_null=True, null_values=[""],
                                              quoted_strings_can_be_null=True),
    )
    table = table.select([c.name for c in contract.loadable_columns])
    n_physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if n_physical == table.num_rows + len(rejects) + 1:
        # No value spans lines: a row's line is its position among the lines not rejected.
        bad = {line for line, _, _ in rejects}
        lines = pa.array([n for n in range(2, n_physical + 1) if n not in bad], pa.int32())
    else:
        # Values with embedded newlines: report record numbers (header = 1), as pyarrow counts them.
        lines = pa.array(range(2, table.num_rows + 2), pa.int32())
    return _Parsed(table, lines, rejects, lambda: data.split(b"\n"))


def _json_value_to_text(value, data_type: str) -> str | None:
    if value is None:
        return None
    if data_type == "jsonb":
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)  # wrong type: the validator rejects it
    return str(value)


def _parse_jsonl_fast(contract: TableContract, data: bytes, rel: str) -> _Parsed | None:
    """pyarrow's JSON reader; None when the file needs the line-by-line path (a broken line,
    a value of the wrong JSON type, a nested column, or blank lines)."""
    if any(c.data_type == "jsonb" for c in contract.loadable_columns):
        return None
    try:
        first_keys = list(json.loads(data.split(b"\n", 1)[0]).keys())
    except (ValueError, AttributeError):
        return None
    text_cols = [c.name for c in contract.loadable_columns if c.data_type in ("text", "timestamptz", "date")]
    try:
        table = pa_json.read_json(io.BytesIO(data), parse_options=pa_json.ParseOptions(
            explicit_schema=pa.schema([(c, pa.string()) for c in text_cols]),
            unexpected_field_behavior="infer"))
    except pa.ArrowInvalid:
        return None
    lines_in_file = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if table.num_rows != lines_in_file or table.num_rows == 0:
        return None
    # Exports carry every key on every line (null when empty), so the first line names the columns.
    _check_columns(contract, first_keys, rel)
    columns = {}
    for c in contract.loadable_columns:
        col = table.column(c.name)
        if pa.types.is_struct(col.type) or pa.types.is_list(col.type):
            return None
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "true", "false")
        columns[c.name] = pc.cast(col, pa.string())
    return _Parsed(pa.table(columns), pa.array(range(1, table.num_rows + 1), pa.int32()), [],
                   lambda: data.split(b"\n"))


def _parse_jsonl_slow(contract: TableContract, data: bytes, rel: str) -> _Parsed:
    names = [c.name for c in contract.loadable_columns]
    types = {c.name: c.data_type for c in contract.loadable_columns}
    values: dict[str, list] = {n: [] for n in names}
    lines: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    seen_keys: set[str] = set()
    raw_lines = data.split(b"\n")
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            rejects.append((number, raw.decode("utf-8", "replace"), f"unparseable JSON line: {exc}"))
            continue
        seen_keys.update(record)
        for n in names:
            values[n].append(_json_value_to_text(record.get(n), types[n]))
        lines.append(number)
    if seen_keys:
        _check_columns(contract, [k for k in names if k in seen_keys] + sorted(seen_keys - set(names)), rel)
    table = pa.table({n: pa.array(values[n], pa.string()) for n in names})
    return _Parsed(table, pa.array(lines, pa.int32()), rejects, lambda: raw_lines)


# --------------------------------------------------------------------------- validation

_INT_RE = r"^[+-]?\d{1,19}$"
_NUM_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_BOOL_VALUES = pa.array(["true", "false", "t", "f", "1", "0", "yes", "no", "y", "n"])
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
_TS_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$"
_INT_BOUNDS = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}


def _real_calendar_value(col: pa.Array, width: int, fmt: str) -> pa.Array:
    """True where the first `width` characters are a real date/time (strptime is lenient about
    2024-02-30, so format it back and compare)."""
    head = pc.utf8_slice_codeunits(pc.replace_substring(col, "T", " ", max_replacements=1), 0, width)
    parsed = pc.strptime(head, format=fmt, unit="s", error_is_null=True)
    return pc.fill_null(pc.equal(pc.strftime(parsed, format=fmt), head), False)


def _invalid_mask(col: pa.Array, data_type: str) -> pa.Array:
    """True where a non-null text value is not a valid literal of `data_type`."""
    if data_type == "text":
        return pa.array([False] * len(col))
    if data_type in ("integer", "bigint"):
        ok = pc.match_substring_regex(col, _INT_RE)
        lo, hi = _INT_BOUNDS[data_type]
        as_float = pc.cast(pc.if_else(ok, col, pa.scalar(None, pa.string())), pa.float64())  # range check; precision is irrelevant here
        ok = pc.and_(ok, pc.and_(pc.greater_equal(as_float, float(lo)), pc.less_equal(as_float, float(hi))))
    elif data_type == "numeric":
        ok = pc.match_substring_regex(col, _NUM_RE)
    elif data_type == "boolean":
        ok = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(col)), value_set=_BOOL_VALUES)
    elif data_type == "date":
        ok = pc.and_(pc.match_substring_regex(col, _DATE_RE), _real_calendar_value(col, 10, "%Y-%m-%d"))
    elif data_type == "timestamptz":
        ok = pc.and_(pc.match_substring_regex(col, _TS_RE), _real_calendar_value(col, 19, "%Y-%m-%d %H:%M:%S"))
    elif data_type == "jsonb":
        ok = pa.array([_is_json_object(v) for v in col.to_pylist()])
    else:  # pragma: no cover - contracts reject unknown types
        raise ValueError(data_type)
    return pc.fill_null(pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(ok, False))), False)


def _is_json_object(value: str | None) -> bool:
    if value is None:
        return True
    try:
        return isinstance(json.loads(value), (dict, list))
    except ValueError:
        return False


def _validate(contract: TableContract, parsed: _Parsed) -> tuple[pa.Table, pa.Array, list[tuple[int, int, str]]]:
    """Split parsed rows into valid ones and (row index, line, reason) rejects."""
    table = parsed.table.combine_chunks()
    n = table.num_rows
    reason = pa.nulls(n, pa.string())
    for c in contract.loadable_columns:
        col = table.column(c.name).combine_chunks()
        if c.required:
            what = "missing key" if c.name in contract.natural_key else "missing required value"
            reason = pc.if_else(pc.and_(pc.is_null(reason), pc.is_null(col)), f"{what} {c.name}", reason)
        bad = _invalid_mask(col, c.data_type)
        if pc.any(bad).as_py():
            msg = pc.binary_join_element_wise(f"invalid {c.data_type} in {c.name}: '",
                                              pc.utf8_slice_codeunits(col, 0, 60), "'", "")
            reason = pc.if_else(pc.and_(pc.is_null(reason), bad), msg, reason)
    is_bad = pc.is_valid(reason)
    rejects = []
    if pc.any(is_bad).as_py():
        idx = pc.indices_nonzero(is_bad).to_pylist()
        reasons = pc.filter(reason, is_bad).to_pylist()
        lines = pc.filter(parsed.lines, is_bad).to_pylist()
        rejects = list(zip(idx, lines, reasons))
        keep = pc.invert(is_bad)
        return table.filter(keep), pc.filter(parsed.lines, keep), rejects
    return table, parsed.lines, rejects


def _latest_per_key(contract: TableContract, table: pa.Table, lines: pa.Array) -> tuple[pa.Table, pa.Array]:
    """Within one file, keep one row per natural key: the latest version, else the last line."""
    table = table.append_column("_source_line", lines)
    table = table.append_column("_pos", pa.array(range(table.num_rows), pa.int64()))
    sort = [(k, "ascending") for k in contract.natural_key]
    if contract.version_column:
        # ISO-8601 UTC text sorts chronologically
        sort.append((contract.version_column, "descending"))
    sort.append(("_pos", "descending"))
    ordered = table.sort_by(sort)
    keys = [ordered.column(k) for k in contract.natural_key]
    if ordered.num_rows == 0:
        return table.drop_columns(["_pos"]), lines
    first = pa.array([True] + [False] * (ordered.num_rows - 1))
    same_as_prev = None
    for k in keys:
        k = k.combine_chunks()
        prev = pa.concat_arrays([pa.nulls(1, k.type), k.slice(0, len(k) - 1)])
        eq = pc.fill_null(pc.equal(k, prev), False)
        same_as_prev = eq if same_as_prev is None else pc.and_(same_as_prev, eq)
    keep = pc.or_(first, pc.invert(same_as_prev))
    if pc.all(keep).as_py():
        return table.drop_columns(["_pos"]), lines
    deduped = ordered.filter(keep).sort_by([("_pos", "ascending")]).drop_columns(["_pos"])
    return deduped, deduped.column("_source_line")


# --------------------------------------------------------------------------- writing

def _copy_csv(cur, target: str, columns: list[str], payload: bytes) -> None:
    cols = ", ".join(_ident(c) for c in columns)
    with cur.copy(f"copy {target} ({cols}) from stdin (format csv)") as copy:
        step = 1 << 20
        view = memoryview(payload)
        for start in range(0, len(view), step):
            copy.write(view[start:start + step])


def _upsert(cur, contract: TableContract, rel: str) -> tuple[int, int]:
    """Move the staged rows into the raw table; returns (inserted, updated)."""
    names = [c.name for c in contract.loadable_columns]
    cols = ", ".join(_ident(c) for c in names)
    key = ", ".join(_ident(k) for k in contract.natural_key)
    non_key = [c for c in names if c not in contract.natural_key]
    target = contract.qualified_name
    sets = ", ".join(f"{_ident(c)} = excluded.{_ident(c)}" for c in [*non_key, "_source_file", "_source_line", "_loaded_at"])
    changed = (f"({', '.join(f'{target}.{_ident(c)}' for c in non_key)}) is distinct from "
               f"({', '.join(f'excluded.{_ident(c)}' for c in non_key)})") if non_key else "false"
    if contract.version_column:
        v = _ident(contract.version_column)
        changed = f"{changed} and {target}.{v} <= excluded.{v}"
    cur.execute(
        f"""with written as (
                insert into {target} ({cols}, _source_file, _source_line, _loaded_at)
                select {cols}, %(file)s, _source_line, now() from _incoming
                on conflict ({key}) do update set {sets} where {changed}
                returning (xmax = 0) as inserted
            )
            select count(*) filter (where inserted), count(*) filter (where not inserted) from written""",
        {"file": rel})
    inserted, updated = cur.fetchone()
    return int(inserted), int(updated)


# --------------------------------------------------------------------------- public API

def landing_files(contract: TableContract, landing_root: Path) -> list[Path]:
    folder = landing_root / contract.landing_path
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == f".{contract.file_format}")


@dataclass
class _PreparedFile:
    """A landing file parsed, validated and serialised for COPY: everything that needs no database."""

    rel: str
    digest: str
    started: float
    rows_in_file: int = 0
    n_valid: int = 0  # valid rows before keeping one per key (superseded rows count as unchanged)
    columns: list[str] = field(default_factory=list)
    payload: bytes = b""  # the rows to stage, as headerless CSV
    rejects: list[tuple[int, str | None, str]] = field(default_factory=list)


def _prepare(contract: TableContract, rel: str, data: bytes, digest: str, started: float) -> _PreparedFile:
    if contract.file_format == "csv":
        parsed = _parse_csv(contract, data, rel)
    else:
        parsed = _parse_jsonl_fast(contract, data, rel) or _parse_jsonl_slow(contract, data, rel)
    valid, lines, value_rejects = _validate(contract, parsed)
    n_valid = valid.num_rows
    valid, lines = _latest_per_key(contract, valid, lines)

    rejects = list(parsed.rejects)
    if value_rejects:
        raw_lines = parsed.raw_lines() if parsed.raw_lines else []
        for _, line, reason in value_rejects:
            text = raw_lines[line - 1].decode("utf-8", "replace").rstrip("\r") if 0 < line <= len(raw_lines) else None
            rejects.append((line, text, reason))
    sink = io.BytesIO()
    pa_csv.write_csv(valid, sink, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return _PreparedFile(rel, digest, started, parsed.table.num_rows + len(parsed.rejects), n_valid,
                         valid.column_names, sink.getvalue(), rejects)


def _write(conn, contract: TableContract, prepared: _PreparedFile) -> FileLoadResult:
    """Stage and upsert a prepared file, its rejected rows and its ledger entry in one transaction."""
    rel = prepared.rel
    audit = _ident(settings.AUDIT_SCHEMA)
    with conn.transaction():
        cur = conn.cursor()
        # Serialise loads of one table (a sensor run and a manual run must not interleave).
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (contract.key,))
        cur.execute(f"select sha256 from {audit}.loaded_files where file_path = %s", (rel,))
        row = cur.fetchone()
        if row and row[0] == prepared.digest:
            return FileLoadResult(rel, "skipped", seconds=time.perf_counter() - prepared.started)

        # A crash can lose only the last few commits, ledger entry and rows together, so the next
        # run reloads those files: per-file durability is not needed here, and it costs an fsync.
        staged_cols = ", ".join(f"{_ident(c.name)} {_PG_TYPES[c.data_type]}" for c in contract.loadable_columns)
        cur.execute(f"set local synchronous_commit = off; set local time zone 'UTC'; "  # one round trip
                    f"create temp table _incoming ({staged_cols}, _source_line integer) on commit drop")
        _copy_csv(cur, "_incoming", prepared.columns, prepared.payload)
        inserted, updated = _upsert(cur, contract, rel)

        if row:  # a changed file replaces its earlier rejects
            cur.execute(f"delete from {audit}.rejected_rows where file_path = %s", (rel,))
        if prepared.rejects:
            with cur.copy(f"copy {audit}.rejected_rows (source_table, file_path, line_number, raw_text, reason) "
                          f"from stdin") as copy:
                for line, text, reason in prepared.rejects:
                    copy.write_row((f"{contract.schema}.{contract.name}", rel, line, text, reason))
        unchanged = prepared.n_valid - inserted - updated
        duration_ms = int((time.perf_counter() - prepared.started) * 1000)
        cur.execute(
            f"""insert into {audit}.loaded_files
                    (file_path, source_table, sha256, rows_in_file, inserted, updated, unchanged, rejected, duration_ms)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (file_path) do update set source_table = excluded.source_table, sha256 = excluded.sha256,
                    rows_in_file = excluded.rows_in_file, inserted = excluded.inserted, updated = excluded.updated,
                    unchanged = excluded.unchanged, rejected = excluded.rejected,
                    duration_ms = excluded.duration_ms, loaded_at = now()""",
            (rel, f"{contract.schema}.{contract.name}", prepared.digest, prepared.rows_in_file, inserted, updated,
             unchanged, len(prepared.rejects), duration_ms))
    return FileLoadResult(rel, "loaded", prepared.rows_in_file, inserted, updated, unchanged, len(prepared.rejects),
                          time.perf_counter() - prepared.started)


def load_file(conn, contract: TableContract, path: Path, landing_root: Path) -> FileLoadResult:
    """Load one landing file in a single transaction. Raises ContractError on a column mismatch."""
    started = time.perf_counter()
    rel = path.relative_to(landing_root).as_posix()
    data = path.read_bytes()
    return _write(conn, contract, _prepare(contract, rel, data, hashlib.sha256(data).hexdigest(), started))


def load_table(conn, contract: TableContract, landing_root: Path,
               progress: Callable[[FileLoadResult], None] | None = None) -> TableLoadResult:
    """Load every landing file of one raw table, oldest name first. A file that fails (contract
    mismatch) is recorded in `errors`; the other files still load.

    While the database writes one file, a worker thread parses and validates the next (pyarrow
    releases the GIL), so the client and server halves of a load overlap.
    """
    result = TableLoadResult(contract.key)
    audit = _ident(settings.AUDIT_SCHEMA)
    with conn.transaction():
        loaded = dict(conn.execute(f"select file_path, sha256 from {audit}.loaded_files where source_table = %s",
                                   (f"{contract.schema}.{contract.name}",)).fetchall())

    def prepare(path: Path) -> _PreparedFile | FileLoadResult:
        started = time.perf_counter()
        rel = path.relative_to(landing_root).as_posix()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if loaded.get(rel) == digest:  # checked again under the lock when writing
            return FileLoadResult(rel, "skipped", seconds=time.perf_counter() - started)
        return _prepare(contract, rel, data, digest, started)

    paths = landing_files(contract, landing_root)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prepare-{contract.key}") as pool:
        upcoming = pool.submit(prepare, paths[0]) if paths else None
        for index in range(len(paths)):
            current = upcoming
            upcoming = pool.submit(prepare, paths[index + 1]) if index + 1 < len(paths) else None
            try:
                prepared = current.result()
            except ContractError as exc:
                result.errors.append(str(exc))
                continue
            file_result = prepared if isinstance(prepared, FileLoadResult) else _write(conn, contract, prepared)
            result.files.append(file_result)
            if progress:
                progress(file_result)
    return result
