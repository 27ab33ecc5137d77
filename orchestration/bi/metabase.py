"""Provision Metabase from the compiled card and dashboard specs, safely on an instance people also use.

`provision()` creates or updates the warehouse connection, one collection per dashboard `collection`, every card
(a native question whose filters are field filters on synced field ids) and every dashboard (tabs, text blocks,
cards, filters and their wiring, in one `PUT /api/dashboard/:id`), then pushes the dbt descriptions of the marts
the cards read into Metabase's data model (dbt-metabase). Rules (/work/shared/METABASE_API.md §13):

* Identity is the spec key (file stem), never the name: the provisioner records the id and entity_id of every
  object it creates in `raw_audit.metabase_objects` (orchestration.bi.metabase_state), so a card renamed in code
  is updated in place and keeps its id, links and subscriptions.
* It edits and archives only what it recorded. People's own questions, dashboards, dashcards, tabs and filters
  (even on the provisioner's dashboards) are left alone and listed in the report as `foreign`. Cards and
  dashboards it made that left the code are archived (Metabase 0.50+ Trash); one that someone archived or moved
  out of its collection is put back, keeping its id. A card someone moved into the dashboard that shows it
  (a 0.53+ dashboard question) stays there.
* Tabs come from the spec, by key; tabs it did not create are kept, and it never sends `tabs: []` to a dashboard
  that has tabs (Metabase would silently delete them and their cards).
* A second run with unchanged specs sends no write at all, judged on what Metabase returns (it normalises
  settings on read), not on the request body.
* Words come from settings: `{timezone}` in card, dashboard and text-block texts becomes the reporting time
  zone, and a card's Metabase description is its subtitle, its notes and the dashboard filters it ignores, with
  the reason (`worded()`).

Configuration: `METABASE_URL`, `METABASE_USER`, `METABASE_PASSWORD`. The warehouse connection logs in as
`reporting_reader` by default (`warehouse_database_settings`); a connection as a superuser, a role with createrole
or bypassrls, or the warehouse owner is refused unless `METABASE_DB_ALLOW_PRIVILEGED=1` (D184). Every failure
surfaces as one line:
`MetabaseError: PUT /api/card/12 → 400: <message>`. Tested against tests/fake_metabase.py, not a live Metabase.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration import settings
from orchestration.access import READER, reader_password
from orchestration.bi import metabase_access as access_rules
from orchestration.bi import metabase_payloads as payloads
from orchestration.bi import words
from orchestration.bi.compiled import CompiledCard
from orchestration.bi.compiler import CompiledSpecs, compile_specs
from orchestration.bi.metabase_access import ACCESS_FILE, AccessSpec, load_access
from orchestration.bi.metabase_client import DEFAULT_TIMEOUT_SECONDS, Client, MetabaseError
from orchestration.bi.metabase_payloads import filter_id, tag_id
from orchestration.bi.metabase_state import Record, WarehouseState, instance_key
from orchestration.bi.specs import DashboardSpec, SpecError
from orchestration.dbt_project import SEMANTIC_MANIFEST, ensure_manifest

__all__ = [
    "AccessSpec",
    "DatabaseSettings",
    "MetabaseError",
    "ProvisionReport",
    "filter_id",
    "instance_key",
    "is_configured",
    "load_access",
    "provision",
    "tag_id",
    "warehouse_database_settings",
]

DEFAULT_COLLECTION = "Lead Analytics"  # for cards that are on no dashboard
DEFAULT_SYNC_TIMEOUT_SECONDS = 120
ENV_ALLOW_PRIVILEGED = "METABASE_DB_ALLOW_PRIVILEGED"  # "1": may connect Metabase as a superuser or the owner


def is_configured() -> bool:
    """True when METABASE_URL, METABASE_USER and METABASE_PASSWORD are all set."""
    return all(os.environ.get(k) for k in ("METABASE_URL", "METABASE_USER", "METABASE_PASSWORD"))


@dataclass(frozen=True)
class DatabaseSettings:
    """The warehouse as Metabase should connect to it (Metabase needs TCP, not a unix socket)."""

    name: str
    host: str
    port: int
    dbname: str
    user: str
    password: str = field(repr=False)  # never in a traceback or a log line
    schemas: tuple[str, ...] = ("marts",)  # sync only these schemas
    ssl: bool = False

    def for_client(self, name: str, role: str, password: str) -> DatabaseSettings:
        """The same warehouse, logged in as a client's own PostgreSQL role (row security applies to it)."""
        return DatabaseSettings(
            name=f"{self.name} ({name})",
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=role,
            password=password,
            schemas=self.schemas,
            ssl=self.ssl,
        )

    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
            "ssl": self.ssl,
        }
        if self.schemas:
            details["schema-filters-type"] = "inclusion"
            details["schema-filters-patterns"] = ",".join(self.schemas)
        return details


