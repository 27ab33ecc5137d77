"""Provision Metabase from the card and dashboard specs (`orchestration.bi.specs`), idempotently.

`provision()` creates or updates, matching by name: the warehouse database connection, one
collection per dashboard `collection`, every card (native SQL with template tags) and every
dashboard (dashcards, filters, filter → template-tag mappings). A second run sends no writes and
reports everything unchanged. Cards left in a managed collection but no longer in code, and extra
cards with the same name as a managed card, are archived (`archived: true`, Metabase 0.50+ Trash).

Built on metabase-api 3.6 for the session (login, re-login on expiry, auth headers); its dashboard
helpers target endpoints removed in Metabase 0.47, so dashboards go through `PUT /api/dashboard/:id`
(`dashcards` with negative ids for new ones, then a second PUT with `parameters` and the dashcards'
`parameter_mappings`). Payload shapes: /work/shared/METABASE_API.md (Metabase 0.50 – 0.64).

Configuration: `METABASE_URL`, `METABASE_USER`, `METABASE_PASSWORD`. Every Metabase error surfaces
as one line: `MetabaseError: PUT /api/card/12 → 400: <message>`.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from orchestration.bi import specs as specs_mod
from orchestration.bi.specs import Card, Dashboard, Specs

DEFAULT_COLLECTION = "Lead Analytics"  # for cards that are on no dashboard
REQUEST_TIMEOUT_SECONDS = 120
_ID_NAMESPACE = uuid.UUID("6f1c1d2e-5b0a-4f7e-9a57-1ead0a7a1c5e")  # fixed: ids must be stable across runs
_TAG_PARAMETER_TYPE = {"date": "date/single", "number": "number/=", "text": "category"}  # fact sheet §5.6
_SECTION = {"date": "date", "string": "string", "number": "number", "category": "string", "text": "string",
            "id": "id", "location": "location"}


class MetabaseError(RuntimeError):
    """A failed Metabase request; str() is one line `METHOD /path → status: message`.

    Print it as `f"{type(exc).__name__}: {exc}"` → `MetabaseError: PUT /api/card/12 → 400: …`.
    """


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
    password: str
    schemas: tuple[str, ...] = ("marts",)  # sync only these schemas
    ssl: bool = False

    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"host": self.host, "port": self.port, "dbname": self.dbname,
                                   "user": self.user, "password": self.password, "ssl": self.ssl}
        if self.schemas:
            details["schema-filters-type"] = "inclusion"
            details["schema-filters-patterns"] = ",".join(self.schemas)
        return details


@dataclass
class ProvisionReport:
    """What a run did, as `kind:name` entries (kind = database, collection, card, dashboard)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("created", "updated", "unchanged", "archived")}

    def summary(self) -> str:
        return ", ".join(f"{n} {k}" for k, n in self.counts().items())


