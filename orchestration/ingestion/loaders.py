"""Loads landing files (vendor CSV and JSON-lines exports) into the raw schemas with COPY.

For each file, in one transaction or in a savepoint of its own (a file loads whole or not at all):

1. skip it if the ledger (`raw_audit.loaded_files`, keyed by landing directory and path) already
   holds it as loaded with this content hash;
2. read it (`parsing`): a file that cannot be read, is not UTF-8, is an empty CSV or whose columns
   or keys do not match the contract fails as a whole, with a one-line reason in the ledger;
3. validate every value against its column's type as PostgreSQL would (`validation`); rows with a
   bad value, a missing or blank key, a missing required value or a broken line go to
   `raw_audit.rejected_rows` with file, line(s), raw text and reason;
4. write the valid rows (one per key) into the raw table by natural key: a new key is inserted, a
   changed record replaces the stored version (never a newer version by an older one, versions
   compared as instants; on equal versions the row read last wins), an identical record changes
   nothing. While a table's files bring only new keys they are COPYed straight into it; once a file
   meets a stored key (its COPY fails as a whole) that file and the table's later ones are COPYed
   into a temporary table and upserted (`_Route`, docs/DECISIONLOG.md D180). Should PostgreSQL
   still refuse a value, that row is rejected with PostgreSQL's message and the file is written
   again without it;
5. record the file in the ledger with its row counts and line counts: header + blank + loaded +
   rejected lines = the file's lines.

Steps 2-3 need no database: a worker thread prepares the next files of a table (parsed one by one,
validated together) while the database writes the current ones. `load_table` writes the files prepared
together in one transaction, a savepoint per file (`_write_group`, D195): a file that fails is rolled back
to its savepoint and recorded as failed, and the others commit together.

A failed file never stops the others: `load_table` goes on and lists it in `errors`. A table folder
that cannot be listed fails that table alone: one line in its `errors`, nothing in the ledger (there
is no file to record), and the caller goes on with the next table.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from orchestration import settings
from orchestration.ingestion import contracts, landing, validation
from orchestration.ingestion.contracts import TableContract
from orchestration.ingestion.parsing import ContractError, FileError, ParsedFile, Reject, parse
from orchestration.warehouse import WarehouseError, first_line

__all__ = [
    "ContractError",
    "FileError",
    "FileLoadResult",
    "TableLoadResult",
    "ensure_schemas",
    "landing_files",
    "load_file",
    "load_table",
    "load_tables",
]

MAX_REFUSED_ROWS = 20  # rows PostgreSQL refuses in one file before the whole file is failed instead


@dataclass
class FileLoadResult:
    file: str  # path relative to the landing directory
    status: str  # "loaded", "skipped" (already loaded with identical content) or "failed"
    rows_in_file: int = 0  # rows (records) = inserted + updated + unchanged + rejected
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # identical to the stored version, older than it, or superseded within the file
    rejected: int = 0
    lines_in_file: int = 0  # physical lines = header + blank + loaded + rejected lines
    header_lines: int = 0
    blank_lines: int = 0
    loaded_lines: int = 0
    rejected_lines: int = 0
    reason: str | None = None  # why a failed file failed (one line)
    seconds: float = 0.0


@dataclass
class TableLoadResult:
    table: str
    files: list[FileLoadResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per failed file
    ignored: list[landing.Ignored] = field(default_factory=list)  # entries of the folder not loaded, and why

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def loaded_files(self) -> int:
        return sum(1 for f in self.files if f.status == "loaded")

    @property
    def skipped_files(self) -> int:
        return sum(1 for f in self.files if f.status == "skipped")

    @property
    def failed_files(self) -> int:
        return sum(1 for f in self.files if f.status == "failed")


# --------------------------------------------------------------------------- DDL

_PG_TYPES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "numeric": "numeric",
    "boolean": "boolean",
    "timestamptz": "timestamptz",
    "date": "date",
    "jsonb": "jsonb",
}
_LEDGER_COUNTS = (
    "rows_in_file",
    "inserted",
    "updated",
    "unchanged",
    "rejected",
    "lines_in_file",
    "header_lines",
    "blank_lines",
    "loaded_lines",
    "rejected_lines",
)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _existing_columns(cur, schemas: list[str]) -> dict[tuple[str, str], set[str]]:
    cur.execute(
        "select table_schema, table_name, column_name from information_schema.columns where table_schema = any(%s)",
        (schemas,),
    )
    found: dict[tuple[str, str], set[str]] = {}
    for schema, table, column in cur.fetchall():
        found.setdefault((schema, table), set()).add(column)
    return found


def create_ledger(cur) -> None:
    """The load ledger, `raw_audit.loaded_files` (one row per landing file), when it is not there yet."""
    audit = _ident(settings.AUDIT_SCHEMA)
    counts = ", ".join(f"{c} integer not null default 0" for c in _LEDGER_COUNTS)
    cur.execute(f"create schema if not exists {audit}")
    cur.execute(f"""
        create table if not exists {audit}.loaded_files (
            landing_root text not null,
            file_path text not null,
            source_table text not null,
            status text not null default 'loaded' check (status in ('loaded', 'failed')),
            reason text,
            sha256 text,
            {counts},
            duration_ms integer not null default 0,
            loaded_at timestamptz not null default now(),
            primary key (landing_root, file_path)
        )""")


def ensure_schemas(conn, landing_root: Path | None = None) -> None:
    """Create every raw schema, the audit schema and the raw tables (idempotent; adds new contract
    columns to existing tables; upgrades an older ledger). Concurrent callers wait for each other.
    Only what is missing is created: every raw asset calls this, and DDL takes locks."""
    audit = _ident(settings.AUDIT_SCHEMA)
    schemas = [*contracts.raw_schemas(), settings.AUDIT_SCHEMA]
    with conn.transaction():
        cur = conn.cursor()
        existing = _existing_columns(cur, schemas)
        ledger_current = "rejected_lines" in existing.get(
            (settings.AUDIT_SCHEMA, "loaded_files"), set()
        ) and "line_count" in existing.get((settings.AUDIT_SCHEMA, "rejected_rows"), set())
        missing = [
            c
            for c in contracts.all_contracts()
            if not {x.name for x in c.loadable_columns} <= existing.get((c.schema, c.name), set())
        ]
        undated = _loaded_at_without_default(cur, schemas)
        if ledger_current and not missing and not undated:
            return
        cur.execute("select pg_advisory_xact_lock(hashtext('lead_analytics.ensure_schemas'))")
        existing = _existing_columns(cur, schemas)  # again, under the lock
        for schema in schemas:
            cur.execute(f"create schema if not exists {_ident(schema)}")
        create_ledger(cur)
        cur.execute(f"""
            create table if not exists {audit}.rejected_rows (
                source_table text not null,
                landing_root text not null,
                file_path text not null,
                line_number integer not null,
                line_count integer not null default 1,
                raw_text text,
                reason text not null,
                rejected_at timestamptz not null default now(),
                primary key (landing_root, file_path, line_number)
            )""")
        _upgrade_ledger(cur, str((landing_root or settings.landing_dir()).resolve()))
        for contract in contracts.all_contracts():
            have = existing.get((contract.schema, contract.name))
            if have is None:
                cols = []
                for c in contract.columns:
                    generated = f" generated always as ({c.generated}) stored" if c.generated else ""
                    cols.append(f"{_ident(c.name)} {_PG_TYPES[c.data_type]}{generated}")
                cols += [
                    "_source_file text not null",
                    "_source_line integer",
                    "_loaded_at timestamptz not null default now()",
                ]
                key = ", ".join(_ident(k) for k in contract.natural_key)
                cur.execute(f"create table {contract.qualified_name} ({', '.join(cols)}, primary key ({key}))")
                continue
            for c in contract.loadable_columns:
                if c.name not in have:  # a column added to the contract later
                    cur.execute(
                        f"alter table {contract.qualified_name} add column {_ident(c.name)} {_PG_TYPES[c.data_type]}"
                    )
        for schema, table in _loaded_at_without_default(cur, schemas):  # raw tables created before the default
            cur.execute(f"alter table {_ident(schema)}.{_ident(table)} alter column _loaded_at set default now()")


def _loaded_at_without_default(cur, schemas: list[str]) -> list[tuple[str, str]]:
    """Raw tables whose `_loaded_at` has no default (a direct COPY leaves the column out: it is the
    transaction's now(), as in the upsert and the ledger)."""
    cur.execute(
        "select table_schema, table_name from information_schema.columns where table_schema = any(%s) "
        "and column_name = '_loaded_at' and column_default is null",
        (schemas,),
    )
    raw = {(c.schema, c.name) for c in contracts.all_contracts()}
    return [(schema, table) for schema, table in cur.fetchall() if (schema, table) in raw]


def _upgrade_ledger(cur, landing_root: str) -> None:
    """Bring a ledger written before issue 6 (keyed by path alone) to the current shape. Its rows are
    taken to come from the landing directory in use now, the only one such a ledger could track."""
    audit = _ident(settings.AUDIT_SCHEMA)
    for table, key in (
        ("loaded_files", "landing_root, file_path"),
        ("rejected_rows", "landing_root, file_path, line_number"),
    ):
        cur.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = %s "
            "and column_name = 'landing_root'",
            (settings.AUDIT_SCHEMA, table),
        )
        if cur.fetchone():
            continue
        cur.execute(f"alter table {audit}.{table} add column landing_root text")
        cur.execute(f"update {audit}.{table} set landing_root = %s", (landing_root,))
        cur.execute(f"alter table {audit}.{table} alter column landing_root set not null")
        cur.execute(f"alter table {audit}.{table} drop constraint if exists {table}_pkey")
        cur.execute(f"alter table {audit}.{table} add primary key ({key})")
    cur.execute(f"alter table {audit}.rejected_rows add column if not exists line_count integer not null default 1")
    cur.execute(f"alter table {audit}.loaded_files add column if not exists status text not null default 'loaded'")
    cur.execute(f"alter table {audit}.loaded_files add column if not exists reason text")
    cur.execute(f"alter table {audit}.loaded_files alter column sha256 drop not null")
    for column in _LEDGER_COUNTS:
        cur.execute(f"alter table {audit}.loaded_files add column if not exists {column} integer not null default 0")


