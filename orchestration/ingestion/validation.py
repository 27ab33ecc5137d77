"""Validates parsed text columns against the contract, as PostgreSQL would, with vectorised pyarrow kernels.

A value is accepted only if PostgreSQL will store it in its column unchanged in meaning: integers in
range (compared as digit strings, never through float64), numerics within PostgreSQL's limits,
real calendar dates from year 1, timestamps with a time zone offset PostgreSQL accepts (up to
±15:59), no NUL characters. Natural-key values are trimmed of surrounding white space first (the
contract's key rule, docs/DECISIONLOG.md D59); a key that is empty after trimming is rejected.

Within one file, `latest_per_key` keeps one row per natural key: the newest version, comparing the
version column as an instant (time zone aware), and on equal versions the later line.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.ingestion.contracts import TableContract
from orchestration.ingestion.parsing import ParsedFile

_INT_RE = r"^[+-]?\d+$"
_NUM_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_BOOL_VALUES = pa.array(["true", "false", "t", "f", "1", "0", "yes", "no", "y", "n"])
_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
# The clock is checked here (hours 00-23, minutes and seconds 00-59), the calendar date by `_real_dates`.
_TS_RE = r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)$"
# An offset PostgreSQL accepts: up to ±15:59 (the syntax, `_TS_RE`, is checked first).
_OFFSET_OK_RE = r"(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)$"
# Largest magnitude of each integer type, as digits (the negative bound is one larger).
_INT_BOUNDS = {"integer": ("2147483647", "2147483648"), "bigint": ("9223372036854775807", "9223372036854775808")}
# PostgreSQL numeric: at most 131072 digits before the decimal point and 16383 after it.
_NUMERIC_MAX_ADJUSTED, _NUMERIC_MAX_SCALE = 131071, 16383


def _real_dates(col: pa.Array) -> pa.Array:
    """True where the first 10 characters are a real calendar date from year 1 (strptime is lenient about
    2024-02-30, so format it back and compare; PostgreSQL has no year 0). A column holds few distinct
    days, so each is judged once and the column looked up in the good ones (a per-value strptime and
    strftime was most of the validation time)."""
    head = pc.utf8_slice_codeunits(col, 0, 10)
    days = pc.unique(head)
    parsed = pc.strptime(days, format="%Y-%m-%d", unit="s", error_is_null=True)
    real = pc.and_(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), days), pc.invert(pc.starts_with(days, "0000")))
    return pc.fill_null(pc.is_in(head, value_set=pc.filter(days, pc.fill_null(real, False))), False)


def _integer_in_range(col: pa.Array, data_type: str) -> pa.Array:
    """Exact range check on the digits (leading zeros ignored), so 2**63 is refused and 2**63-1 is not."""
    positive, negative = _INT_BOUNDS[data_type]
    digits = pc.utf8_ltrim(pc.utf8_ltrim(col, characters="+-"), characters="0")
    bound = pc.if_else(pc.starts_with(col, "-"), negative, positive)
    n = pc.utf8_length(digits)
    return pc.or_(pc.less(n, len(positive)), pc.and_(pc.equal(n, len(positive)), pc.less_equal(digits, bound)))


def _numeric_in_range(value: str) -> bool:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    exponent = number.as_tuple().exponent
    return number.adjusted() <= _NUMERIC_MAX_ADJUSTED and -int(exponent) <= _NUMERIC_MAX_SCALE


def _is_json_container(value: str | None) -> bool:
    if value is None:
        return True
    try:
        return isinstance(json.loads(value), (dict, list))
    except ValueError:
        return False


def _may_hold_nul(col: pa.Array) -> bool:
    """False when no byte of the column's character data is NUL: one pass over the buffer (it may hold
    bytes outside the array's slice; they can only make this True, and the exact check then runs)."""
    data = col.buffers()[2]
    return data is not None and len(data) > 0 and not np.frombuffer(data, np.uint8).all()


def problems(col: pa.Array, data_type: str) -> list[tuple[pa.Array, str]]:
    """(mask, what is wrong) pairs, most basic first: where a non-null text value is not a valid
    literal of `data_type`, then where it is valid but outside what PostgreSQL can store."""
    syntax: pa.Array | None = None
    limits: pa.Array | None = None
    what_limits = f"{data_type} out of range"
    if data_type == "text":
        what_limits = "NUL character (PostgreSQL text cannot hold it)"
        if _may_hold_nul(col):
            limits = pc.match_substring(col, "\x00")
    elif data_type in ("integer", "bigint"):
        syntax = pc.invert(pc.match_substring_regex(col, _INT_RE))
        limits = pc.invert(_integer_in_range(col, data_type))
    elif data_type == "numeric":
        syntax = pc.invert(pc.match_substring_regex(col, _NUM_RE))
        suspect = pc.and_(
            pc.invert(syntax), pc.or_(pc.match_substring_regex(col, "[eE]"), pc.greater(pc.utf8_length(col), 100))
        )
        if pc.any(suspect).as_py():  # exponents and very long literals: PostgreSQL's limits, exactly
            limits = pa.array(
                [
                    bool(s) and not _numeric_in_range(v)
                    for v, s in zip(col.to_pylist(), suspect.to_pylist(), strict=False)
                ]
            )
    elif data_type == "boolean":
        syntax = pc.invert(pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(col)), value_set=_BOOL_VALUES))
    elif data_type == "date":
        syntax = pc.invert(pc.and_(pc.match_substring_regex(col, _DATE_RE), _real_dates(col)))
    elif data_type == "timestamptz":
        syntax = pc.invert(pc.and_(pc.match_substring_regex(col, _TS_RE), _real_dates(col)))
        what_limits = "time zone offset beyond ±15:59"
        if not pc.all(pc.fill_null(pc.ends_with(col, "Z"), True)).as_py():  # "Z" is always within the limit
            limits = pc.invert(pc.match_substring_regex(col, _OFFSET_OK_RE))
    elif data_type == "jsonb":
        syntax = pa.array([not _is_json_container(v) for v in col.to_pylist()])
        limits, what_limits = pc.match_substring(col, "\\u0000"), "\\u0000 (PostgreSQL jsonb cannot hold it)"
    else:  # pragma: no cover - contracts reject unknown types
        raise ValueError(data_type)
    found = []
    for mask, what in ((syntax, f"invalid {data_type}"), (limits, what_limits)):
        if mask is not None:
            found.append((pc.fill_null(pc.and_(pc.is_valid(col), pc.fill_null(mask, True)), False), what))
    return found


