"""Reads one landing file (CSV or JSON lines) into text columns, accounting for every physical line.

Every line of a file ends up in exactly one of: the header, a blank line, a parsed row (a CSV row
whose quoted value spans lines covers several lines), or a rejected row with its reason. `ParsedFile`
carries the counts and `ParsedFile.check_accounting()` asserts that they add up to the file's lines.

A file that cannot be read as a whole (empty CSV, bytes that are not UTF-8, columns or keys that do
not match the contract) raises `FileError` with a one-line reason.

* CSV: pyarrow's reader, one row per line, when no quoted value spans lines (checked first, with
  numpy, from the quote parity at each line end); otherwise a line-by-line reader that joins the
  lines of a quoted value and, when a quote is never closed or the joined lines do not make one
  row, rejects the line that opened it and reads on from the next line, so one stray quote cannot
  swallow the rows after it.
* JSON lines: pyarrow's reader where its result is exact (strings, booleans, int64 numbers only);
  otherwise the standard library decoder with numbers kept as their source text (`Number`), so
  integers and decimals keep every digit. A key not in the contract fails the file, naming the
  line where it first appears.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from orchestration.ingestion.contracts import TableContract

_BOM = b"\xef\xbb\xbf"


class FileError(ValueError):
    """A landing file that cannot be loaded at all; the message is one line that names the file."""


class ContractError(FileError):
    """A landing file whose columns (CSV header, JSON keys) do not match its table's contract."""


@dataclass(frozen=True)
class Reject:
    line: int  # first physical line (1-based)
    text: str | None  # the raw text of the line(s)
    reason: str
    lines: int = 1  # physical lines the rejected row covers


@dataclass
class ParsedFile:
    """A file as string columns in contract order, with the physical line of every row."""

    table: pa.Table
    lines: np.ndarray  # int32: first physical line of each row
    spans: np.ndarray  # int32: physical lines each row covers (1 unless a quoted value spans lines)
    rejects: list[Reject]
    lines_in_file: int
    header_lines: int
    blank_lines: int
    raw_lines: list[str] = field(repr=False, default_factory=list)  # filled lazily by `line_text`
    _data: bytes = field(repr=False, default=b"")

    def line_text(self, line: int, count: int = 1) -> str | None:
        """The text of physical lines `line` .. `line + count - 1` (without line endings)."""
        if not self.raw_lines:
            self.raw_lines = _split_lines(self._data.decode("utf-8"))
        if not 0 < line <= len(self.raw_lines):
            return None
        return "\n".join(self.raw_lines[line - 1 : line - 1 + count])

    def check_accounting(self, rel: str) -> None:
        covered = self.header_lines + self.blank_lines + int(self.spans.sum()) + sum(r.lines for r in self.rejects)
        if covered != self.lines_in_file:  # a bug, never bad input: refuse to load rather than lose lines
            raise FileError(
                f"{rel}: internal error: {covered} lines accounted for, the file has "
                f"{self.lines_in_file}; nothing loaded"
            )


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline ends the last line; it does not start another
    return [line.removesuffix("\r") for line in lines]


def count_lines(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def decode_check(data: bytes, rel: str) -> bytes:
    """The file's bytes without a UTF-8 byte-order mark; FileError when they are not UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileError(
            f"{rel}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} cannot be decoded "
            f"(re-export the file as UTF-8); nothing loaded"
        ) from None
    return data.removeprefix(_BOM)


def check_columns(
    contract: TableContract,
    found: list[str],
    rel: str,
    what: str = "columns",
    first_lines: dict[str, int] | None = None,
) -> None:
    expected = [c.name for c in contract.loadable_columns]
    missing = [c for c in expected if c not in found]
    unexpected = [c for c in found if c not in expected]
    duplicated = sorted({c for c in found if found.count(c) > 1})
    if not (missing or unexpected or duplicated):
        return
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if unexpected:
        where = first_lines or {}
        parts.append(
            "unexpected " + ", ".join(f"{c} (first on line {where[c]})" if c in where else c for c in unexpected)
        )
    if duplicated:
        parts.append(f"duplicated {', '.join(duplicated)}")
    raise ContractError(f"{rel}: {what} do not match {contract.schema}.{contract.name}: {'; '.join(parts)}")


def parse(contract: TableContract, data: bytes, rel: str) -> ParsedFile:
    data = decode_check(data, rel)
    if contract.file_format == "csv":
        return _parse_csv(contract, data, rel)
    return _parse_jsonl(contract, data, rel)


# --------------------------------------------------------------------------- CSV


def _line_bounds(buf: np.ndarray, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Start offset and end offset (exclusive, before the newline) of every physical line."""
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))[:n_lines]
    ends = np.concatenate((newlines, [len(buf)]))[:n_lines]
    return starts, ends


