"""Who may see what in Metabase, as code: `metabase/access.yml` and the permission graphs it becomes.

Open-source Metabase offers groups, collection permissions (`read`/`write` per group and collection) and, per
database connection, whether a group may build queries (`create-queries`: `no`, `query-builder`,
`query-builder-and-native`); row and column security, blocking, impersonation, download limits and usage audit are
paid features (/work/shared/METABASE_API.md §14). So per-client isolation is done in PostgreSQL: each client gets
its own group, its own collection and its own database connection that logs in as the client's PostgreSQL login
role (made with `lead-analytics access add-client`), whose row-level security limits every query Metabase runs for
it. The provisioner (orchestration.bi.metabase) creates the groups, client connections and client collections
and writes only the graph cells of its own groups and objects, plus `All Users` on its own objects (a new
Metabase collection or connection is open to All Users, and every user is in All Users).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.bi.specs import KpiId, SpecError, _one_line, _read_yaml

ALL_USERS = 1  # Metabase's built-in group of every user (id 1 in every Metabase)
ACCESS_FILE = "access.yml"

CollectionAccess = Literal["none", "read", "write"]
Queries = Literal["no", "query-builder", "query-builder-and-native"]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")]


class GroupSpec(BaseModel):
    """A group of the organisation's own people (Executive, Manager, Agent, Admin)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    collections: CollectionAccess  # on the collections of the dashboards (not on the clients' collections)
    queries: Queries  # new questions on the warehouse connection


class ClientSpec(BaseModel):
    """A client organisation: its group, its collection and its connection as its PostgreSQL login role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)  # group "Client: <name>", collection "<name>", connection "<warehouse> (<name>)"
    organisation: str = Field(min_length=1)  # as given to `lead-analytics access add-client --organisation`
    workspace: str | None = None  # as given to `--workspace`, if the role is limited to one workspace
    role: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]  # the PostgreSQL login role (NAME)
    password_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]  # the variable holding its password
    queries: Literal["no", "query-builder"] = "query-builder"  # never native SQL for a client
    dashboards: list[str] = []  # keys of code dashboards copied into its collection, on its connection


class AccessSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[Key, GroupSpec]
    clients: dict[Key, ClientSpec] = {}
    kpis: list[KpiId] = []  # the inventory items (seed 001 access control) this file is

    @model_validator(mode="after")
    def _distinct(self) -> AccessSpec:
        clash = set(self.groups) & set(self.clients)
        if clash:
            raise ValueError(f"{min(clash)!r} is both a group and a client")
        names = [self.group_name(k) for k in (*self.groups, *self.clients)]
        if len({n.lower() for n in names}) != len(names):
            raise ValueError("two groups would have the same name (Metabase group names are unique)")
        return self

    def group_name(self, key: str) -> str:
        return self.groups[key].name if key in self.groups else f"Client: {self.clients[key].name}"


def load_access(path: Path) -> AccessSpec:
    data = _read_yaml(path)
    try:
        spec = AccessSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{path}: {_one_line(exc)}") from None
    return spec


COPY_MARK = "@"  # a client's copy of a card or dashboard is keyed `<key>@<client key>`


def client_of(key: str) -> str | None:
    """The client a card or dashboard key is a copy for, or None for the code's own."""
    return key.rsplit(COPY_MARK, 1)[1] if COPY_MARK in key else None


def with_client_copies(compiled: Any, spec: AccessSpec) -> Any:
    """The compiled specs plus, for each client, a copy of each dashboard it lists (and of the cards on it) in the
    client's collection: the provisioner runs those on the client's connection, so they show its rows only."""
    cards, dashboards = dict(compiled.cards), dict(compiled.dashboards)
    for client_key, client in sorted(spec.clients.items()):
        for key in client.dashboards:
            if key not in compiled.dashboards:
                raise SpecError(
                    f"access.yml: client {client_key}: no dashboard {key!r} "
                    f"(known: {', '.join(sorted(compiled.dashboards))})"
                )
            original = compiled.dashboards[key]
            placements = []
            for p in original.cards:
                if p.card is not None:
                    copy_key = f"{p.card}{COPY_MARK}{client_key}"
                    cards[copy_key] = compiled.cards[p.card].model_copy(update={"key": copy_key})
                    p = p.model_copy(update={"card": copy_key})
                placements.append(p)
            copy_key = f"{key}{COPY_MARK}{client_key}"
            dashboards[copy_key] = original.model_copy(
                update={"key": copy_key, "collection": client.name, "cards": placements}
            )
    return type(compiled)(cards=cards, dashboards=dashboards)


# ---------------------------------------------------------------- the cells it wants


def wanted_data(
    spec: AccessSpec, group_ids: dict[str, int], warehouse_db: int, client_dbs: dict[str, int]
) -> dict[int, dict[int, str]]:
    """group id -> database id -> create-queries, for the provisioner's groups and connections only."""
    dbs = [warehouse_db, *client_dbs.values()]
    out: dict[int, dict[int, str]] = {ALL_USERS: dict.fromkeys(dbs, "no")}
    for key, group in spec.groups.items():
        out[group_ids[key]] = {**dict.fromkeys(dbs, "no"), warehouse_db: group.queries}
    for key, client in spec.clients.items():
        out[group_ids[key]] = {**dict.fromkeys(dbs, "no"), client_dbs[key]: client.queries}
    return out


def wanted_collections(
    spec: AccessSpec, group_ids: dict[str, int], shared: list[int], client_collections: dict[str, int]
) -> dict[int, dict[int, str]]:
    """group id -> collection id -> read/write/none, for the provisioner's groups and collections only."""
    every = [*shared, *client_collections.values()]
    out: dict[int, dict[int, str]] = {ALL_USERS: dict.fromkeys(every, "none")}
    for key, group in spec.groups.items():
        out[group_ids[key]] = {**dict.fromkeys(every, "none"), **dict.fromkeys(shared, group.collections)}
    for key in spec.clients:
        out[group_ids[key]] = {**dict.fromkeys(every, "none"), client_collections[key]: "write"}
    return out


def data_changes(graph: dict, wanted: dict[int, dict[int, str]]) -> dict[str, dict[str, dict[str, str]]]:
    """The cells of a `GET /api/permissions/graph` answer that differ from `wanted`, as a partial graph."""
    changes: dict[str, dict[str, dict[str, str]]] = {}
    for gid, dbs in wanted.items():
        current = (graph.get("groups") or {}).get(str(gid)) or {}
        for db_id, create in dbs.items():
            cell = current.get(str(db_id)) or {}
            if cell.get("create-queries", "no") != create or cell.get("view-data", "unrestricted") != "unrestricted":
                changes.setdefault(str(gid), {})[str(db_id)] = {"view-data": "unrestricted", "create-queries": create}
    return changes


def collection_changes(graph: dict, wanted: dict[int, dict[int, str]]) -> dict[str, dict[str, str]]:
    """The cells of a `GET /api/collection/graph` answer that differ from `wanted` (a missing cell is `none`)."""
    changes: dict[str, dict[str, str]] = {}
    for gid, collections in wanted.items():
        current = (graph.get("groups") or {}).get(str(gid)) or {}
        for coll_id, perm in collections.items():
            if current.get(str(coll_id), "none") != perm:
                changes.setdefault(str(gid), {})[str(coll_id)] = perm
    return changes