def trim_keys(contract: TableContract, table: pa.Table) -> tuple[pa.Table, dict[str, pa.Array]]:
    """Natural-key values without surrounding white space (null when nothing is left), and per key
    column where it was blank (present, but empty after trimming): such a row is rejected."""
    blank: dict[str, pa.Array] = {}
    for name in contract.natural_key:
        index = table.column_names.index(name)
        trimmed = pc.utf8_trim_whitespace(table.column(index).combine_chunks())
        blank[name] = pc.fill_null(pc.equal(trimmed, ""), False)
        table = table.set_column(index, name, pc.if_else(blank[name], pa.scalar(None, pa.string()), trimmed))
    return table, blank


def validate(
    contract: TableContract, parsed: ParsedFile
) -> tuple[pa.Table, np.ndarray, np.ndarray, list[tuple[int, int, str]]]:
    """The valid rows (keys trimmed), their lines and spans, and (line, span, reason) of the others."""
    table = parsed.table.combine_chunks()
    n = table.num_rows
    table, blank_key = trim_keys(contract, table)
    reason = pa.nulls(n, pa.string())
    for c in contract.loadable_columns:
        col = table.column(c.name).combine_chunks()
        if c.required:
            if c.name in contract.natural_key:
                missing = pc.if_else(blank_key[c.name], f"blank key {c.name}", f"missing key {c.name}")
                reason = pc.if_else(pc.and_(pc.is_null(reason), pc.is_null(col)), missing, reason)
            else:
                reason = pc.if_else(
                    pc.and_(pc.is_null(reason), pc.is_null(col)), f"missing required value {c.name}", reason
                )
        for bad, what in problems(col, c.data_type):
            if pc.any(bad).as_py():
                shown = pc.utf8_slice_codeunits(pc.replace_substring(col, "\x00", "\\x00"), 0, 60)
                msg = pc.binary_join_element_wise(f"{what} in {c.name}: '", shown, "'", "")
                reason = pc.if_else(pc.and_(pc.is_null(reason), bad), msg, reason)
    is_bad = pc.is_valid(reason).to_numpy(zero_copy_only=False)
    if not is_bad.any():
        return table, parsed.lines, parsed.spans, []
    rejects = list(
        zip(
            parsed.lines[is_bad].tolist(),
            parsed.spans[is_bad].tolist(),
            pc.filter(reason, pa.array(is_bad)).to_pylist(),
            strict=False,
        )
    )
    keep = ~is_bad
    return table.filter(pa.array(keep)), parsed.lines[keep], parsed.spans[keep], rejects


def version_instants(contract: TableContract, table: pa.Table) -> pa.Array:
    """The version column as comparable values: instants for timestamps (so '…+01:00', '…Z' and
    '… ' with a space compare as the moments they are), dates, or integers."""
    col = table.column(contract.version_column).combine_chunks()
    data_type = contract.column(contract.version_column).data_type
    if data_type == "timestamptz":
        return pc.cast(col, pa.timestamp("us", "UTC"))
    if data_type == "date":
        return pc.cast(col, pa.date32())
    return pc.cast(col, pa.int64())  # integer, bigint (validated, so exact)


def latest_per_key(contract: TableContract, table: pa.Table, lines: np.ndarray) -> tuple[pa.Table, int]:
    """One row per natural key: the newest version; on equal versions (or without a version
    column) the later line. Returns the rows (with `_source_line`) and how many were superseded."""
    table = table.append_column("_source_line", pa.array(lines, pa.int32()))
    if table.num_rows < 2:
        return table, 0
    if (
        len(contract.natural_key) == 1
        and pc.count_distinct(table.column(contract.natural_key[0])).as_py() == table.num_rows
    ):
        return table, 0  # every key once: nothing to choose
    work = table.append_column("_pos", pa.array(np.arange(table.num_rows), pa.int64()))
    sort = [(k, "ascending") for k in contract.natural_key]
    if contract.version_column:
        work = work.append_column("_version", version_instants(contract, table))
        sort.append(("_version", "descending"))
    sort.append(("_pos", "descending"))
    order = pc.sort_indices(work, sort_keys=sort)
    ordered = work.take(order)
    same_as_prev = None
    for k in contract.natural_key:
        col = ordered.column(k).combine_chunks()
        eq = pc.fill_null(pc.equal(col.slice(1), col.slice(0, len(col) - 1)), False)
        same_as_prev = eq if same_as_prev is None else pc.and_(same_as_prev, eq)
    keep = pc.invert(same_as_prev)
    if pc.all(keep).as_py():
        return table, 0
    keep = pa.concat_arrays([pa.array([True]), keep])
    positions = np.sort(pc.filter(ordered.column("_pos"), keep).to_numpy())  # back in line order
    return table.take(pa.array(positions)), table.num_rows - len(positions)