def _parse_csv(contract: TableContract, data: bytes, rel: str) -> ParsedFile:
    n_lines = count_lines(data)
    if n_lines == 0:
        raise FileError(f"{rel}: empty file (0 bytes, no header line); nothing loaded")
    header_text = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    header = next(csv.reader([header_text])) if header_text.strip() else []
    check_columns(contract, header, rel)

    buf = np.frombuffer(data, np.uint8)
    starts, ends = _line_bounds(buf, n_lines)
    line_by_line = False
    if data.count(b"\r") != data.count(b"\r\n"):
        line_by_line = True  # a carriage return inside a line: pyarrow would split the line there
    elif b'"' in data:
        quotes = np.flatnonzero(buf == 34)
        open_at_end = np.searchsorted(quotes, ends) % 2 == 1
        line_by_line = bool(open_at_end.any())  # a quoted value spans lines, or a quote is never closed
    if line_by_line:
        return _parse_csv_lines(contract, data, header, n_lines, rel)
    return _parse_csv_arrow(contract, data, header, n_lines, starts, ends, buf, rel)


def _parse_csv_arrow(
    contract: TableContract,
    data: bytes,
    header: list[str],
    n_lines: int,
    starts: np.ndarray,
    ends: np.ndarray,
    buf: np.ndarray,
    rel: str,
) -> ParsedFile:
    """Every row is one line: pyarrow parses; rows and invalid lines come back in line order."""
    rejects: list[Reject] = []
    blank_invalid: list[int] = []
    invalid_lines: list[int] = []

    def on_invalid(row) -> str:
        invalid_lines.append(row.number)
        if not row.text.strip():
            blank_invalid.append(row.number)  # spaces only: a blank line, not a row
        else:
            rejects.append(
                Reject(
                    row.number,
                    row.text.rstrip("\r"),
                    f"broken line: expected {row.expected_columns} fields, found {row.actual_columns}",
                )
            )
        return "skip"

    table = pa_csv.read_csv(
        io.BytesIO(data),
        read_options=pa_csv.ReadOptions(use_threads=False),  # single-threaded: exact line numbers
        parse_options=pa_csv.ParseOptions(
            newlines_in_values=False, ignore_empty_lines=False, invalid_row_handler=on_invalid
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=True,
        ),
    )
    row_lines = np.arange(2, n_lines + 1, dtype=np.int32)
    if invalid_lines:
        row_lines = row_lines[~np.isin(row_lines, np.array(invalid_lines, dtype=np.int32))]
    if len(row_lines) != table.num_rows:
        raise FileError(f"{rel}: internal error: {table.num_rows} CSV rows for {len(row_lines)} lines; nothing loaded")
    lengths = ends - starts
    empty = (lengths == 0) | ((lengths == 1) & (buf[np.minimum(starts, len(buf) - 1)] == 13))
    is_blank_row = empty[row_lines - 1]
    blank = int(is_blank_row.sum()) + len(blank_invalid)
    table = table.select([c.name for c in contract.loadable_columns])
    if is_blank_row.any():
        keep = ~is_blank_row
        table = table.filter(pa.array(keep))
        row_lines = row_lines[keep]
    return ParsedFile(table, row_lines, np.ones(len(row_lines), np.int32), rejects, n_lines, 1, blank, _data=data)


def _csv_record(text: str) -> list[str]:
    """The fields of exactly one CSV record; ValueError when `text` is not one well-formed record."""
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ValueError(str(exc)) from None
    if len(records) != 1:
        raise ValueError(f"{len(records)} records")
    return records[0]


