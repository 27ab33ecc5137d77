"""Metabase's data model for the marts the cards read: field ids for field filters, and dbt's documentation.

Field filters point at Metabase field ids, which exist only once Metabase has synced the warehouse. `resolve_fields`
reads the database metadata, asks for a schema sync when a table or column is missing and waits (with a timeout,
then one clear line). `export_descriptions` pushes the dbt model and column descriptions with dbt-metabase, each
mart's description followed by the definitions of the KPIs (semantic-layer metrics) computed from it, plus
semantic types derived from the semantic models (primary entity -> type/PK, text categorical dimension ->
type/Category with a value list, which makes the dashboard's string filters dropdowns). The semantic types go under
a column's `meta` in the manifest handed to dbt-metabase, not `config.meta` (dbt-metabase issue #335).
dbt-metabase runs on the provisioner's client (its timeouts, no redirects, redacted errors; dbt-metabase's own
client would log error bodies unredacted), finds the connection by the provisioner's id rather than by name, and
has its own schema-sync request skipped (resolve_fields has synced and waited), so an unchanged data model gets
no request that writes; it still pauses 5 s before reading the metadata (its `_SYNC_PERIOD`, which the tests set
to 0).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from orchestration.bi.metabase_client import Client, MetabaseError

log = logging.getLogger(__name__)

FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 5.0


def _fields(metadata: dict) -> tuple[set[str], dict[str, int]]:
    """Tables (`schema.table`) and field ids (`schema.table.column`) in a database metadata response."""
    tables: set[str] = set()
    fields: dict[str, int] = {}
    for table in metadata.get("tables") or []:
        name = f"{table.get('schema') or ''}.{table['name']}".lower()
        tables.add(name)
        for f in table.get("fields") or []:
            fields[f"{name}.{f['name']}".lower()] = f["id"]
    return tables, fields


def _missing(needed: Iterable[str], tables: set[str], fields: dict[str, int]) -> list[str]:
    out = []
    for column in sorted(needed):
        table = column.rsplit(".", 1)[0]
        if table not in tables:
            out.append(f"table {table}")
        elif column not in fields:
            out.append(f"column {column}")
    return sorted(set(out))


def resolve_fields(
    client: Client,
    database_id: int,
    database_name: str,
    needed: set[str],
    sync_timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, int], dict]:
    """Field ids of the `schema.table.column` names in `needed`, and the metadata they came from; syncs and
    waits when Metabase does not know them yet."""
    path = f"/api/database/{database_id}/metadata"
    metadata = client.get(path, include_hidden=True)
    tables, fields = _fields(metadata)
    missing = _missing(needed, tables, fields)
    if missing:
        client.request("POST", f"/api/database/{database_id}/sync_schema")
        deadline = time.monotonic() + sync_timeout
        pause = FIRST_POLL_SECONDS
        while missing and time.monotonic() < deadline:
            sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, MAX_POLL_SECONDS)
            metadata = client.get(path, include_hidden=True)
            tables, fields = _fields(metadata)
            missing = _missing(needed, tables, fields)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise MetabaseError(
            f"database {database_name!r} (id {database_id}): Metabase still has no {', '.join(missing[:3])}{more} "
            f"after a schema sync and {sync_timeout:g} s: build the marts, check that the connection's schema filter "
            f"includes their schema, or allow a longer sync_timeout"
        )
    return {name: fields[name.lower()] for name in needed}, metadata


# ---------------------------------------------------------------- dbt documentation -> Metabase


def mart_models(manifest: dict, tables: Iterable[str]) -> dict[str, dict]:
    """`schema.table` -> the dbt model node publishing it, for the given published names."""
    wanted = {t.split(".", 1)[1]: t for t in tables}
    out = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node.get("alias") in wanted:
            out[wanted[node["alias"]]] = node
    return out


def _published(node: dict) -> dict:
    """A copy of a manifest node under its published schema: the manifest is parsed for the write-audit-publish
    build (`marts__build`), Metabase sees the published tables (`marts`)."""
    from orchestration import publishing

    node = json.loads(json.dumps(node))
    schema = node.get("schema") or ""
    if schema.endswith(publishing.BUILD_SUFFIX):
        published = schema.removesuffix(publishing.BUILD_SUFFIX)
        node["schema"] = published
        if node.get("relation_name"):
            node["relation_name"] = node["relation_name"].replace(f'"{schema}"', f'"{published}"')
    return node


def display_name(model: str) -> str:
    """`fct_campaign_daily` -> "Campaign daily", `rpt_campaigns__data_loads` -> "Campaigns data loads"."""
    words = model.split("_", 1)[1] if model.split("_", 1)[0] in ("fct", "dim", "rpt") and "_" in model else model
    words = " ".join(w for w in words.split("_") if w)
    return words[:1].upper() + words[1:]


def documented_columns(models: dict[str, dict]) -> set[str]:
    return {f"{table}.{column}".lower() for table, node in models.items() for column in node.get("columns", {})}


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def enrich(manifest: dict, models: dict[str, dict], semantic_manifest: Path) -> dict:
    """A trimmed copy of the dbt manifest for dbt-metabase: the given models, each mart's description followed by
    the KPIs computed from it, and semantic types from the semantic models."""
    from orchestration.bi.compiler import SemanticLayer

    layer = SemanticLayer(semantic_manifest)
    kpis: dict[str, list[str]] = {}
    for name, metric in sorted(layer.metrics.items()):
        for model in sorted(layer.metric_models(name)):
            kpis.setdefault(layer.model_relation(model)[1], []).append(
                f"- **{metric.get('label') or name}** (`{name}`): {_one_line(metric.get('description') or '')}"
            )
    types: dict[str, dict[str, str]] = {}  # published table -> column -> semantic type
    for model in layer.raw["semantic_models"]:
        table = layer.model_relation(model["name"])[1]
        for entity in model["entities"]:
            if entity["type"] == "primary":
                types.setdefault(table, {})[(entity.get("expr") or entity["name"]).strip()] = "type/PK"
        for dim in model.get("dimensions") or []:
            if dim["type"].lower() == "categorical":
                types.setdefault(table, {}).setdefault((dim.get("expr") or dim["name"]).strip(), "type/Category")

    nodes = {}
    for table, node in models.items():
        node = _published(node)
        # A readable table name for business users; without one dbt-metabase resets Metabase's own
        # humanised name of a table with `__` in it on every run (a write on every second run).
        node.setdefault("meta", {}).setdefault("metabase.display_name", display_name(node["name"]))
        if kpis.get(table):
            node["description"] = (node.get("description") or "").rstrip() + (
                "\n\nKPIs computed from this table (definitions from the dbt Semantic Layer):\n"
                + "\n".join(kpis[table])
            )
        for column, spec in node.get("columns", {}).items():
            semantic = types.get(table, {}).get(column)
            if semantic is None or (spec.get("data_type") or "").lower() == "boolean":
                continue
            meta = spec.setdefault("meta", {})
            meta.setdefault("metabase.semantic_type", semantic)
            if semantic == "type/Category":
                meta.setdefault("metabase.has_field_values", "list")
        nodes[node["unique_id"]] = node
    child_map = manifest.get("child_map", {})
    for unique_id in list(nodes):  # relationship tests (foreign keys) and the models they point at
        for child in child_map.get(unique_id, []):
            test = manifest["nodes"].get(child)
            if test:
                nodes.setdefault(child, _published(test))
                for parent in test.get("depends_on", {}).get("nodes", []):
                    if parent in manifest["nodes"]:
                        nodes.setdefault(parent, _published(manifest["nodes"][parent]))
    return {
        "metadata": manifest.get("metadata", {}),
        "nodes": nodes,
        "sources": {},
        "child_map": {k: child_map.get(k, []) for k in nodes},
    }


def export_descriptions(
    client: Client,
    database_name: str,
    manifest: dict,
    semantic_manifest: Path,
    models: dict[str, dict],
    metadata: dict,
    database_id: int | None = None,
) -> list[str]:
    """Push descriptions and semantic types of the marts in `models` (`schema.table` -> dbt node of the dbt
    `manifest`) into Metabase with dbt-metabase; return the tables it changed (`schema.table`). `database_id` is
    the connection's id (else it is found by name, as dbt-metabase does)."""
    from dbtmetabase import DbtMetabase, Filter
    from dbtmetabase.errors import MetabaseStateError
    from dbtmetabase.manifest import Manifest
    from dbtmetabase.metabase import Metabase

    table_names = {t["id"]: f"{t.get('schema')}.{t['name']}".lower() for t in metadata.get("tables") or []}
    field_tables = {f["id"]: table_names[t["id"]] for t in metadata.get("tables") or [] for f in t.get("fields") or []}
    changed: set[str] = set()

    class SessionMetabase(Metabase):
        """dbt-metabase's Metabase client on our session (it would log in again); the sync already happened."""

        def __init__(self) -> None:  # Metabase.__init__ only logs in and sets these attributes
            self.url = client.url
            self.http_timeout = client.timeout

        def _api(self, method: str, path: str, params: dict[str, Any] | None = None, **kwargs: Any):
            result = client.request(method.upper(), path, kwargs.get("json"), params)
            if isinstance(result, dict) and "data" in result:  # as dbt-metabase's own _api unwraps list answers
                return result["data"]
            return result

        def find_database(self, name: str):
            if database_id is None:
                return super().find_database(name)
            return client.get(f"/api/database/{database_id}")

        def sync_database_schema(self, uid: str) -> None:
            pass  # resolve_fields synced and waited for every column of these models already

        def update_table(self, uid, body):
            changed.add(table_names.get(int(uid), str(uid)))
            return super().update_table(uid, body)

        def update_field(self, uid, body):
            changed.add(field_tables.get(int(uid), str(uid)))
            return super().update_field(uid, body)

    class Exporter(DbtMetabase):
        """DbtMetabase over the enriched manifest and our session (DbtMetabase.__init__ would log in again)."""

        def __init__(self, manifest_file: Path):
            self._exporter_manifest, self._exporter_metabase = Manifest(manifest_file), SessionMetabase()

        @property
        def manifest(self) -> Manifest:
            return self._exporter_manifest

        @property
        def metabase(self) -> Metabase:
            return self._exporter_metabase

    with tempfile.TemporaryDirectory(prefix="dbt-metabase-") as tmp:
        path = Path(tmp) / "manifest.json"
        path.write_text(json.dumps(enrich(manifest, models, semantic_manifest)))
        names = sorted(node["name"] for node in models.values())
        try:
            Exporter(path).export_models(
                metabase_database=database_name, model_filter=Filter(include=names), skip_sources=True, sync_timeout=0
            )
        except MetabaseStateError as exc:
            raise MetabaseError(f"dbt-metabase could not export the data model of {database_name!r}: {exc}") from None
    return sorted(changed)
