"""Raw-table contracts, read from the dbt source definitions (`models/staging/<source>/_<source>__sources.yml`).

The sources YAML is the single description of every raw table: its columns and types (for the
loader's validation and DDL), its natural key and version column (for upserts), where its files land
and in which format (for the loader, the generator and the sensor), and its documentation (for dbt).
Adding a table to a sources file is all it takes to get a raw table and a Dagster asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from orchestration import settings

LOADER_COLUMNS = ("_source_file", "_source_line", "_loaded_at")
SUPPORTED_TYPES = {"text", "integer", "bigint", "numeric", "boolean", "timestamptz", "date", "jsonb"}
VERSION_TYPES = {"timestamptz", "date", "integer", "bigint"}  # compared as values (instants), never as text


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str
    required: bool  # natural key, version column or meta.required: a null value rejects the row
    generated: str | None  # SQL expression of a GENERATED column (never loaded)


@dataclass(frozen=True)
class TableContract:
    source: str
    name: str
    schema: str
    description: str
    landing_path: str  # relative to the landing directory
    file_format: str  # "csv" or "jsonl"
    natural_key: tuple[str, ...]  # values are trimmed of surrounding white space; blank ones are rejected
    version_column: str | None  # the newest version of a key wins (compared as instants; ties: read last wins)
    columns: tuple[Column, ...]

    @property
    def key(self) -> str:
        """Asset-style key, e.g. `bison__email_events`."""
        return f"{self.source}__{self.name}"

    @property
    def qualified_name(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    @property
    def loadable_columns(self) -> tuple[Column, ...]:
        """Columns a landing file must carry: everything but generated and loader columns."""
        return tuple(c for c in self.columns if c.generated is None)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _parse_source(doc: dict) -> list[TableContract]:
    out = []
    for src in doc["sources"]:
        for tbl in src["tables"]:
            meta = tbl.get("meta", {})
            key = tuple(meta["natural_key"])
            version = meta.get("version_column")
            cols = []
            for c in tbl["columns"]:
                if c["name"] in LOADER_COLUMNS:
                    continue
                dtype = c["data_type"]
                if dtype not in SUPPORTED_TYPES:
                    raise ValueError(f"{src['name']}.{tbl['name']}.{c['name']}: unsupported data_type {dtype}")
                cmeta = c.get("meta", {})
                if c["name"] == version and dtype not in VERSION_TYPES:
                    raise ValueError(
                        f"{src['name']}.{tbl['name']}: version column {version} is {dtype}; "
                        f"it must be one of {', '.join(sorted(VERSION_TYPES))}"
                    )
                cols.append(
                    Column(
                        c["name"],
                        dtype,
                        c.get("description", ""),
                        required=c["name"] in key or c["name"] == version or bool(cmeta.get("required")),
                        generated=cmeta.get("generated"),
                    )
                )
            out.append(
                TableContract(
                    source=src["name"],
                    name=tbl["name"],
                    schema=src["schema"],
                    description=tbl.get("description", ""),
                    landing_path=meta["landing"]["path"],
                    file_format=meta["landing"]["format"],
                    natural_key=key,
                    version_column=version,
                    columns=tuple(cols),
                )
            )
    return out


@lru_cache(maxsize=1)
def all_contracts() -> tuple[TableContract, ...]:
    contracts: list[TableContract] = []
    for path in sorted(settings.STAGING_MODELS_DIR.glob("*/_*__sources.yml")):
        with path.open() as f:
            contracts.extend(_parse_source(yaml.safe_load(f)))
    return tuple(contracts)


def sources() -> list[str]:
    return sorted({c.source for c in all_contracts()})


def raw_schemas() -> list[str]:
    return sorted({c.schema for c in all_contracts()})


def get(source: str, name: str) -> TableContract:
    for c in all_contracts():
        if c.source == source and c.name == name:
            return c
    raise KeyError(f"no raw table {source}.{name} in the source contracts")