def warehouse_database_settings(
    info: Any, environ: Mapping[str, str] | None = None, config: settings.Settings | None = None
) -> DatabaseSettings:
    """How Metabase reaches the warehouse `info` points at: `METABASE_DB_*` variables, else the warehouse's own TCP
    address, logged in as `reporting_reader` with the password the project keeps for it (`access.reader_password`).
    `METABASE_DB_USER` names another login, whose password is then `METABASE_DB_PASSWORD` (the warehouse's own for
    its owner). MetabaseError, in one line, when there is no TCP address or no password."""
    env = os.environ if environ is None else environ
    host = env.get("METABASE_DB_HOST") or info.host
    if host.startswith("/"):
        raise MetabaseError(
            "Metabase needs a TCP address for the warehouse, but the embedded warehouse listens on a unix socket: "
            "set METABASE_DB_HOST (and METABASE_DB_PORT) or use an external warehouse"
        )
    user = env.get("METABASE_DB_USER") or READER
    password = env.get("METABASE_DB_PASSWORD") if env.get("METABASE_DB_USER") else None
    if not password:
        if user == READER:
            password = reader_password(config)
        elif user == info.user and info.password:
            password = info.password
        else:
            raise MetabaseError(f"METABASE_DB_USER is {user!r}: set METABASE_DB_PASSWORD to its password")
    return DatabaseSettings(
        name=env.get("METABASE_DB_NAME_IN_METABASE") or "Lead Analytics warehouse",
        host=host,
        port=int(env.get("METABASE_DB_PORT") or info.port),
        dbname=env.get("METABASE_DB_DATABASE") or info.dbname,
        user=user,
        password=password,
        ssl=env.get("METABASE_DB_SSL", "").strip().lower() in ("1", "true", "yes"),
    )