def _parse_csv_lines(contract: TableContract, data: bytes, header: list[str], n_lines: int, rel: str) -> ParsedFile:
    """The careful reader: a quoted value may span lines; a broken quote costs only its own line."""
    lines = _split_lines(data.decode("utf-8"))
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in header]
    first_lines: list[int] = []
    spans: list[int] = []
    rejects: list[Reject] = []
    blank = 0
    i = 2
    while i <= n_lines:
        raw = lines[i - 1]
        if not raw.strip():
            blank += 1
            i += 1
            continue
        if "\r" in raw:
            rejects.append(Reject(i, raw, "broken line: a carriage return inside the line"))
            i += 1
            continue
        j, open_quote = i, raw.count('"') % 2 == 1
        while open_quote and j < n_lines:
            j += 1
            open_quote ^= lines[j - 1].count('"') % 2 == 1
        if open_quote:
            rejects.append(Reject(i, raw, "broken line: a quote opened on this line is never closed"))
            i += 1
            continue
        try:
            fields = _csv_record("\n".join(lines[i - 1 : j]))
            problem = None if len(fields) == width else f"expected {width} fields, found {len(fields)}"
        except ValueError as exc:
            problem = str(exc)
        if problem and j > i:
            problem = (
                f"a quote opened on this line does not close within the row "
                f"(lines {i}-{j} do not make one row: {problem})"
            )
        if problem:
            rejects.append(Reject(i, raw, f"broken line: {problem}"))
            i += 1  # read on from the next line: the stray quote was this line's fault
            continue
        for column, value in zip(columns, fields, strict=False):
            column.append(value if value != "" else None)
        first_lines.append(i)
        spans.append(j - i + 1)
        i = j + 1
    by_name = dict(zip(header, columns, strict=False))
    table = pa.table({c.name: pa.array(by_name[c.name], pa.string()) for c in contract.loadable_columns})
    return ParsedFile(
        table, np.array(first_lines, np.int32), np.array(spans, np.int32), rejects, n_lines, 1, blank, raw_lines=lines
    )


# --------------------------------------------------------------------------- JSON lines


class Number(str):
    """A JSON number, kept as its source text (no float64 on the way)."""


_DECODER = json.JSONDecoder(parse_float=Number, parse_int=Number)