def other_landing_roots(conn, landing_root: Path) -> list[tuple[str, int]]:
    """The landing directories other than `landing_root` this warehouse has loaded files from, with how many
    files each: their rows sit in the same raw tables, so a load from `landing_root` mixes with them."""
    with conn.transaction():  # ended here: each group of files is written in a transaction of its own
        has_roots = conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and "
            "table_name = 'loaded_files' and column_name = 'landing_root'",
            (settings.AUDIT_SCHEMA,),
        ).fetchone()
        if has_roots is None:  # no ledger yet, or one from before issue 6: it tracked one landing root only
            return []
        rows = conn.execute(
            f"select landing_root, count(*) from {_ident(settings.AUDIT_SCHEMA)}.loaded_files "
            "where landing_root <> %s group by 1 order by 1",
            (str(landing_root.resolve()),),
        ).fetchall()
    return [(root, int(n)) for root, n in rows]


# --------------------------------------------------------------------------- preparing (no database)


@dataclass
class _PreparedFile:
    """A landing file parsed and validated: everything that needs no database."""

    root: str
    rel: str
    digest: str
    started: float
    rows_in_file: int
    lines_in_file: int
    header_lines: int
    blank_lines: int
    valid: pa.Table  # valid rows (keys trimmed), before keeping one per key
    lines: np.ndarray  # first line of each valid row
    spans: np.ndarray  # lines each valid row covers
    rejects: dict[int, Reject]  # by first line

    def reject(self, line: int, text: str | None, reason: str, lines: int = 1) -> None:
        earlier = self.rejects.get(line)
        if earlier:  # one record per line in rejected_rows: say everything wrong with it
            reason = f"{earlier.reason}; {reason}"
            lines = max(lines, earlier.lines)
        self.rejects[line] = Reject(line, text, reason, lines)

    def refuse(self, line: int, reason: str) -> None:
        """Move a valid row (PostgreSQL refused one of its values) to the rejects."""
        index = int(np.flatnonzero(self.lines == line)[0])
        span = int(self.spans[index])
        keep = np.ones(len(self.lines), bool)
        keep[index] = False
        self.valid = self.valid.filter(pa.array(keep))
        self.lines, self.spans = self.lines[keep], self.spans[keep]
        self._staged = None
        self.reject(line, self._text(line, span), reason, span)

    _text: Callable[[int, int], str | None] = field(default=lambda line, count: None, repr=False)

    _staged: tuple[list[str], bytes, pa.ChunkedArray] | None = field(default=None, repr=False)

    def payload(self, contract: TableContract) -> tuple[list[str], bytes, pa.ChunkedArray]:
        """Columns and headerless CSV of one row per key (with `_source_file` and `_source_line`), and
        the line of each staged row (computed once, in the worker thread that prepares the file, and
        again only after a refusal)."""
        if self._staged is None:
            rows, _ = validation.latest_per_key(contract, self.valid, self.lines)
            rows = rows.append_column("_source_file", pa.repeat(pa.scalar(self.rel, pa.string()), rows.num_rows))
            sink = io.BytesIO()
            pa_csv.write_csv(
                rows, sink, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="needed")
            )
            self._staged = rows.column_names, sink.getvalue(), rows.column("_source_line")
        return self._staged


