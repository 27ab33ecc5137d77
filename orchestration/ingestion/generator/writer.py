"""Write one table's rows as a vendor would export them: one file per calendar month (UTC), CSV or
JSON lines, header/keys exactly the contract's loadable columns, plus deliberately malformed extra
rows recorded as `MalformedRow`s.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from orchestration.ingestion.contracts import TableContract
from orchestration.ingestion.generator.config import MalformedRow
from orchestration.ingestion.generator.core import NULL_INT, TableData, month_index, rng_for

_TEXTUAL = {"text", "timestamptz", "date"}
_CSV_SPECIAL = re.compile(r'[",\r\n]')
_JSON_SPECIAL = re.compile(r'["\\\x00-\x1f]')
BAD_TIMESTAMPS = ["2025-13-45T99:00:00Z", "yesterday", "31/02/2025 25:61", "not a date"]
BAD_NUMBERS = ["n/a", "twelve", "1.2.3", "--"]
WRONG_TYPE_VALUES = ['"n/a"', '"unknown"', '"yes please"', '"N/A"']


# ------------------------------------------------------------------------------- rendering


def _render(values: np.ndarray, data_type: str) -> list[str | None]:
    """Canonical text of each value (None for null), before CSV/JSON encoding."""
    if values.dtype == object:
        if data_type == "jsonb":
            return [None if v is None else json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in values]
        return [_render_scalar(v, data_type) for v in values]
    if data_type in ("timestamptz", "date"):
        ints = values.astype(np.int64)
        unit = "s" if data_type == "timestamptz" else "D"
        text = np.datetime_as_string(ints.astype(f"datetime64[{unit}]"), unit=unit).astype(object)
        if data_type == "timestamptz":
            text = text + "Z"
        text[ints == NULL_INT] = None
        return text.tolist()
    if values.dtype.kind == "b":
        return np.where(values, "true", "false").tolist()
    if values.dtype.kind == "f":
        text = np.char.mod("%.2f", values).astype(object)
        text[np.isnan(values)] = None
        return text.tolist()
    if values.dtype.kind in "iu":
        text = values.astype(str).astype(object)
        text[values == NULL_INT] = None
        return text.tolist()
    return [None if v is None else str(v) for v in values.tolist()]


def _render_scalar(v, data_type: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else f"{v:.2f}"
    return str(v)


def _encode_column(rendered: list[str | None], data_type: str, fmt: str) -> list[str]:
    """Cells as they appear in the file (CSV fields or JSON literals)."""
    present = [v for v in rendered if v is not None]
    if fmt == "csv":
        if data_type in ("text", "jsonb") and _CSV_SPECIAL.search("\x00".join(present)):
            return [_csv_cell(v) for v in rendered]
        return ["" if v is None else v for v in rendered]
    if data_type in _TEXTUAL:
        if _JSON_SPECIAL.search("\x00".join(present)):
            return [_json_cell(v, data_type) for v in rendered]
        return ["null" if v is None else '"' + v + '"' for v in rendered]
    return ["null" if v is None else v for v in rendered]


def _csv_cell(v: str | None) -> str:
    if v is None:
        return ""
    return '"' + v.replace('"', '""') + '"' if _CSV_SPECIAL.search(v) else v


def _json_cell(v: str | None, data_type: str) -> str:
    if v is None:
        return "null"
    if data_type in _TEXTUAL:
        return json.dumps(v, ensure_ascii=False)
    return v


def _encode_cell(v: str | None, data_type: str, fmt: str) -> str:
    return _csv_cell(v) if fmt == "csv" else _json_cell(v, data_type)


# ------------------------------------------------------------------------------- writing


class TableWriter:
    """Renders a TableData for one contract and writes its monthly files."""

    def __init__(self, contract: TableContract, landing_dir: Path, seed: int, malformed_share: float) -> None:
        self.contract = contract
        self.landing_dir = landing_dir
        self.fmt = contract.file_format
        self.names = [c.name for c in contract.loadable_columns]
        self.types = [c.data_type for c in contract.loadable_columns]
        self.share = malformed_share
        self.rng = rng_for(seed, f"malformed:{contract.key}")
        self.fresh_counter = 0
        self.file_rows: list[int] = []  # rows per written file, in order
        if self.fmt == "csv":
            self.template = None
        else:
            self.template = "{" + ",".join(json.dumps(n) + ":%s" for n in self.names) + "}"

    def _line(self, cells: list[str] | tuple[str, ...]) -> str:
        return ",".join(cells) if self.fmt == "csv" else self.template % tuple(cells)

    def write(self, data: TableData) -> tuple[list[Path], int, list[MalformedRow]]:
        """Write all monthly files; returns (files, rows written incl. malformed, malformed rows)."""
        order = np.argsort(data.file_ts, kind="stable")
        rendered: list[list[str | None]] = []
        for name, dtype in zip(self.names, self.types, strict=False):
            col = data.columns.get(name)
            if col is None:
                col = np.full(len(data), None, dtype=object)
            rendered.append(_render(np.asarray(col)[order], dtype))
        cells = [_encode_column(r, t, self.fmt) for r, t in zip(rendered, self.types, strict=False)]
        if self.fmt == "csv":
            lines = [",".join(row) for row in zip(*cells, strict=False)]
        else:
            template = self.template
            lines = [template % row for row in zip(*cells, strict=False)]
        months = month_index(data.file_ts[order])
        bounds = np.flatnonzero(np.diff(months)) + 1
        starts = np.concatenate([[0], bounds]).astype(int).tolist()
        ends = np.concatenate([bounds, [len(months)]]).astype(int).tolist()
        folder = self.landing_dir / self.contract.landing_path
        folder.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        malformed: list[MalformedRow] = []
        total = 0
        for s, e in zip(starts, ends, strict=False):
            if e <= s:
                continue
            m = int(months[s])
            label = f"{1970 + m // 12:04d}-{m % 12 + 1:02d}"
            path = folder / f"{self.contract.name}_{label}.{self.fmt}"
            rel = path.relative_to(self.landing_dir).as_posix()
            body, bad = self._with_malformed(lines[s:e], rendered, s, e, rel)
            header = [",".join(_csv_cell(n) for n in self.names)] if self.fmt == "csv" else []
            path.write_bytes(("\n".join(header + body) + "\n").encode("utf-8"))
            files.append(path)
            malformed.extend(bad)
            total += len(body)
            self.file_rows.append(len(body))
        return files, total, malformed

    # --------------------------------------------------------------------------- malformed rows

    def _with_malformed(
        self, lines: list[str], rendered: list[list[str | None]], s: int, e: int, rel: str
    ) -> tuple[list[str], list[MalformedRow]]:
        n = e - s
        if self.share <= 0:
            return lines, []
        expected = n * self.share
        k = int(expected) + int(self.rng.random() < expected - int(expected))
        if k == 0:
            return lines, []
        slots = np.sort(self.rng.choice(n + k, size=k, replace=False)).tolist()
        sources = self.rng.integers(s, e, size=k).tolist()
        out: list[str] = []
        bad: list[MalformedRow] = []
        it = iter(lines)
        slot_set = dict(zip(slots, sources, strict=False))
        first_line = 2 if self.fmt == "csv" else 1
        for pos in range(n + k):
            if pos in slot_set:
                line, kind, column = self._broken_row(rendered, slot_set[pos])
                out.append(line)
                bad.append(MalformedRow(rel, pos + first_line, kind, column))
            else:
                out.append(next(it))
        return out, bad

    def _broken_row(self, rendered: list[list[str | None]], src: int) -> tuple[str, str, str | None]:
        values = [col[src] for col in rendered]
        self._freshen_key(values)
        kinds = ["missing_key", "bad_value", "unparseable_line"]
        if self.fmt == "jsonl" and self._typed_columns():
            kinds.append("wrong_type")
        kind = kinds[int(self.rng.integers(len(kinds)))]
        cells = [_encode_cell(v, t, self.fmt) for v, t in zip(values, self.types, strict=False)]
        column: str | None = None
        if kind == "missing_key":
            column = self.contract.natural_key[int(self.rng.integers(len(self.contract.natural_key)))]
            cells[self.names.index(column)] = _encode_cell(None, "text", self.fmt)
        elif kind == "bad_value":
            candidates = [i for i, t in enumerate(self.types) if t in ("timestamptz", "date")]
            if self.fmt == "csv":
                candidates += [i for i, t in enumerate(self.types) if t in ("integer", "bigint", "numeric")]
            i = candidates[int(self.rng.integers(len(candidates)))]
            column = self.names[i]
            pool = BAD_TIMESTAMPS if self.types[i] in ("timestamptz", "date") else BAD_NUMBERS
            cells[i] = _encode_cell(pool[int(self.rng.integers(len(pool)))], "text", self.fmt)
        elif kind == "wrong_type":
            typed = self._typed_columns()
            i = typed[int(self.rng.integers(len(typed)))]
            column = self.names[i]
            cells[i] = WRONG_TYPE_VALUES[int(self.rng.integers(len(WRONG_TYPE_VALUES)))]
        line = self._line(cells)
        if kind == "unparseable_line":
            line = line + ",unexpected extra field" if self.fmt == "csv" else line[: max(8, len(line) // 2)]
        return line, kind, column

    def _typed_columns(self) -> list[int]:
        return [i for i, t in enumerate(self.types) if t in ("integer", "bigint", "numeric", "boolean")]

    def _freshen_key(self, values: list[str | None]) -> None:
        """Give the copied row a natural key no valid row uses."""
        self.fresh_counter += 1
        for name in self.contract.natural_key:
            i = self.names.index(name)
            dtype, v = self.types[i], values[i]
            if dtype == "date" or v is None:
                continue
            if dtype in ("integer", "bigint"):
                values[i] = str(2_000_000_000 + self.fresh_counter)
            elif re.fullmatch(r"[0-9a-f]{24}", v):
                values[i] = f"{v[:8]}badc0ffee0{self.fresh_counter % 0xFFFFFF:06x}"
            else:
                values[i] = f"{v}-x{self.fresh_counter}"
            return