@dataclass
class ProvisionReport:
    """What a run did, as `kind:key` entries (kind = database, collection, card, dashboard, datamodel), plus what
    it found and left alone (`foreign`: people's objects in its collections) and notes worth reading."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("created", "updated", "unchanged", "archived")}

    def summary(self) -> str:
        text = ", ".join(f"{n} {k}" for k, n in self.counts().items())
        return text + (f"; left {len(self.foreign)} objects of other people alone" if self.foreign else "")


def _label(kind: str, key: str) -> str:
    return f"{kind}:{key}"


class _Run:
    """One provisioning run: the client, the state records, the report and the ids found or created so far."""

    def __init__(self, client: Client, compiled: CompiledSpecs, store: WarehouseState, adopt: bool):
        self.client = client
        self.compiled = compiled
        self.store = store
        self.instance = instance_key(client.url)
        self.records = store.load(self.instance)
        self.adopt = adopt
        self.report = ProvisionReport()
        self.collection_ids: dict[str, int] = {}
        self.collection_keys: dict[str, str] = {}  # collection name -> record key, where they differ (clients')
        self.client_db_ids: dict[str, int] = {}  # client key -> its connection
        self.client_field_ids: dict[str, dict[str, int]] = {}  # client key -> field ids on its connection
        self.card_ids: dict[str, int] = {}
        self.field_ids: dict[str, int] = {}
        self.metadata: dict = {}
        self._manifest: dict | None = None

    # ------------------------------------------------------------ state

    def record(self, kind: str, key: str) -> Record | None:
        return self.records.get((kind, key))

    def remember(self, record: Record) -> None:
        self.records[(record.kind, record.key)] = record
        self.store.save(self.instance, record)

    def fetch_own(self, kind: str, record: Record | None) -> dict | None:
        """The recorded object as Metabase has it now, or None when it is gone or is no longer the object the
        provisioner made (same id, other entity_id: Metabase was restored or reset); such an id is not touched."""
        if record is None:
            return None
        params = {"legacy-mbql": True} if kind == "card" else {}
        obj = self.client.maybe_get(f"/api/{kind}/{record.metabase_id}", **params)
        if obj is None:
            self.report.notes.append(f"{kind} {record.key}: id {record.metabase_id} no longer exists in Metabase")
            return None
        made = (record.detail or {}).get("created_at")
        if (record.entity_id and obj.get("entity_id") != record.entity_id) or (made and obj.get("created_at") != made):
            self.report.notes.append(
                f"{kind} {record.key}: id {record.metabase_id} is now another object "
                f"({obj.get('name')!r}); left it alone"
            )
            return None
        return obj

    # ------------------------------------------------------------ lost state, adoption

    def _collection_by_name(self, name: str) -> dict | None:
        found = [
            c
            for c in self.client.get("/api/collection")
            if isinstance(c.get("id"), int)
            and c.get("name") == name
            and not c.get("archived")
            and c.get("personal_owner_id") is None
            and c.get("location") == "/"
        ]
        return min(found, key=lambda c: c["id"]) if found else None

    def items(self, collection_id: int) -> list[dict]:
        """Cards and dashboards of a collection, including cards that live inside a dashboard (0.53+ hides those
        unless asked)."""
        result = self.client.get(
            f"/api/collection/{collection_id}/items", models=["card", "dashboard"], show_dashboard_questions=True
        )
        items = result.get("data", []) if isinstance(result, dict) else result
        return [i for i in items if i.get("model") in ("card", "dashboard") and not i.get("archived")]

    def check_state(self) -> None:
        """With no record of this Metabase, objects named like the specs mean a lost state table (or the old
        name-matching provisioner): stop before duplicating them, or take them over by name if asked."""
        if any(r.kind in ("card", "dashboard") for r in self.records.values()):
            return
        own = {k: c for k, c in self.compiled.cards.items() if access_rules.client_of(k) is None}
        own_dashboards = {k: d for k, d in self.compiled.dashboards.items() if access_rules.client_of(k) is None}
        wanted = {("card", c.name): k for k, c in own.items()}
        wanted.update({("dashboard", d.name): k for k, d in own_dashboards.items()})
        names = sorted(
            {
                *(c for k, c in self.card_collections().items() if k in own),
                *(d.collection for d in own_dashboards.values()),
            }
        )
        clashes: dict[tuple[str, str], list[dict]] = {}
        for name in names:
            coll = self._collection_by_name(name)
            for item in self.items(coll["id"]) if coll else []:
                kind = item["model"]
                if (kind, item["name"]) in wanted:
                    clashes.setdefault((kind, wanted[(kind, item["name"])]), []).append(item)
        if not clashes:
            return
        if not self.adopt:
            (kind, key), found = min(clashes.items())
            raise MetabaseError(
                f"no record of {self.instance} in raw_audit.metabase_objects, but Metabase already has "
                f"{len(clashes)} card(s)/dashboard(s) named like the specs (e.g. {kind} {found[0]['name']!r}): restore "
                f"the table, or run once with adopt=True (METABASE_ADOPT=1) to take them over by name; nothing written"
            )
        for (kind, key), found in sorted(clashes.items()):
            if len(found) > 1:
                raise MetabaseError(
                    f"cannot adopt {kind} {key}: {len(found)} objects are named "
                    f"{found[0]['name']!r} (ids {', '.join(str(i['id']) for i in found)}); "
                    f"archive the extra ones first"
                )
            obj = self.client.get(f"/api/{kind}/{found[0]['id']}")
            self.remember(Record(kind, key, obj["id"], obj.get("entity_id"), origin="adopted"))
            self.report.notes.append(f"adopted {kind} {key} (id {obj['id']}) by its name {obj['name']!r}")

    # ------------------------------------------------------------ database, fields, collections

    def ensure_database(self, db: DatabaseSettings, key: str | None = None) -> int:
        """The connection this provisioner recorded making (by id, never by name), brought up to date; a
        connection of people's, even one with the same name, is never edited (unless adopt=True takes it over)."""
        key = key or db.name
        label = _label("database", key)
        self.client.redact.add(db.password)
        wanted = db.details()
        password = self.client.fingerprint(db.password)  # Metabase never returns a password: a keyed hash tells
        record = self.record("database", key)  # whether it changed (a rotated client password)
        found = self.fetch_own("database", record)
        if found is None:
            databases = self.client.get("/api/database")
            databases = databases.get("data", []) if isinstance(databases, dict) else databases
            theirs = sorted((d for d in databases if d.get("name") == db.name), key=lambda d: d["id"])
            if theirs and not self.adopt:
                raise MetabaseError(
                    f"Metabase already has a database connection named {db.name!r} (id {theirs[0]['id']}) that this "
                    f"provisioner did not create: left it alone; name ours otherwise (METABASE_DB_NAME_IN_METABASE) or "
                    f"take that one over once with adopt=True (METABASE_ADOPT=1)"
                )
            if theirs:  # taken over as it is, its password assumed to be the one configured
                found = theirs[0]
                record = Record(
                    "database",
                    key,
                    found["id"],
                    found.get("entity_id"),
                    origin="adopted",
                    detail={"created_at": found.get("created_at"), "password": password},
                )
                self.remember(record)
                self.report.notes.append(f"adopted database connection {db.name!r} (id {found['id']}) by its name")
            else:
                created = self.client.request(
                    "POST", "/api/database", {"name": db.name, "engine": "postgres", "details": wanted}
                )
                self.remember(
                    Record(
                        "database",
                        key,
                        created["id"],
                        created.get("entity_id"),
                        detail={"created_at": created.get("created_at"), "password": password},
                    )
                )
                self.report.created.append(label)
                return created["id"]
        assert record is not None
        public = {k: v for k, v in wanted.items() if k != "password"}
        if (
            payloads.covers(found.get("details") or {}, public)
            and found.get("name") == db.name
            and record.detail.get("password") == password
        ):
            self.report.unchanged.append(label)
        else:
            self.client.request(
                "PUT", f"/api/database/{found['id']}", {"name": db.name, "details": wanted, "engine": "postgres"}
            )
            self.report.updated.append(label)
            record.detail = {**record.detail, "password": password}
            self.remember(record)
        return found["id"]

    def database_of(self, card_key: str, warehouse_db: int) -> tuple[int, dict[str, int]]:
        """The connection a card runs on and its field ids: a client's copy runs on the client's connection."""
        client = access_rules.client_of(card_key)
        if client is None:
            return warehouse_db, self.field_ids
        return self.client_db_ids[client], self.client_field_ids[client]

    def resolve_client_fields(self, spec: AccessSpec, db: DatabaseSettings, sync_timeout: float) -> None:
        """Field ids on each client connection that shows copies (Metabase syncs each connection on its own)."""
        from orchestration.bi import metabase_datamodel as datamodel

        for client in sorted(self.client_db_ids):
            needed = {
                t.field.qualified
                for k, c in self.compiled.cards.items()
                if access_rules.client_of(k) == client
                for t in c.tags
                if t.field is not None
            }
            name = db.for_client(spec.clients[client].name, spec.clients[client].role, "").name
            self.client_field_ids[client] = (
                datamodel.resolve_fields(self.client, self.client_db_ids[client], name, needed, sync_timeout)[0]
                if needed
                else {}
            )

    def resolve_fields(self, database_id: int, database_name: str, sync_timeout: float) -> None:
        from orchestration.bi import metabase_datamodel as datamodel

        needed = {t.field.qualified for c in self.compiled.cards.values() for t in c.tags if t.field is not None}
        needed |= datamodel.documented_columns(self.mart_models())
        self.field_ids, self.metadata = datamodel.resolve_fields(
            self.client, database_id, database_name, needed, sync_timeout
        )

    def marts(self) -> list[str]:
        return sorted({r for c in self.compiled.cards.values() for r in c.relations})

    def mart_models(self) -> dict[str, dict]:
        from orchestration.bi import metabase_datamodel as datamodel

        if self._manifest is None:
            self._manifest = _dbt_manifest()
        return datamodel.mart_models(self._manifest, self.marts())

    def ensure_collection(self, name: str, key: str | None = None) -> int:
        """The top-level collection this provisioner recorded making; a collection of people's with that name is
        not used (unless adopt=True takes it over). Never renamed or moved."""
        key = key or self.collection_keys.get(name, name)
        if key in self.collection_ids:
            return self.collection_ids[key]
        label = _label("collection", key)
        coll = self.fetch_own("collection", self.record("collection", key))
        if coll is not None and coll.get("archived"):
            self.client.request("PUT", f"/api/collection/{coll['id']}", {"archived": False})
            self.report.updated.append(label)
            self.report.notes.append(f"collection {name!r} was in the Trash: restored it")
        elif coll is not None:
            self.report.unchanged.append(label)
        else:
            coll = self._collection_by_name(name)
            if coll is not None and not self.adopt:
                raise MetabaseError(
                    f"Metabase already has a collection named {name!r} (id {coll['id']}) that this provisioner did not "
                    f"create: left it alone; rename one of them, or take it over once with adopt=True "
                    f"(METABASE_ADOPT=1)"
                )
            if coll is not None:
                self.remember(Record("collection", key, coll["id"], coll.get("entity_id"), origin="adopted"))
                self.report.unchanged.append(label)
            else:
                coll = self.client.request("POST", "/api/collection", {"name": name, "parent_id": None})
                self.remember(Record("collection", key, coll["id"], coll.get("entity_id")))
                self.report.created.append(label)
        self.collection_ids[key] = coll["id"]
        return coll["id"]

    # ------------------------------------------------------------ groups and permissions (metabase/access.yml)

    def ensure_group(self, key: str, name: str, groups: dict[int, dict]) -> int:
        """The group this provisioner recorded making; a group of people's with that name is not used (unless
        adopt=True). Metabase group names are unique, so a clash is one line, not a second group."""
        label = _label("group", key)
        record = self.record("group", key)
        if record is not None and record.metabase_id in groups:
            self.report.unchanged.append(label)
            if groups[record.metabase_id].get("name") != name:
                self.report.notes.append(
                    f"group {key} is named {groups[record.metabase_id].get('name')!r} in "
                    f"Metabase, {name!r} in access.yml: not renamed"
                )
            return record.metabase_id
        theirs = [g for g in groups.values() if str(g.get("name", "")).lower() == name.lower()]
        if theirs and not self.adopt:
            raise MetabaseError(
                f"Metabase already has a group named {name!r} (id {theirs[0]['id']}) that this "
                f"provisioner did not create: left it alone; rename one of them, or take it over once "
                f"with adopt=True (METABASE_ADOPT=1)"
            )
        if theirs:
            group, origin = theirs[0], "adopted"
            self.report.unchanged.append(label)
        else:
            group, origin = self.client.request("POST", "/api/permissions/group", {"name": name}), "created"
            self.report.created.append(label)
        self.remember(Record("group", key, group["id"], None, origin=origin))
        return group["id"]

    def _write_graph(self, path: str, changes_of: Any) -> int:
        """Read the graph, write only the differing cells with its revision; on a 409 (somebody else wrote in
        between) read again and retry once. Returns the number of cells written."""
        for attempt in (1, 2):
            graph = self.client.get(path)
            changes = changes_of(graph)
            if not changes:
                return 0
            try:
                self.client.request("PUT", path, {"revision": graph.get("revision"), "groups": changes})
                return sum(len(cells) for cells in changes.values())
            except MetabaseError as exc:
                if "→ 409:" not in str(exc):
                    raise
                if attempt == 2:
                    raise MetabaseError(
                        f"PUT {path} → 409: the permissions changed again while they were being "
                        f"written (revision {graph.get('revision')}); nothing written, "
                        f"run again"
                    ) from None
        return 0

    def apply_access(self, spec: AccessSpec, db: DatabaseSettings, warehouse_db: int) -> None:
        """Groups, client connections and collections, and the data and collection permissions of access.yml."""
        client_dbs: dict[str, int] = {}
        for key, client in sorted(spec.clients.items()):
            password = os.environ.get(client.password_env)
            if not password:
                raise MetabaseError(
                    f"client {key}: set {client.password_env} to the password of PostgreSQL role "
                    f"{client.role!r} (made with `lead-analytics access add-client {client.role} "
                    f"--organisation ... --password-env {client.password_env}`)"
                )
            client_dbs[key] = self.ensure_database(db.for_client(client.name, client.role, password), f"client:{key}")
        self.client_db_ids = client_dbs
        client_collections = {
            key: self.ensure_collection(client.name, f"client:{key}") for key, client in sorted(spec.clients.items())
        }
        shared = sorted(i for k, i in self.collection_ids.items() if not k.startswith("client:"))
        groups = {g["id"]: g for g in self.client.get("/api/permissions/group")}
        group_ids = {key: self.ensure_group(key, spec.group_name(key), groups) for key in [*spec.groups, *spec.clients]}
        data = access_rules.wanted_data(spec, group_ids, warehouse_db, client_dbs)
        colls = access_rules.wanted_collections(spec, group_ids, shared, client_collections)
        written = self._write_graph("/api/permissions/graph", lambda g: access_rules.data_changes(g, data))
        (self.report.updated if written else self.report.unchanged).append("permissions:data")
        written = self._write_graph("/api/collection/graph", lambda g: access_rules.collection_changes(g, colls))
        (self.report.updated if written else self.report.unchanged).append("permissions:collections")
        root = (self.client.get("/api/collection/graph").get("groups") or {}).get(str(access_rules.ALL_USERS), {})
        if spec.clients and root.get("root", "none") != "none":
            self.report.notes.append(
                "All Users may see the root collection (Our analytics): client users see what is "
                "saved there; restrict it under Admin > Permissions > Collections"
            )

    # ------------------------------------------------------------ cards

    def card_collections(self) -> dict[str, str]:
        """Card key → collection name: that of the dashboards showing it, else DEFAULT_COLLECTION."""
        out: dict[str, str] = {}
        for dashboard in self.compiled.dashboards.values():
            for p in dashboard.cards:
                if p.card is not None and out.setdefault(p.card, dashboard.collection) != dashboard.collection:
                    raise SpecError(
                        f"card {p.card} is on dashboards in two collections ({out[p.card]!r}, {dashboard.collection!r})"
                    )
        return {key: out.get(key, DEFAULT_COLLECTION) for key in self.compiled.cards}

    def _home_dashboard(self, card_key: str, dashboard_id: int | None) -> bool:
        """The card lives inside the one dashboard of ours that shows it: Metabase keeps it there, so do we (a
        card inside a dashboard cannot be placed on another one)."""
        if dashboard_id is None:
            return False
        showing = [key for key, d in self.compiled.dashboards.items() if any(p.card == card_key for p in d.cards)]
        record = self.record("dashboard", showing[0]) if len(showing) == 1 else None
        return record is not None and record.metabase_id == dashboard_id

    def sync_card(self, card: CompiledCard, database_id: int, collection_id: int) -> None:
        label = _label("card", card.key)
        record = self.record("card", card.key)
        existing = self.fetch_own("card", record)
        database_id, field_ids = self.database_of(card.key, database_id)
        if existing is None:
            created = self.client.request(
                "POST", "/api/card", payloads.card_payload(card, database_id, collection_id, field_ids)
            )
            self.remember(Record("card", card.key, created["id"], created.get("entity_id")))
            self.card_ids[card.key] = created["id"]
            self.report.created.append(label)
            return
        self.card_ids[card.key] = existing["id"]
        at_home = self._home_dashboard(card.key, existing.get("dashboard_id"))
        payload = payloads.card_payload(card, database_id, None if at_home else collection_id, field_ids)
        diffs = payloads.card_differences(payload, existing)
        if existing.get("archived"):
            payload["archived"] = False
            self.report.notes.append(f"card {card.key} was in the Trash: restored it (id {existing['id']})")
            diffs.append("archived")
        if existing.get("dashboard_id") is not None and not at_home:
            payload.update({"dashboard_id": None, "collection_id": collection_id})
            self.report.notes.append(
                f"card {card.key} had been moved into dashboard {existing['dashboard_id']}: "
                f"moved it back to its collection"
            )
            diffs.append("dashboard_id")
        if diffs:
            self.client.request("PUT", f"/api/card/{existing['id']}", payload)
            self.report.updated.append(label)
        else:
            self.report.unchanged.append(label)
        if not record.in_code:
            record.in_code = True
            self.remember(record)

    # ------------------------------------------------------------ dashboards

    def _dashboard_body(
        self, dashboard: DashboardSpec, existing: dict, detail: dict, collection_id: int
    ) -> dict[str, Any]:
        """The one PUT that makes the dashboard match its spec while keeping everything of other people."""
        current_tabs = sorted(existing.get("tabs") or [], key=lambda t: (t.get("position", 0), t["id"]))
        current = {dc["id"]: dc for dc in existing.get("dashcards") or []}
        our_tabs: dict[str, int] = detail.get("tabs", {})
        our_dashcards: dict[str, int] = detail.get("dashcards", {})
        if "dashcards" not in detail:  # adopted: its tabs named like the spec's, dashcards showing our cards and
            by_name = {t["name"]: t["id"] for t in reversed(current_tabs)}  # text boxes count as ours
            our_tabs = {t.key: by_name[t.name] for t in dashboard.tabs if t.name in by_name}
            our_dashcards = self._claim(dashboard, current)
        foreign = [dc for i, dc in current.items() if i not in set(our_dashcards.values())]

        tabs: list[dict[str, Any]] = []
        tab_ids: dict[str, int] = {}
        current_tab_ids = {t["id"] for t in current_tabs}
        for n, tab in enumerate(dashboard.tabs, start=1):
            tab_id = our_tabs.get(tab.key) if our_tabs.get(tab.key) in current_tab_ids else -n
            tab_ids[tab.key] = tab_id
            tabs.append({"id": tab_id, "name": tab.name})
        holding_foreign = {dc.get("dashboard_tab_id") for dc in foreign}
        # somebody else's tab, or one of ours that still holds somebody else's cards
        tabs.extend(
            {"id": tab["id"], "name": tab["name"]}
            for tab in current_tabs
            if tab["id"] not in tab_ids.values()
            and (tab["id"] not in our_tabs.values() or tab["id"] in holding_foreign)
        )
        kept_tabs = {t["id"] for t in tabs}
        first_tab = tabs[0]["id"] if tabs else None

        parameters = payloads.dashboard_parameters(dashboard, self.compiled.cards)
        ours = set(detail.get("parameters", [])) | {p["id"] for p in parameters}
        parameters += [p for p in existing.get("parameters") or [] if p.get("id") not in ours]
        parameter_ids = {p["id"] for p in parameters}

        dashcards: list[dict[str, Any]] = []
        for n, (slot, p) in enumerate(payloads.placement_slots(dashboard), start=1):
            now = current.get(our_dashcards.get(slot))
            if dashboard.tabs:
                tab_id = tab_ids[p.tab]
            else:
                tab_id = now.get("dashboard_tab_id") if now and now.get("dashboard_tab_id") in kept_tabs else first_tab
            keeps_id = now is not None and (now.get("dashboard_tab_id") is None or now["dashboard_tab_id"] in kept_tabs)
            dashcard: dict[str, Any] = {
                "id": now["id"] if keeps_id else -n,
                "dashboard_tab_id": tab_id,
                "row": p.row,
                "col": p.col,
                "size_x": p.size_x,
                "size_y": p.size_y,
                "series": [],
            }
            if p.card is not None:
                card_id = self.card_ids[p.card]
                dashcard.update(
                    {
                        "card_id": card_id,
                        "visualization_settings": {},
                        "parameter_mappings": payloads.mappings(dashboard, p, self.compiled.cards[p.card], card_id),
                    }
                )
            else:
                dashcard.update(
                    {
                        "card_id": None,
                        "parameter_mappings": [],
                        "visualization_settings": payloads.text_settings(p.text or ""),
                    }
                )
            dashcards.append(dashcard)
        for dc in foreign:
            view = payloads.dashcard_view(dc)
            view["parameter_mappings"] = [
                m for m in view["parameter_mappings"] if m.get("parameter_id") in parameter_ids
            ]
            if view.get("dashboard_tab_id") is None and tabs:
                view["dashboard_tab_id"] = first_tab
            dashcards.append(view)
        return {
            "name": dashboard.name,
            "description": dashboard.description or None,
            "collection_id": collection_id,
            "parameters": parameters,
            "tabs": tabs,
            "dashcards": dashcards,
        }

    def _claim(self, dashboard: DashboardSpec, current: dict[int, dict]) -> dict[str, int]:
        """For an adopted dashboard: its dashcards showing the spec's cards, and its text boxes, in order."""
        by_card: dict[Any, list[int]] = {}
        for dc in sorted(current.values(), key=lambda d: (d.get("row", 0), d.get("col", 0), d["id"])):
            by_card.setdefault(dc.get("card_id"), []).append(dc["id"])
        claimed = {}
        for slot, p in payloads.placement_slots(dashboard):
            ids = by_card.get(self.card_ids.get(p.card) if p.card else None)
            if ids:
                claimed[slot] = ids.pop(0)
        return claimed

    @staticmethod
    def _unchanged(body: dict, existing: dict) -> bool:
        current_tabs = sorted(existing.get("tabs") or [], key=lambda t: (t.get("position", 0), t["id"]))
        return (
            existing.get("name") == body["name"]
            and (existing.get("description") or None) == body["description"]
            and existing.get("collection_id") == body["collection_id"]
            and not existing.get("archived")
            and payloads.covers(existing.get("parameters") or [], body["parameters"])
            and [(t["id"], t["name"]) for t in current_tabs] == [(t["id"], t["name"]) for t in body["tabs"]]
            and all(dc["id"] > 0 for dc in body["dashcards"])
            and payloads.dashcards_match(existing.get("dashcards") or [], body["dashcards"])
        )

    def sync_dashboard(self, dashboard: DashboardSpec) -> None:
        label = _label("dashboard", dashboard.key)
        collection_id = self.ensure_collection(dashboard.collection)
        record = self.record("dashboard", dashboard.key)
        existing = self.fetch_own("dashboard", record)
        created, restored = existing is None, False
        if created:
            existing = self.client.request(
                "POST",
                "/api/dashboard",
                {"name": dashboard.name, "description": dashboard.description or None, "collection_id": collection_id},
            )
            record = Record("dashboard", dashboard.key, existing["id"], existing.get("entity_id"))
            self.remember(record)
        elif existing.get("archived"):  # Metabase refuses dashcard edits on an archived dashboard: restore first
            self.client.request("PUT", f"/api/dashboard/{existing['id']}", {"archived": False})
            existing = self.client.get(f"/api/dashboard/{existing['id']}")
            restored = True
            self.report.notes.append(f"dashboard {dashboard.key} was in the Trash: restored it (id {existing['id']})")
        assert record is not None
        body = self._dashboard_body(dashboard, existing, record.detail, collection_id)
        if not created and self._unchanged(body, existing):
            (self.report.updated if restored else self.report.unchanged).append(label)
            detail = self._detail(dashboard, body, existing)
        else:
            result = self.client.request("PUT", f"/api/dashboard/{existing['id']}", body)
            (self.report.created if created else self.report.updated).append(label)
            detail = self._detail(dashboard, body, result)
        if detail != record.detail or not record.in_code:
            record.detail, record.in_code = detail, True
            self.remember(record)

    def _detail(self, dashboard: DashboardSpec, body: dict, result: dict) -> dict[str, Any]:
        """Tab, dashcard and filter ids of the dashboard as Metabase now has it (new objects get real ids)."""
        result_tabs = sorted(result.get("tabs") or [], key=lambda t: (t.get("position", 0), t["id"]))
        real_tab = {sent["id"]: got["id"] for sent, got in zip(body["tabs"], result_tabs, strict=False)}
        tabs = {t.key: real_tab[sent["id"]] for t, sent in zip(dashboard.tabs, body["tabs"], strict=False)}
        placed = {
            (dc.get("dashboard_tab_id"), dc["row"], dc["col"], dc.get("card_id")): dc["id"]
            for dc in result.get("dashcards") or []
        }
        dashcards = {}
        for (slot, _), sent in zip(payloads.placement_slots(dashboard), body["dashcards"], strict=False):
            tab = real_tab.get(sent["dashboard_tab_id"], sent["dashboard_tab_id"])
            kept = sent["id"] > 0 and any(dc["id"] == sent["id"] for dc in result.get("dashcards") or [])
            found = sent["id"] if kept else placed.get((tab, sent["row"], sent["col"], sent["card_id"]))
            if found is None:
                raise MetabaseError(
                    f"PUT /api/dashboard/{result['id']} → 200, but the response lacks the dashcard "
                    f"for {slot} at row {sent['row']}, col {sent['col']}"
                )
            dashcards[slot] = found
        return {
            "tabs": tabs,
            "dashcards": dashcards,
            "parameters": [filter_id(dashboard.key, f.slug) for f in dashboard.filters],
        }

    # ------------------------------------------------------------ retiring, audit

    def retire(self) -> None:
        """Archive the cards and dashboards this provisioner made whose specs are gone."""
        for kind, specs in (("dashboard", self.compiled.dashboards), ("card", self.compiled.cards)):
            for record in sorted((r for r in self.records.values() if r.kind == kind), key=lambda r: r.key):
                if not record.in_code or record.key in specs:
                    continue
                obj = self.fetch_own(kind, record)
                if obj is not None and not obj.get("archived"):
                    ours = set((record.detail or {}).get("dashcards", {}).values())
                    others = [dc for dc in obj.get("dashcards") or [] if dc["id"] not in ours]
                    if kind == "dashboard" and others:
                        self.report.notes.append(
                            f"dashboard {record.key} left the code but holds {len(others)} "
                            f"card(s) someone else added: not archived"
                        )
                        continue
                    self.client.request("PUT", f"/api/{kind}/{obj['id']}", {"archived": True})
                    self.report.archived.append(_label(kind, record.key))
                record.in_code = False
                self.remember(record)

    def audit(self) -> None:
        """List what people keep in the provisioner's collections (it was left alone)."""
        ours = {(r.kind, r.metabase_id) for r in self.records.values()}
        for name, coll_id in sorted(self.collection_ids.items()):
            for item in self.items(coll_id):
                if (item["model"], item["id"]) not in ours:
                    self.report.foreign.append(f"{item['model']}:{item['name']} (id {item['id']}, in {name!r})")

    def export_data_model(self, database_name: str, database_id: int) -> None:
        from orchestration.bi import metabase_datamodel as datamodel

        changed = datamodel.export_descriptions(
            self.client,
            database_name,
            _dbt_manifest(),
            SEMANTIC_MANIFEST,
            self.mart_models(),
            self.metadata,
            database_id=database_id,
        )
        for table in self.marts():
            (self.report.updated if table in changed else self.report.unchanged).append(_label("datamodel", table))