def tag_id(card_key: str, tag: str) -> str:
    """Stable template-tag id (a UUID) derived from the card key and tag name."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"card:{card_key}:tag:{tag}"))


def filter_id(dashboard_key: str, slug: str) -> str:
    """Stable dashboard-parameter id (8 hex chars, like the ones Metabase's UI makes)."""
    return uuid.uuid5(_ID_NAMESPACE, f"dashboard:{dashboard_key}:filter:{slug}").hex[:8]


# ---------------------------------------------------------------- HTTP


def _error_message(response: Any) -> str:
    """The useful part of a Metabase error body, on one line."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        if isinstance(body.get("errors"), dict):
            text = "; ".join(f"{k}: {v}" for k, v in body["errors"].items())
        else:
            text = str(body.get("message") or json.dumps(body))
    else:
        text = str(body)
    text = " ".join(text.split())
    return text[:400] or response.reason or "no message"


class Client:
    """metabase-api's authenticated session, with errors turned into MetabaseError."""

    def __init__(self, url: str, user: str, password: str):
        import requests
        from metabase_api import Metabase_API

        self.url = url.rstrip("/")
        try:
            self.api = Metabase_API(self.url, email=user, password=password)
        except requests.RequestException as exc:
            raise MetabaseError(f"POST /api/session → connection failed: {exc.__class__.__name__}") from None
        except Exception as exc:  # metabase-api raises Exception(response) on a failed login
            response = exc.args[0] if exc.args else None
            if hasattr(response, "status_code"):
                raise MetabaseError(f"POST /api/session → {response.status_code}: {_error_message(response)}") from None
            raise

    def request(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        import requests

        call = {"GET": self.api.get, "POST": self.api.post, "PUT": self.api.put, "DELETE": self.api.delete}[method]
        kwargs: dict[str, Any] = {"timeout": REQUEST_TIMEOUT_SECONDS}
        if body is not None:
            kwargs["json"] = body
        if params is not None:
            kwargs["params"] = params
        try:
            response = call(path, "raw", **kwargs)
        except requests.RequestException as exc:
            raise MetabaseError(f"{method} {path} → connection failed: {exc.__class__.__name__}") from None
        except Exception as exc:  # metabase-api's session check raises Exception(response)
            response = exc.args[0] if exc.args else None
            if not hasattr(response, "status_code"):
                raise
            method, path = response.request.method, urlsplit(response.url).path  # name the failing call
        if not response.ok:
            raise MetabaseError(f"{method} {path} → {response.status_code}: {_error_message(response)}")
        return response.json() if response.content else None


# ---------------------------------------------------------------- payloads


def _template_tag(card: Card, parameter: specs_mod.Parameter) -> dict[str, Any]:
    tag: dict[str, Any] = {"id": tag_id(card.key, parameter.name), "name": parameter.name,
                           "display-name": parameter.display_name, "type": parameter.type,
                           "required": parameter.name in card.required_variables}
    if parameter.default is not None:
        tag["default"] = str(parameter.default)
    return tag


def card_payload(card: Card, database_id: int, collection_id: int) -> dict[str, Any]:
    """The POST/PUT /api/card body of a card (legacy MBQL 4 native query; accepted by 0.50 – 0.64)."""
    tags = {p.name: _template_tag(card, p) for p in card.parameters}
    parameters = [{"id": tag_id(card.key, name), "type": _TAG_PARAMETER_TYPE[t["type"]],
                   "target": ["variable", ["template-tag", name]], "name": t["display-name"], "slug": name,
                   "default": t.get("default"), "required": t["required"]} for name, t in tags.items()]
    return {
        "name": card.name,
        "description": card.description or None,  # "" is rejected on create
        "display": card.display,
        "type": "question",
        "collection_id": collection_id,
        "visualization_settings": card.visualization_settings,
        "parameters": parameters,
        "dataset_query": {"type": "native", "database": database_id,
                          "native": {"query": card.sql, "template-tags": tags}},
    }


def _filter_parameter(dashboard: Dashboard, f: specs_mod.Filter) -> dict[str, Any]:
    parameter: dict[str, Any] = {"id": filter_id(dashboard.key, f.slug), "name": f.name, "slug": f.slug,
                                 "type": f.type, "sectionId": _SECTION[f.type.split("/")[0]]}
    if f.default is not None:
        multi = f.type.startswith(("string/", "number/")) or f.type in ("category", "id")
        parameter["default"] = [f.default] if multi and not isinstance(f.default, list) else f.default
    return parameter


def dashboard_parameters(dashboard: Dashboard) -> list[dict[str, Any]]:
    return [_filter_parameter(dashboard, f) for f in dashboard.filters]


def _mappings(dashboard: Dashboard, dc: specs_mod.DashboardCard, card_id: int) -> list[dict[str, Any]]:
    return [{"parameter_id": filter_id(dashboard.key, slug), "card_id": card_id,
             "target": ["variable", ["template-tag", tag]]} for slug, tag in sorted(dc.mappings.items())]


# ---------------------------------------------------------------- comparison


def _normalise_query(query: Any) -> Any:
    """Legacy MBQL 4 view of a stored native query (0.57+ may return MBQL 5 `stages`)."""
    if isinstance(query, dict) and isinstance(query.get("stages"), list) and query["stages"]:
        stage = query["stages"][0]
        return {"type": "native", "database": query.get("database"),
                "native": {"query": stage.get("native"), "template-tags": stage.get("template-tags") or {}}}
    return query


def _same(desired: Any, actual: Any) -> bool:
    """Desired matches actual: dicts compare only desired keys (the server adds its own), lists by position."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(_same(v, actual.get(k)) for k, v in desired.items())
    if isinstance(desired, (list, tuple)):
        return isinstance(actual, list) and len(actual) == len(desired) and all(
            _same(d, a) for d, a in zip(desired, actual))
    return desired == actual


def _card_unchanged(payload: dict, existing: dict) -> bool:
    existing = {**existing, "dataset_query": _normalise_query(existing.get("dataset_query")),
                "description": existing.get("description") or None}
    desired_tags = payload["dataset_query"]["native"]["template-tags"]
    existing_tags = ((existing["dataset_query"] or {}).get("native") or {}).get("template-tags") or {}
    return (set(desired_tags) == set(existing_tags) and existing.get("archived") is False
            and existing.get("visualization_settings") == payload["visualization_settings"]
            and _same(payload, existing))


def _dashcard_key(dc: dict) -> tuple:
    return (dc.get("row"), dc.get("col"), dc.get("card_id"))


# ---------------------------------------------------------------- provisioning steps


class _Run:
    """One provisioning run: holds the client, the report and the ids found or created so far."""

    def __init__(self, client: Client, specs: Specs):
        self.client = client
        self.specs = specs
        self.report = ProvisionReport()
        self.collection_ids: dict[str, int] = {}
        self.card_ids: dict[str, int] = {}

    def ensure_database(self, settings: DatabaseSettings) -> int:
        wanted = settings.details()
        databases = self.client.request("GET", "/api/database")
        databases = databases.get("data", []) if isinstance(databases, dict) else databases
        for db in sorted(databases, key=lambda d: d["id"]):
            if db.get("name") == settings.name and db.get("engine") == "postgres":
                current = db.get("details") or {}
                public = {k: v for k, v in wanted.items() if k != "password"}
                if _same(public, current):
                    self.report.unchanged.append(f"database:{settings.name}")
                else:  # the password is sent only with a change: Metabase never returns it
                    self.client.request("PUT", f"/api/database/{db['id']}", {"details": wanted, "engine": "postgres"})
                    self.report.updated.append(f"database:{settings.name}")
                return db["id"]
        db = self.client.request("POST", "/api/database",
                                 {"name": settings.name, "engine": "postgres", "details": wanted})
        self.report.created.append(f"database:{settings.name}")
        return db["id"]

    def ensure_collection(self, name: str) -> int:
        if name in self.collection_ids:
            return self.collection_ids[name]
        candidates = [c for c in self.client.request("GET", "/api/collection")
                      if isinstance(c.get("id"), int) and c.get("name") == name and not c.get("archived")
                      and c.get("personal_owner_id") is None and c.get("location") == "/"]
        if candidates:
            coll_id = min(c["id"] for c in candidates)
            self.report.unchanged.append(f"collection:{name}")
        else:
            coll_id = self.client.request("POST", "/api/collection", {"name": name, "parent_id": None})["id"]
            self.report.created.append(f"collection:{name}")
        self.collection_ids[name] = coll_id
        return coll_id

    def items(self, collection_id: int, model: str) -> list[dict]:
        result = self.client.request("GET", f"/api/collection/{collection_id}/items", params={"models": model})
        items = result.get("data", []) if isinstance(result, dict) else result
        return sorted((i for i in items if i.get("model") == model and not i.get("archived")), key=lambda i: i["id"])

    def card_collections(self) -> dict[str, str]:
        """Card key → collection name: that of the dashboards showing it, else DEFAULT_COLLECTION."""
        out: dict[str, str] = {}
        for dashboard in self.specs.dashboards.values():
            for dc in dashboard.cards:
                if out.setdefault(dc.card, dashboard.collection) != dashboard.collection:
                    raise specs_mod.SpecError(f"card {dc.card} is on dashboards in two collections "
                                              f"({out[dc.card]!r}, {dashboard.collection!r})")
        return {key: out.get(key, DEFAULT_COLLECTION) for key in self.specs.cards}

    def sync_cards(self, database_id: int) -> None:
        placement = self.card_collections()
        for coll_name in sorted(set(placement.values())):
            coll_id = self.ensure_collection(coll_name)
            wanted = {self.specs.cards[k].name: self.specs.cards[k] for k, c in placement.items() if c == coll_name}
            seen: set[str] = set()
            for item in self.items(coll_id, "card"):
                card = wanted.get(item["name"])
                if card is None or item["name"] in seen:  # no longer in code, or a duplicate
                    self.client.request("PUT", f"/api/card/{item['id']}", {"archived": True})
                    self.report.archived.append(f"card:{item['name']}")
                    continue
                seen.add(item["name"])
                self.card_ids[card.key] = self.upsert_card(card, database_id, coll_id, item["id"])
            for name, card in sorted(wanted.items()):
                if name not in seen:
                    self.card_ids[card.key] = self.upsert_card(card, database_id, coll_id, None)

    def upsert_card(self, card: Card, database_id: int, collection_id: int, card_id: int | None) -> int:
        payload = card_payload(card, database_id, collection_id)
        if card_id is None:
            created = self.client.request("POST", "/api/card", payload)
            self.report.created.append(f"card:{card.name}")
            return created["id"]
        existing = self.client.request("GET", f"/api/card/{card_id}", params={"legacy-mbql": "true"})
        if _card_unchanged(payload, existing):
            self.report.unchanged.append(f"card:{card.name}")
        else:
            self.client.request("PUT", f"/api/card/{card_id}", {**payload, "description": card.description})
            self.report.updated.append(f"card:{card.name}")
        return card_id

    def sync_dashboard(self, dashboard: Dashboard) -> None:
        coll_id = self.ensure_collection(dashboard.collection)
        label = f"dashboard:{dashboard.name}"
        found = [i for i in self.items(coll_id, "dashboard") if i["name"] == dashboard.name]
        if found:
            existing = self.client.request("GET", f"/api/dashboard/{found[0]['id']}")
        else:
            existing = self.client.request("POST", "/api/dashboard", {
                "name": dashboard.name, "description": dashboard.description, "collection_id": coll_id})
        dash_id = existing["id"]
        parameters = dashboard_parameters(dashboard)
        desired = [{"card_id": self.card_ids[dc.card], "row": dc.row, "col": dc.col, "size_x": dc.size_x,
                    "size_y": dc.size_y, "parameter_mappings": _mappings(dashboard, dc, self.card_ids[dc.card])}
                   for dc in dashboard.cards]
        desired.sort(key=_dashcard_key)
        current = sorted(existing.get("dashcards") or [], key=_dashcard_key)
        if found and self._dashboard_unchanged(dashboard, coll_id, parameters, desired, existing, current):
            self.report.unchanged.append(label)
            return
        # Keep the ids of existing dashcards showing the same card; new ones get negative ids.
        free: dict[int, list[int]] = {}
        for dc in current:
            free.setdefault(dc.get("card_id"), []).append(dc["id"])
        next_new = -1
        for dc in desired:
            ids = free.get(dc["card_id"])
            if ids:
                dc["id"] = ids.pop(0)
            else:
                dc["id"], next_new = next_new, next_new - 1
        first = [{**dc, "parameter_mappings": []} for dc in desired]
        placed = self.client.request("PUT", f"/api/dashboard/{dash_id}", {
            "name": dashboard.name, "description": dashboard.description, "collection_id": coll_id,
            "dashcards": first, "tabs": []})
        by_position = {_dashcard_key(dc): dc["id"] for dc in placed.get("dashcards") or []}
        second = [{**dc, "id": by_position[_dashcard_key(dc)]} for dc in desired]
        self.client.request("PUT", f"/api/dashboard/{dash_id}",
                            {"parameters": parameters, "dashcards": second, "tabs": []})
        (self.report.updated if found else self.report.created).append(label)

    @staticmethod
    def _dashboard_unchanged(dashboard: Dashboard, coll_id: int, parameters: list, desired: list,
                             existing: dict, current: list) -> bool:
        return ((existing.get("description") or "") == dashboard.description
                and existing.get("collection_id") == coll_id and not existing.get("archived")
                and not existing.get("tabs")
                and _same(parameters, existing.get("parameters") or [])
                and _same(desired, current))


def provision(specs_dir: Path | str, url: str | None = None, user: str | None = None, password: str | None = None,
              database_settings: DatabaseSettings | Mapping[str, Any] | None = None) -> ProvisionReport:
    """Create or update the database, collections, cards and dashboards of `specs_dir` in Metabase.

    `specs_dir` holds `cards/*.yml` and `dashboards/*.yml`. url/user/password default to the
    METABASE_* environment variables. `database_settings` is a DatabaseSettings or a dict of its fields.
    """
    specs = specs_mod.load_specs(Path(specs_dir))  # validate before touching Metabase
    url = url or os.environ.get("METABASE_URL")
    user = user or os.environ.get("METABASE_USER")
    password = password or os.environ.get("METABASE_PASSWORD")
    if not (url and user and password):
        raise MetabaseError("not configured: set METABASE_URL, METABASE_USER and METABASE_PASSWORD")
    if database_settings is None:
        raise ValueError("database_settings is required (how Metabase reaches the warehouse)")
    if not isinstance(database_settings, DatabaseSettings):
        database_settings = DatabaseSettings(**dict(database_settings))
    run = _Run(Client(url, user, password), specs)
    database_id = run.ensure_database(database_settings)
    run.sync_cards(database_id)
    for dashboard in sorted(specs.dashboards.values(), key=lambda d: d.key):
        run.sync_dashboard(dashboard)
    return run.report