def _json_text(value: Any) -> str:
    """JSON text of a decoded value, numbers written back exactly as they came."""
    if isinstance(value, Number):
        return str.__str__(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json_text(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    return json.dumps(value)


def _text_column(values: list, data_type: str) -> pa.Array:
    """Column text: strings as they are, numbers as written, booleans as true/false; objects and
    arrays (and every jsonb value) as JSON text. The validator then judges each value's type."""
    if data_type == "jsonb":
        return pa.array([None if v is None else _json_text(v) for v in values], pa.string())
    try:
        return pa.array(values, pa.string())  # strings, numbers (a Number is a str) and nulls
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    out: list[str | None] = []
    for v in values:
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        else:
            out.append(_json_text(v))
    return pa.array(out, pa.string())


_ARROW_TEXT_TYPES = ("text", "timestamptz", "date")


_JSON_NUMBER = r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?"


def _number_texts(data: bytes, table: pa.Table, names: list[str]) -> dict[str, pa.Array] | None:
    """The numbers of the float64 columns pyarrow read, as written in each line (a float64 loses digits,
    and 3.00 is not 3.0 to a numeric). A key is found where a key can stand: after `{` or `,` (a quote inside
    a string value is always escaped, and `_parse_jsonl_arrow` has ruled out nested objects). Any doubt (a
    key written with escapes or twice in a line, a text that is not the number pyarrow read) returns None:
    the line-by-line reader then reads the file, as it did before this shortcut (D195)."""
    # The lines as one string array over the file's bytes (each with its line ending): no Python strings.
    starts, _ = _line_bounds(np.frombuffer(data, np.uint8), table.num_rows)
    offsets = np.append(starts, len(data)).astype(np.int64)
    lines = pa.LargeStringArray.from_buffers(table.num_rows, pa.py_buffer(offsets), pa.py_buffer(data))
    texts = {}
    for name in names:
        key = r"[{,]\s*" + re.escape(json.dumps(name)) + r"\s*:\s*"
        if pc.any(pc.greater(pc.count_substring_regex(lines, key), 1)).as_py():
            return None
        text = pc.struct_field(pc.extract_regex(lines, f"{key}(?P<v>{_JSON_NUMBER})\\s*[,}}]"), [0])
        read = table.column(name)
        same_nulls = pc.equal(pc.is_null(text), pc.is_null(read))
        same_values = pc.fill_null(pc.equal(pc.cast(text, pa.float64()), read), True)
        if not pc.all(pc.and_(same_nulls, same_values)).as_py():
            return None
        texts[name] = pc.cast(text, pa.string())
    return texts


def _parse_jsonl_arrow(contract: TableContract, data: bytes) -> ParsedFile | None:
    """pyarrow's JSON reader, used only when its result is exact: strings read as strings, every
    number an int64 or, in a numeric column, a float64 whose text is taken from the line
    (`_number_texts`), no key outside the contract, no blank or broken line, no nested value. None
    means "read it line by line instead"."""
    columns = contract.loadable_columns
    if any(c.data_type == "jsonb" for c in columns):
        return None
    text_cols = [c.name for c in columns if c.data_type in _ARROW_TEXT_TYPES]
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=False),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema([(c, pa.string()) for c in text_cols]), unexpected_field_behavior="infer"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    n_lines = count_lines(data)
    names = {c.name for c in columns}
    if table.num_rows != n_lines or not set(table.column_names) <= names:
        return None
    out = {}
    decimals = []
    for c in columns:
        if c.name not in table.column_names:
            return None  # a key on no line: the careful reader names it
        col = table.column(c.name)
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "true", "false")
        elif pa.types.is_float64(col.type) and c.data_type == "numeric":
            decimals.append(c.name)  # its text is taken from the line below
        elif not (pa.types.is_string(col.type) or pa.types.is_int64(col.type) or pa.types.is_null(col.type)):
            return None  # nested values, mixed types, a float64 where no numeric is expected
        out[c.name] = pc.cast(col, pa.string())
    if decimals:
        texts = _number_texts(data, table, decimals)
        if texts is None:
            return None
        out.update(texts)
    return ParsedFile(
        pa.table(out),
        np.arange(1, n_lines + 1, dtype=np.int32),
        np.ones(n_lines, np.int32),
        [],
        n_lines,
        0,
        0,
        _data=data,
    )


def _parse_jsonl(contract: TableContract, data: bytes, rel: str) -> ParsedFile:
    fast = _parse_jsonl_arrow(contract, data) if data else None
    if fast is not None:
        return fast
    lines = _split_lines(data.decode("utf-8"))
    names = [c.name for c in contract.loadable_columns]
    records: list[dict] = []
    record_lines: list[int] = []
    rejects: list[Reject] = []
    blank = 0
    decode = _DECODER.decode
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            blank += 1
            continue
        try:
            record = decode(raw)
        except ValueError as exc:
            rejects.append(Reject(number, raw, f"unparseable JSON line: {exc}"))
            continue
        if not isinstance(record, dict):
            rejects.append(Reject(number, raw, f"not a JSON object: {type(record).__name__}"))
            continue
        records.append(record)
        record_lines.append(number)
    seen: set[str] = set()
    for record in records:
        seen.update(record)
    if records:
        unexpected = seen - set(names)
        first = {}
        for record, number in zip(records, record_lines, strict=False):
            for key in unexpected - first.keys():
                if key in record:
                    first[key] = number
            if len(first) == len(unexpected):
                break
        check_columns(
            contract,
            [n for n in names if n in seen] + sorted(unexpected, key=first.get),
            rel,
            what="keys",
            first_lines=first,
        )
    types = {c.name: c.data_type for c in contract.loadable_columns}
    table = pa.table({n: _text_column([r.get(n) for r in records], types[n]) for n in names})
    return ParsedFile(
        table,
        np.array(record_lines, np.int32),
        np.ones(len(records), np.int32),
        rejects,
        len(lines),
        0,
        blank,
        raw_lines=lines,
    )