def _dbt_manifest() -> dict:
    """dbt's manifest, no older than the project (parsed once per version of the file: it is megabytes of JSON)."""
    path = ensure_manifest()
    return _read_json(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _read_json(path: Path, mtime_ns: int) -> dict:
    return json.loads(path.read_text())


def worded(compiled: CompiledSpecs, timezone: str) -> CompiledSpecs:
    """The specs as Metabase shows them: `{timezone}` filled in everywhere, and each card's description followed
    by its notes and by the dashboard filters it ignores with the reason (Metabase has no other place to say why a
    filter does not narrow a card)."""
    filled = functools.partial(words.fill, timezone=timezone)
    filter_names: dict[str, dict[str, list[str]]] = {}  # card -> concept -> names of the filters of that concept
    for dashboard in compiled.dashboards.values():
        for p in dashboard.cards:
            for f in dashboard.filters if p.card else ():
                names = filter_names.setdefault(p.card, {}).setdefault(f.concept, [])
                names += [f.name] if f.name not in names else []
    cards = {}
    for key, card in compiled.cards.items():
        ignored = [
            f"Not narrowed by {' or '.join(filter_names.get(key, {}).get(concept) or [concept])}: {why}"
            for concept, why in card.ignores.items()
        ]
        text = "\n\n".join(t.strip() for t in [card.description, card.notes, *ignored] if t.strip())
        cards[key] = card.model_copy(update={"description": filled(text)})
    dashboards = {
        key: d.model_copy(
            update={
                "description": filled(d.description),
                "filters": [f.model_copy(update={"description": filled(f.description)}) for f in d.filters],
                "cards": [p.model_copy(update={"text": filled(p.text)}) if p.text else p for p in d.cards],
            }
        )
        for key, d in compiled.dashboards.items()
    }
    return CompiledSpecs(cards=cards, dashboards=dashboards)


def _refuse_privileged(store: WarehouseState, logins: list[str], allowed: bool) -> None:
    """MetabaseError, in one line, when a connection would log in as a role that can read past row security and
    the grants (D184); with `allowed`, nothing."""
    if allowed:
        return
    for login in dict.fromkeys(logins):
        why = store.privilege_of(login)
        if why:
            raise MetabaseError(
                f"refusing to connect Metabase to the warehouse as {login!r}: it is {why}; connect as {READER} "
                f"(the default: unset METABASE_DB_USER) or set {ENV_ALLOW_PRIVILEGED}=1 to allow it"
            )


def _validate(compiled: CompiledSpecs) -> None:
    """Raise SpecError for anything Metabase could not show, before touching Metabase."""
    for card in compiled.cards.values():
        payloads.visualization(card)
    for dashboard in compiled.dashboards.values():
        payloads.dashboard_parameters(dashboard, compiled.cards)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def provision(
    specs: Path | str | CompiledSpecs,
    url: str | None = None,
    user: str | None = None,
    password: str | None = None,
    database_settings: DatabaseSettings | Mapping[str, Any] | None = None,
    *,
    state: Any = None,
    adopt: bool = False,
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT_SECONDS,
    timezone: str | None = None,
    access: Path | str | AccessSpec | None = None,
    timeout: float | None = None,
    allow_http: bool | None = None,
    allow_privileged: bool | None = None,
) -> ProvisionReport:
    """Create or update the database, collections, cards and dashboards of `specs` in Metabase.

    `specs` is a directory holding `cards/*.yml` and `dashboards/*.yml` (compiled here) or a CompiledSpecs.
    url/user/password default to the METABASE_* environment variables. `database_settings` is a DatabaseSettings
    or a dict of its fields. `state` is where the provisioner's records live: a WarehouseState, or the
    orchestration.warehouse.ConnectionInfo of the warehouse (default: the configured warehouse). `adopt` takes
    over, by name, objects that exist with no record (once, after a lost state table or the old provisioner).
    `sync_timeout` bounds the wait for Metabase to sync the marts' tables and columns. `timezone` is the zone the
    texts name (default: the reporting time zone setting). `access` is the groups-and-permissions spec (an
    AccessSpec or the path of an access.yml; default: `access.yml` beside the specs, if there is one; None and no
    file: permissions are left as they are). `timeout` bounds every HTTP call (default METABASE_TIMEOUT_SECONDS,
    else 30 s); `allow_http` lets a non-local Metabase be reached over plain http (default METABASE_ALLOW_HTTP=1).
    `allow_privileged` lets a connection log in as a superuser, a role with createdb, createrole or bypassrls, or the
    warehouse owner (default METABASE_DB_ALLOW_PRIVILEGED=1); otherwise such a connection is refused before any
    call (D184).
    """
    compiled = specs if isinstance(specs, CompiledSpecs) else compile_specs(Path(specs))
    compiled = worded(compiled, timezone or settings.reporting_timezone())
    _validate(compiled)
    if access is None and not isinstance(specs, CompiledSpecs) and (Path(specs) / ACCESS_FILE).is_file():
        access = Path(specs) / ACCESS_FILE
    access_spec = load_access(Path(access)) if isinstance(access, (str, Path)) else access
    if access_spec is not None:
        taken = {d.collection for d in compiled.dashboards.values()} | {DEFAULT_COLLECTION}
        for key, client in access_spec.clients.items():
            if client.name in taken:
                raise SpecError(
                    f"access.yml: client {key}: its collection would be named {client.name!r}, like a "
                    f"dashboards' collection; name the client otherwise"
                )
        compiled = access_rules.with_client_copies(compiled, access_spec)
    url = url or os.environ.get("METABASE_URL")
    user = user or os.environ.get("METABASE_USER")
    password = password or os.environ.get("METABASE_PASSWORD")
    if not (url and user and password):
        raise MetabaseError("not configured: set METABASE_URL, METABASE_USER and METABASE_PASSWORD")
    if database_settings is None:
        raise ValueError("database_settings is required (how Metabase reaches the warehouse)")
    if not isinstance(database_settings, DatabaseSettings):
        database_settings = DatabaseSettings(**dict(database_settings))
    if timeout is None:
        try:
            timeout = float(os.environ.get("METABASE_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT_SECONDS)
        except ValueError:
            raise MetabaseError("METABASE_TIMEOUT_SECONDS must be a number of seconds") from None
    if timeout <= 0:
        raise MetabaseError("METABASE_TIMEOUT_SECONDS must be a positive number of seconds")
    allow_http = _env_flag("METABASE_ALLOW_HTTP") if allow_http is None else allow_http
    allow_privileged = _env_flag(ENV_ALLOW_PRIVILEGED) if allow_privileged is None else allow_privileged
    store = state if isinstance(state, WarehouseState) else WarehouseState(state)
    try:
        logins = [database_settings.user, *(c.role for c in (access_spec.clients.values() if access_spec else ()))]
        _refuse_privileged(store, logins, allow_privileged)
        with Client(url, user, password, timeout=timeout, allow_http=allow_http) as client:
            run = _Run(client, compiled, store, adopt)
            if access_spec is not None:
                run.collection_keys = {c.name: f"client:{k}" for k, c in access_spec.clients.items()}
            run.check_state()
            database_id = run.ensure_database(database_settings)
            run.resolve_fields(database_id, database_settings.name, sync_timeout)
            collections = run.card_collections()
            for name in sorted({*collections.values(), *(d.collection for d in compiled.dashboards.values())}):
                run.ensure_collection(name)
            if access_spec is not None:  # lock the collections down before anything goes into them
                run.apply_access(access_spec, database_settings, database_id)
                run.resolve_client_fields(access_spec, database_settings, sync_timeout)
            for key, collection in sorted(collections.items()):
                run.sync_card(compiled.cards[key], database_id, run.ensure_collection(collection))
            for dashboard in sorted(compiled.dashboards.values(), key=lambda d: d.key):
                run.sync_dashboard(dashboard)
            run.retire()
            run.export_data_model(database_settings.name, database_id)
            run.audit()
    finally:
        if store is not state:
            store.close()
    return run.report