def _printable(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\\x00")


_Validated = tuple[pa.Table, np.ndarray, np.ndarray, list[tuple[int, int, str]]]
_Outcome = tuple[_PreparedFile | FileLoadResult | FileError, str, str | None, float]  # with rel, digest, started

GROUP_BYTES = 4 << 20  # files of one table prepared (validated) together, up to about this much data


def _validate_together(contract: TableContract, files: list[ParsedFile]) -> list[_Validated]:
    """`validation.validate` of each file, computed once over all their rows: a value's verdict does not
    depend on the other rows, and one set of pyarrow calls per group instead of per file is most of
    what small files cost to validate."""
    if len(files) < 2:
        return [validation.validate(contract, f) for f in files]
    offsets = np.concatenate(([0], np.cumsum([f.table.num_rows for f in files])))
    lines = np.concatenate([f.lines for f in files])
    together = ParsedFile(
        pa.concat_tables([f.table for f in files]),
        np.arange(offsets[-1], dtype=np.int64),  # rows are told apart by their position in the group
        np.concatenate([f.spans for f in files]),
        [],
        0,
        0,
        0,
    )
    valid, positions, spans, rejects = validation.validate(contract, together)
    per_file: list[list[tuple[int, int, str]]] = [[] for _ in files]
    for position, span, reason in rejects:
        per_file[int(np.searchsorted(offsets, position, "right")) - 1].append((int(lines[position]), span, reason))
    bounds = np.searchsorted(positions, offsets)  # positions stay in order: each file's rows are one slice
    return [
        (valid.slice(a, b - a), lines[positions[a:b]].astype(np.int32), spans[a:b], per_file[k])
        for k, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


def _prepare(
    contract: TableContract, root: str, rel: str, digest: str, started: float, parsed: ParsedFile, checked: _Validated
) -> _PreparedFile:
    valid, lines, spans, value_rejects = checked
    prepared = _PreparedFile(
        root,
        rel,
        digest,
        started,
        parsed.table.num_rows + len(parsed.rejects),
        parsed.lines_in_file,
        parsed.header_lines,
        parsed.blank_lines,
        valid,
        lines,
        spans,
        {},
        _text=parsed.line_text,
    )
    for r in parsed.rejects:
        prepared.reject(r.line, _printable(r.text), r.reason, r.lines)
    for line, span, reason in value_rejects:
        prepared.reject(line, _printable(parsed.line_text(line, span)), reason, span)
    parsed.check_accounting(rel)
    prepared.payload(contract)
    return prepared


# --------------------------------------------------------------------------- writing


def _copy_csv(cur, target: str, columns: list[str], payload: bytes) -> None:
    cols = ", ".join(_ident(c) for c in columns)
    with cur.copy(f"copy {target} ({cols}) from stdin (format csv)") as copy:
        step = 1 << 20
        view = memoryview(payload)
        for start in range(0, len(view), step):
            copy.write(view[start : start + step])


def _upsert(cur, contract: TableContract) -> tuple[int, int]:
    """Move the staged rows into the raw table; returns (inserted, updated)."""
    names = [c.name for c in contract.loadable_columns]
    cols = ", ".join(_ident(c) for c in names)
    key = ", ".join(_ident(k) for k in contract.natural_key)
    non_key = [c for c in names if c not in contract.natural_key]
    target = contract.qualified_name
    sets = ", ".join(
        f"{_ident(c)} = excluded.{_ident(c)}" for c in [*non_key, "_source_file", "_source_line", "_loaded_at"]
    )
    changed = (
        (
            f"({', '.join(f'{target}.{_ident(c)}' for c in non_key)}) is distinct from "
            f"({', '.join(f'excluded.{_ident(c)}' for c in non_key)})"
        )
        if non_key
        else "false"
    )
    if contract.version_column:
        # Typed columns compare as values (instants for timestamptz); on equal versions the row read last wins.
        v = _ident(contract.version_column)
        changed = f"{changed} and {target}.{v} <= excluded.{v}"
    cur.execute(
        f"""with written as (
                insert into {target} ({cols}, _source_file, _source_line, _loaded_at)
                select {cols}, _source_file, _source_line, now() from {_incoming(contract)}
                on conflict ({key}) do update set {sets} where {changed}
                returning (xmax = 0) as inserted
            )
            select count(*) filter (where inserted), count(*) filter (where not inserted) from written"""
    )
    inserted, updated = cur.fetchone()
    return int(inserted), int(updated)


def _incoming(contract: TableContract) -> str:
    """The session's staging table for `contract`'s upserts (temporary, so private to the connection)."""
    return "pg_temp." + _ident(f"_incoming_{contract.key}")


_COPY_LINE = re.compile(r"COPY [^,]+, line (\d+)")  # the temporary table or the raw table


def _lock_key(contract: TableContract) -> int:
    return int.from_bytes(
        hashlib.sha256(f"lead_analytics.load.{contract.key}".encode()).digest()[:8], "big", signed=True
    )


@dataclass
class _Route:
    """How one table's files reach it in this load. `direct`: COPY straight into the raw table, which is
    all an upsert would do when none of the file's keys is stored yet (the common case: event tables, a
    first load); a key already there makes that COPY fail as a whole, the file is written again through
    the temporary table and the upsert, and the table's later files go that way from the start."""

    direct: bool = True


class _KeysExist(Exception):
    """A direct COPY met a key the raw table already holds (its transaction is rolled back)."""


def _write(conn, contract: TableContract, prepared: _PreparedFile, route: _Route) -> FileLoadResult:
    """Write a prepared file in one transaction (a savepoint inside `_write_group`'s). Should PostgreSQL
    refuse a value (COPY names the row), that row becomes a rejected row and the file is written again
    without it."""
    import psycopg

    refused = 0
    while refused <= MAX_REFUSED_ROWS:
        columns, payload, staged_lines = prepared.payload(contract)
        try:
            return _write_once(conn, contract, prepared, columns, payload, route)
        except _KeysExist:
            route.direct = False
        except psycopg.errors.DataError as exc:
            refused += 1
            where = _COPY_LINE.search(exc.diag.context or "")
            if not where:
                raise FileError(
                    f"{prepared.rel}: PostgreSQL refused the file: {first_line(exc)}; nothing loaded"
                ) from None
            line = int(staged_lines[int(where.group(1)) - 1].as_py())
            prepared.refuse(line, f"refused by PostgreSQL: {first_line(exc)}")
    raise FileError(f"{prepared.rel}: PostgreSQL refused more than {MAX_REFUSED_ROWS} rows; nothing loaded")


def _write_once(
    conn, contract: TableContract, prepared: _PreparedFile, columns: list[str], payload: bytes, route: _Route
) -> FileLoadResult:
    """Write the rows (directly or staged and upserted), the rejected rows and the ledger entry in one
    transaction."""
    import psycopg
    from psycopg import sql

    rel, root = prepared.rel, prepared.root
    audit = _ident(settings.AUDIT_SCHEMA)
    direct = route.direct
    staged_cols = ", ".join(f"{_ident(c.name)} {_PG_TYPES[c.data_type]}" for c in contract.loadable_columns)
    incoming = _incoming(contract)
    # One staging table per table and session (not one created and dropped per file: catalog work for
    # every file), emptied at every commit and here, for the previous file of the same transaction.
    staging = (
        ""
        if direct
        else (
            f"create temp table if not exists {incoming} ({staged_cols}, _source_line integer, _source_file text) "
            f"on commit delete rows; delete from {incoming}; "
        )
    )
    with conn.transaction():  # a savepoint of `_write_group`'s transaction, which holds the table's lock
        cur = conn.cursor()
        # One round trip: stage, and read the ledger.
        cur.execute(
            sql.SQL(
                f"{staging}"
                f"select sha256, status from {audit}.loaded_files where landing_root = {{}} and file_path = {{}}"
            ).format(sql.Literal(root), sql.Literal(rel))
        )
        while cur.nextset():
            pass
        row = cur.fetchone()
        if row and tuple(row) == (prepared.digest, "loaded"):
            return FileLoadResult(rel, "skipped", seconds=time.perf_counter() - prepared.started)

        if direct:  # every row is a new key, or the COPY fails on the first stored one
            try:
                _copy_csv(cur, contract.qualified_name, columns, payload)
            except psycopg.errors.UniqueViolation:
                raise _KeysExist from None
            inserted, updated = cur.rowcount, 0
        else:
            _copy_csv(cur, incoming, columns, payload)
            inserted, updated = _upsert(cur, contract)
        if row:  # a changed file (or one that failed before) replaces its earlier rejects
            cur.execute(f"delete from {audit}.rejected_rows where landing_root = %s and file_path = %s", (root, rel))
        rejects = sorted(prepared.rejects.values(), key=lambda r: r.line)
        if rejects:
            with cur.copy(
                f"copy {audit}.rejected_rows (source_table, landing_root, file_path, line_number, "
                f"line_count, raw_text, reason) from stdin"
            ) as copy:
                for r in rejects:
                    copy.write_row((f"{contract.schema}.{contract.name}", root, rel, r.line, r.lines, r.text, r.reason))
        result = FileLoadResult(
            rel,
            "loaded",
            rows_in_file=prepared.rows_in_file,
            inserted=inserted,
            updated=updated,
            unchanged=prepared.valid.num_rows - inserted - updated,
            rejected=len(rejects),
            lines_in_file=prepared.lines_in_file,
            header_lines=prepared.header_lines,
            blank_lines=prepared.blank_lines,
            loaded_lines=int(prepared.spans.sum()),
            rejected_lines=sum(r.lines for r in rejects),
        )
        _record(cur, contract, root, prepared.digest, result, time.perf_counter() - prepared.started)
    result.seconds = time.perf_counter() - prepared.started
    return result


def _record(
    cur, contract: TableContract, root: str, digest: str | None, result: FileLoadResult, seconds: float
) -> None:
    audit = _ident(settings.AUDIT_SCHEMA)
    counts = ", ".join(_LEDGER_COUNTS)
    updates = ", ".join(
        f"{c} = excluded.{c}" for c in ("source_table", "status", "reason", "sha256", *_LEDGER_COUNTS, "duration_ms")
    )
    cur.execute(
        f"""insert into {audit}.loaded_files (landing_root, file_path, source_table, status, reason, sha256, {counts},
                                                duration_ms)
            values (%s, %s, %s, %s, %s, %s, {", ".join(["%s"] * len(_LEDGER_COUNTS))}, %s)
            on conflict (landing_root, file_path) do update set {updates}, loaded_at = now()""",
        (
            root,
            result.file,
            f"{contract.schema}.{contract.name}",
            result.status,
            result.reason,
            digest,
            *(getattr(result, c) for c in _LEDGER_COUNTS),
            int(seconds * 1000),
        ),
    )


def _record_failure(
    conn, contract: TableContract, root: str, rel: str, digest: str | None, reason: str, started: float
) -> FileLoadResult:
    """The ledger says the file failed and why; its earlier rows and rejects (if any) stay as they were."""
    result = FileLoadResult(rel, "failed", reason=reason)
    with conn.transaction():
        _record(conn.cursor(), contract, root, digest, result, time.perf_counter() - started)
    result.seconds = time.perf_counter() - started
    return result


def _not_loaded(earlier: int) -> str:
    """What a transaction lost: the file, and the `earlier` files written before it in the same transaction."""
    lost = "that file was" if not earlier else f"that file and the {earlier} before it in its transaction were"
    return f"{lost} not loaded; run the load again"


def _lost_connection(exc: Exception, rel: str, earlier: int = 0) -> WarehouseError:
    """`earlier`: files written before `rel` in the same transaction, lost with it."""
    return WarehouseError(
        f"lost the connection to the warehouse while loading {rel}: {first_line(exc)} ({_not_loaded(earlier)})"
    )


# --------------------------------------------------------------------------- public API


def landing_files(contract: TableContract, landing_root: Path) -> list[Path]:
    """The files `contract` loads from `landing_root` (see `landing.scan` for what it leaves out and why)."""
    return landing.scan(contract, landing_root).files


def _read(path: Path, rel: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileError(f"{rel}: cannot read the file: {exc.strerror or exc}; nothing loaded") from None


def _load_prepared(
    conn,
    contract: TableContract,
    outcome: _PreparedFile | FileLoadResult | FileError,
    root: str,
    rel: str,
    digest: str | None,
    started: float,
    route: _Route,
    earlier: int = 0,
) -> FileLoadResult:
    import psycopg

    try:
        if isinstance(outcome, FileLoadResult):
            return outcome
        if isinstance(outcome, FileError):
            return _record_failure(conn, contract, root, rel, digest, str(outcome), started)
        try:
            return _write(conn, contract, outcome, route)
        except FileError as exc:
            return _record_failure(conn, contract, root, rel, digest, str(exc), started)
    except psycopg.Error as exc:
        if conn.broken or conn.closed:
            raise _lost_connection(exc, rel, earlier) from None
        # e.g. a deadlock or a statement timeout: this file failed (and is tried again next time)
        return _record_failure(
            conn, contract, root, rel, digest, f"{rel}: PostgreSQL: {first_line(exc)}; nothing loaded", started
        )


def _write_group(
    conn, contract: TableContract, outcomes: list[_Outcome], root: str, route: _Route
) -> list[FileLoadResult]:
    """Write a group of prepared files in one transaction, each file in a savepoint of its own: a file that
    fails is rolled back alone and recorded as failed, the others commit together. (A transaction per file
    spent 3-5 ms per file on the upsert route in its commit, which empties the staging table: more than
    writing a small file; D195.) Nothing of the group is committed if the connection is lost."""
    import psycopg

    if all(isinstance(outcome, FileLoadResult) for outcome, *_ in outcomes):
        return [outcome for outcome, *_ in outcomes]  # skipped before writing: nothing to do here
    written: list[FileLoadResult] = []
    touched: list[str] = []  # files written (or recorded as failed) in this transaction so far
    try:
        with conn.transaction():
            # Loads of one table are serialised for the whole transaction (a sensor run and a manual run must not
            # interleave), taken here, outside the files' savepoints: a lock first taken in a savepoint that is
            # rolled back (a failed file) is released with it. A crash can lose only the last few commits, ledger
            # entries and rows together, so the next run loads those files again: durability at each commit is not
            # needed here, and it costs an fsync.
            conn.execute(
                f"select pg_advisory_xact_lock({_lock_key(contract)}); "
                "set local synchronous_commit = off; set local time zone 'UTC'"
            )
            for outcome, rel, digest, started in outcomes:
                result = _load_prepared(conn, contract, outcome, root, rel, digest, started, route, len(touched))
                written.append(result)
                if result.status != "skipped":
                    touched.append(rel)
    except psycopg.Error as exc:  # the commit, or the connection lost before the first file
        rel, earlier = touched[-1] if touched else outcomes[0][1], max(0, len(touched) - 1)
        if conn.broken or conn.closed:
            raise _lost_connection(exc, rel, earlier) from None
        raise WarehouseError(
            f"PostgreSQL could not commit the load of {rel}: {first_line(exc)} ({_not_loaded(earlier)})"
        ) from None
    return written


def _unreadable(rel: str, exc: Exception) -> FileError:
    """A reader bug on an odd file must fail that file, not the whole load."""
    return FileError(f"{rel}: could not be read ({type(exc).__name__}: {first_line(exc)}); nothing loaded")


def _prepare_paths(
    contract: TableContract, root: str, paths: list[Path], landing_root: Path, loaded: dict[str, str]
) -> list[_Outcome]:
    """Read and prepare files of one table (no database), validated together: for each, the prepared
    file, a skip, or why it fails (one file's failure is its own)."""
    outcomes: list[_Outcome] = []
    parsed: dict[int, ParsedFile] = {}
    for path in paths:
        started = time.perf_counter()
        rel = landing.display_name(path, landing_root)
        digest = None
        try:
            data = _read(path, rel)
            digest = hashlib.sha256(data).hexdigest()
            if loaded.get(rel) == digest:  # checked again under the lock when writing
                outcomes.append(
                    (FileLoadResult(rel, "skipped", seconds=time.perf_counter() - started), rel, digest, started)
                )
                continue
            parsed[len(outcomes)] = parse(contract, data, rel)
            outcomes.append((FileError(f"{rel}: not validated"), rel, digest, started))  # replaced below
        except FileError as exc:
            outcomes.append((exc, rel, digest, started))
        except Exception as exc:
            outcomes.append((_unreadable(rel, exc), rel, digest, started))
    try:
        checked = dict(zip(parsed, _validate_together(contract, list(parsed.values())), strict=True))
    except Exception:  # e.g. files whose columns do not concatenate: each file on its own, so only a bad one fails
        checked = {}
    for index, file in parsed.items():
        _, rel, digest, started = outcomes[index]
        try:
            verdict = checked[index] if index in checked else validation.validate(contract, file)
            outcomes[index] = (_prepare(contract, root, rel, digest, started, file, verdict), rel, digest, started)
        except FileError as exc:
            outcomes[index] = (exc, rel, digest, started)
        except Exception as exc:
            outcomes[index] = (_unreadable(rel, exc), rel, digest, started)
    return outcomes


def _groups(paths: list[Path]) -> list[list[Path]]:
    """Consecutive files of about GROUP_BYTES together (a file larger than that alone)."""
    groups: list[list[Path]] = []
    size = 0
    for path in paths:
        try:
            bytes_ = path.stat().st_size
        except OSError:
            bytes_ = 0  # reading it will say why it cannot be read
        if not groups or size + bytes_ > GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += bytes_
    return groups


def load_file(conn, contract: TableContract, path: Path, landing_root: Path) -> FileLoadResult:
    """Load one landing file in a single transaction. A file that cannot be loaded comes back with
    status "failed" and its reason (also in the ledger); WarehouseError if the connection is lost."""
    root = str(landing_root.resolve())
    [written] = _write_group(conn, contract, _prepare_paths(contract, root, [path], landing_root, {}), root, _Route())
    return written


def load_table(
    conn, contract: TableContract, landing_root: Path, progress: Callable[[FileLoadResult], None] | None = None
) -> TableLoadResult:
    """Load every landing file of one raw table, oldest name first. A file that fails is recorded
    as failed (ledger and `errors`) and the other files still load; entries of the folder the
    contract does not read are listed in `ignored`.

    While the database writes one group of files, a worker thread parses and validates the next
    (pyarrow releases the GIL), so the client and server halves of a load overlap. Each group is written
    in one transaction, each file in a savepoint of its own (`_write_group`); results (and `progress`)
    come once the group is committed.
    """
    result = TableLoadResult(contract.key)
    audit = _ident(settings.AUDIT_SCHEMA)
    root = str(landing_root.resolve())
    with conn.transaction():
        loaded = dict(
            conn.execute(
                f"select file_path, sha256 from {audit}.loaded_files where landing_root = %s and source_table = %s "
                f"and status = 'loaded'",
                (root, f"{contract.schema}.{contract.name}"),
            ).fetchall()
        )

    def prepare(group: list[Path]):
        return pool.submit(_prepare_paths, contract, root, group, landing_root, loaded)

    try:
        listing = landing.scan(contract, landing_root)
    except landing.FolderError as exc:
        result.errors.append(str(exc))
        return result
    result.ignored = listing.ignored
    groups = _groups(listing.files)
    route = _Route()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prepare-{contract.key}") as pool:
        upcoming = prepare(groups[0]) if groups else None
        for index in range(len(groups)):
            current = upcoming
            upcoming = prepare(groups[index + 1]) if index + 1 < len(groups) else None
            for file_result in _write_group(conn, contract, current.result(), root, route):
                if file_result.status == "failed":
                    result.errors.append(file_result.reason or f"{file_result.file}: failed")
                result.files.append(file_result)
                if progress:
                    progress(file_result)
    return result


def load_tables(
    info,
    selected: list[TableContract],
    landing_root: Path,
    parallelism: int,
    progress: Callable[[str, FileLoadResult], None] | None = None,
) -> list[TableLoadResult]:
    """Load several raw tables, `parallelism` at a time, each on its own connection to the warehouse
    `info` points at; results in the order of `selected`. Tables are independent (one lock per table,
    the ledger keyed by file), so they load concurrently: the client parses one while the server
    writes another. A lost connection is raised (WarehouseError) once every table has finished."""
    from orchestration import warehouse

    def one(contract: TableContract) -> TableLoadResult:
        with warehouse.connect(info) as conn:
            return load_table(
                conn, contract, landing_root, progress=(lambda f: progress(contract.key, f)) if progress else None
            )

    # Largest folders first, so the last table to start is a small one (bytes are a fair proxy for work).
    def size(contract: TableContract) -> int:
        try:
            return sum(p.stat().st_size for p in landing.scan(contract, landing_root).files)
        except OSError:
            return 0

    order = sorted(selected, key=size, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="load-table") as pool:
        futures = {c.key: pool.submit(one, c) for c in order}
        done = [(c, futures[c.key].exception()) for c in selected]
    for _, exc in done:
        if exc is not None:
            raise exc
    return [futures[c.key].result() for c in selected]
