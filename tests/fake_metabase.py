"""A fake Metabase HTTP server for provisioning tests (stdlib only, in-memory state).

Shapes followed (see /work/shared/METABASE_API.md, "the fact sheet"): the request payloads of
**Metabase 0.53 – 0.56** (identical to 0.50 – 0.52 for every endpoint implemented here), with the
**0.53+ "Defendpoint 2.0" error bodies** (`{"errors": …, "specific-errors": …}` with
"missing required key, received: nil"). `dataset_query` is stored and returned as sent (legacy
MBQL 4, as ≤0.56 does; `?legacy-mbql=true`, the 0.57+ way to ask for that shape, is accepted).

Implemented: `POST /api/session`, `GET /api/user/current` (metabase-api calls it before every
request), `GET/POST /api/database`, `GET/PUT /api/database/:id`, `GET/POST /api/collection`,
`GET/PUT /api/collection/:id`, `GET /api/collection/:id/items`, `POST /api/card`,
`GET/PUT /api/card/:id`, `POST /api/dashboard`, `GET/PUT /api/dashboard/:id`. Any other route is a
404 `API endpoint does not exist.` — including `POST /api/dashboard/:id/cards`, removed in 0.47.

Rejected as real Metabase rejects them (fact sheet §11): requests without a valid session or API
key (401 `Unauthenticated`); bad logins; blank/missing required keys, wrong types, non-positive ids,
`description: ""` on card create, bad `type`, malformed `parameters` / `parameter_mappings`;
dashcards that are not maps, lack `id`/`size_x`/`size_y`/`row`/`col`, have sizes < 1, negative
positions or duplicate ids; tabs without names; `width` other than fixed|full; editing dashcards of
an archived dashboard; a `type: model` card with variables; unknown engines; unknown ids (404).
Accepted as real Metabase accepts them: extra keys, any non-blank `display`, any
`visualization_settings` map, `dataset_query: {}`, nulls on nullable keys, duplicate names.

`strict=True` (the default) adds checks real Metabase only performs later (when a query runs or at
the connection test) or only in versions newer than 0.56, so that a provisioner bug fails at once:
template tags must have non-blank `name` (equal to their key), `display-name`, `id` and a known
`type`; a native query must name an existing database; `parameter_mappings` must point at a
parameter of the dashboard and (for template-tag targets) at a tag of the card, with a target of a
known shape; dashcards must reference existing cards; a new database must have `host` and `dbname`.
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NOT_FOUND = (404, "Not found.")
NO_ENDPOINT = (404, "API endpoint does not exist.")
PROTECTED_PASSWORD = "**MetabasePass**"  # what Metabase returns instead of a stored secret
ENGINES = {"postgres", "h2", "mysql", "sqlite", "redshift", "bigquery-cloud-sdk", "snowflake"}
CARD_TYPES = {"question", "model", "metric"}
TAG_TYPES = {"snippet", "card", "dimension", "number", "text", "date", "boolean", "temporal-unit", "table"}

MSG_NON_BLANK = "value must be a non-blank string."
MSG_MAP = "Value must be a map."
MSG_POS_INT = "value must be an integer greater than zero."
MSG_NULLABLE_POS_INT = "nullable value must be an integer greater than zero."
MSG_PARAMETERS = "nullable sequence of parameter must be a map with :id and :type keys"
MSG_MAPPINGS = "nullable sequence of parameter_mapping must be a map with :parameter_id and :target keys"
MSG_BOOL = "nullable boolean"

Response = tuple[int, Any]


class Invalid(Exception):
    """A 400 with the Defendpoint-2.0 body."""

    def __init__(self, errors: dict[str, tuple[str, str]]):
        super().__init__(str(errors))
        self.body = {
            "errors": {k: msg for k, (msg, _) in errors.items()},
            "specific-errors": {k: [specific] for k, (_, specific) in errors.items()},
        }


class Reject(Exception):
    """Any other error response (status, body)."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


# ---------------------------------------------------------------- schema helpers


def _received(value: Any) -> str:
    return "nil" if value is None else json.dumps(value)


class _Checker:
    """Collects field errors for one request body."""

    def __init__(self, body: dict):
        self.body = body
        self.errors: dict[str, tuple[str, str]] = {}

    def _fail(self, key: str, msg: str, value: Any, missing: bool = False) -> None:
        specific = "missing required key, received: nil" if missing else f"invalid type, received: {_received(value)}"
        self.errors.setdefault(key, (msg, specific))

    def check(self, key: str, ok, msg: str, required: bool = False, nullable: bool = True) -> None:
        if key not in self.body:
            if required:
                self._fail(key, msg, None, missing=True)
            return
        value = self.body[key]
        if value is None:
            if required or not nullable:
                self._fail(key, msg, value, missing=required)
            return
        if not ok(value):
            self._fail(key, msg, value)

    def raise_if_any(self) -> None:
        if self.errors:
            raise Invalid(self.errors)


def _non_blank(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_map(v: Any) -> bool:
    return isinstance(v, dict)


def _parameters_ok(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(p, dict) and _non_blank(p.get("id")) and _non_blank(p.get("type")) for p in v)


def _mappings_ok(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(m, dict) and _non_blank(m.get("parameter_id")) and m.get("target") is not None for m in v)


def _target_tag(target: Any) -> tuple[bool, str | None]:
    """(shape ok, template-tag name or None) for a parameter target (fact sheet §6.4)."""
    if not isinstance(target, list) or len(target) not in (2, 3) or target[0] not in ("variable", "dimension"):
        return False, None
    if len(target) == 3 and not isinstance(target[2], dict):
        return False, None
    inner = target[1]
    if isinstance(inner, list) and len(inner) == 2 and inner[0] == "template-tag":
        if isinstance(inner[1], str):
            return True, inner[1]
        if isinstance(inner[1], dict) and _non_blank(inner[1].get("id")):
            return True, None
        return False, None
    if target[0] == "dimension" and isinstance(inner, list) and len(inner) == 3 and inner[0] == "field":
        return True, None
    return False, None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _entity_id() -> str:
    return uuid.uuid4().hex[:21]


# ---------------------------------------------------------------- the fake


class FakeMetabase:
    """In-memory Metabase; `start()` serves it on 127.0.0.1 at a random port (see `url`)."""

    def __init__(self, users: dict[str, str] | None = None, strict: bool = True, api_keys: tuple[str, ...] = ()):
        self.users = dict(users or {"admin@example.com": "s3cret-pass"})
        self.strict = strict
        self.api_keys = set(api_keys)
        self.sessions: set[str] = set()
        self.requests: list[tuple[str, str, Any, int]] = []  # method, path, body, status
        self.databases: dict[int, dict] = {}
        self.collections: dict[int, dict] = {}
        self.cards: dict[int, dict] = {}
        self.dashboards: dict[int, dict] = {}
        self._ids: dict[str, int] = {"database": 0, "collection": 0, "card": 0, "dashboard": 0, "dashcard": 0, "tab": 0}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        personal = self._new_collection({"name": "Admin's Personal Collection"})
        personal["personal_owner_id"] = 1
        self.personal_collection_id = personal["id"]
        trash = self._new_collection({"name": "Trash"})
        trash["type"] = "trash"
        self.trash_collection_id = trash["id"]

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeMetabase":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.handle(self.command, self.path, dict(self.headers.items()), raw)
                if body is None:
                    payload, ctype = b"", "text/plain"
                elif isinstance(body, str):
                    payload, ctype = body.encode(), "text/plain"
                else:
                    payload, ctype = json.dumps(body).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeMetabase":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ dispatch

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> Response:
        parts = urlsplit(raw_path)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                return self._log(method, path, raw_body, (400, "Malformed JSON in request body."))
        with self._lock:
            try:
                result = self._route(method, path, query, {k.lower(): v for k, v in headers.items()}, body)
            except Invalid as exc:
                result = (400, exc.body)
            except Reject as exc:
                result = (exc.status, exc.body)
        return self._log(method, path, body, result)

    def _log(self, method: str, path: str, body: Any, result: Response) -> Response:
        self.requests.append((method, path, body, result[0]))
        return result

    def _route(self, method: str, path: str, query: dict, headers: dict, body: Any) -> Response:
        if (method, path) == ("POST", "/api/session"):
            return self._login(body)
        session = headers.get("x-metabase-session")
        if session not in self.sessions and headers.get("x-api-key") not in self.api_keys:
            return 401, "Unauthenticated"
        if method in ("POST", "PUT") and body is not None and not isinstance(body, dict):
            return 400, "Malformed JSON in request body."
        body = body if isinstance(body, dict) else {}
        m = re.fullmatch(r"/api/(\w+)(?:/(\w+))?(?:/(\w+))?", path)
        if not m:
            return NO_ENDPOINT
        kind, ident, sub = m.groups()
        routes = {
            ("GET", "user", "current", None): lambda: {"id": 1, "email": next(iter(self.users)), "is_superuser": True,
                                                       "personal_collection_id": self.personal_collection_id},
            ("GET", "database", None, None): lambda: {"data": [self._present_db(d) for d in self.databases.values()],
                                                      "total": len(self.databases)},
            ("POST", "database", None, None): lambda: self._create_database(body),
            ("GET", "database", "id", None): lambda: self._present_db(self._get(self.databases, ident)),
            ("PUT", "database", "id", None): lambda: self._update_database(ident, body),
            ("GET", "collection", None, None): lambda: self._list_collections(query),
            ("POST", "collection", None, None): lambda: self._create_collection(body),
            ("GET", "collection", "id", None): lambda: self._get(self.collections, ident),
            ("PUT", "collection", "id", None): lambda: self._update_collection(ident, body),
            ("GET", "collection", "id", "items"): lambda: self._collection_items(ident, query),
            ("POST", "card", None, None): lambda: self._create_card(body),
            ("GET", "card", "id", None): lambda: self._present_card(self._get(self.cards, ident)),
            ("PUT", "card", "id", None): lambda: self._update_card(ident, body),
            ("POST", "dashboard", None, None): lambda: self._create_dashboard(body),
            ("GET", "dashboard", "id", None): lambda: self._present_dashboard(self._get(self.dashboards, ident)),
            ("PUT", "dashboard", "id", None): lambda: self._update_dashboard(ident, body),
        }
        shape = "id" if ident is not None and ident.isdigit() else ident
        handler = routes.get((method, kind, shape, sub))
        if handler is None:
            return NO_ENDPOINT
        return 200, handler()

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    @staticmethod
    def _get(table: dict[int, dict], ident: str) -> dict:
        obj = table.get(int(ident))
        if obj is None:
            raise Reject(*NOT_FOUND)
        return obj

    # ------------------------------------------------------------ session

    def _login(self, body: Any) -> Response:
        body = body if isinstance(body, dict) else {}
        checker = _Checker(body)
        checker.check("username", _non_blank, MSG_NON_BLANK, required=True)
        checker.check("password", _non_blank, MSG_NON_BLANK, required=True)
        checker.raise_if_any()
        username = body["username"].lower()
        if {u.lower(): p for u, p in self.users.items()}.get(username) != body["password"]:
            return 401, {"errors": {"password": "did not match stored password"}}
        session = str(uuid.uuid4())
        self.sessions.add(session)
        return 200, {"id": session}

    # ------------------------------------------------------------ databases

    def _present_db(self, db: dict) -> dict:
        details = {k: (PROTECTED_PASSWORD if k == "password" and v else v) for k, v in db["details"].items()}
        return {**db, "details": details}

    def _check_database(self, body: dict, create: bool) -> None:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=create, nullable=False)
        checker.check("engine", lambda v: v in ENGINES, "value must be a valid database engine.", required=create)
        checker.check("details", _is_map, MSG_MAP, required=create)
        checker.check("is_full_sync", lambda v: isinstance(v, bool), MSG_BOOL)
        checker.check("is_on_demand", lambda v: isinstance(v, bool), MSG_BOOL)
        checker.check("auto_run_queries", lambda v: isinstance(v, bool), MSG_BOOL)
        checker.check("cache_ttl", _pos_int, MSG_NULLABLE_POS_INT)
        checker.raise_if_any()
        details = body.get("details")
        if self.strict and create and not (details.get("host") and details.get("dbname")):
            raise Reject(400, {"message": "Connection test failed: host and dbname are required.",
                               "dbname": details.get("dbname")})

    def _create_database(self, body: dict) -> dict:
        self._check_database(body, create=True)
        db = {"id": self._next("database"), "name": body["name"], "engine": body["engine"],
              "details": dict(body["details"]), "is_full_sync": body.get("is_full_sync", True),
              "is_on_demand": body.get("is_on_demand", False), "created_at": _now(), "updated_at": _now()}
        self.databases[db["id"]] = db
        return self._present_db(db)

    def _update_database(self, ident: str, body: dict) -> dict:
        db = self._get(self.databases, ident)
        self._check_database(body, create=False)
        for key in ("name", "engine", "is_full_sync", "is_on_demand"):
            if body.get(key) is not None:
                db[key] = body[key]
        if body.get("details") is not None:
            details = dict(body["details"])
            if details.get("password") == PROTECTED_PASSWORD:  # unchanged secret
                details["password"] = db["details"].get("password")
            db["details"] = details
        db["updated_at"] = _now()
        return self._present_db(db)

    # ------------------------------------------------------------ collections

    def _new_collection(self, body: dict) -> dict:
        parent_id = body.get("parent_id")
        location = "/" if parent_id is None else f"{self.collections[parent_id]['location']}{parent_id}/"
        coll = {"id": self._next("collection"), "name": body["name"], "description": body.get("description"),
                "location": location, "archived": False, "personal_owner_id": None, "namespace": body.get("namespace"),
                "authority_level": body.get("authority_level"), "type": None, "entity_id": _entity_id()}
        self.collections[coll["id"]] = coll
        return coll

    def _list_collections(self, query: dict) -> list[dict]:
        archived = query.get("archived", ["false"])[0] == "true"
        root = {"id": "root", "name": "Our analytics", "location": None, "archived": False, "personal_owner_id": None}
        found = [c for c in self.collections.values() if c["archived"] == archived and c["type"] != "trash"]
        return ([] if archived else [root]) + found

    def _check_collection(self, body: dict, create: bool) -> None:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("description", _non_blank, "nullable value must be a non-blank string.")
        checker.check("parent_id", _pos_int, MSG_NULLABLE_POS_INT)
        checker.check("namespace", _non_blank, "nullable value must be a non-blank string.")
        checker.check("authority_level", lambda v: v == "official", "nullable enum of official")
        checker.check("archived", lambda v: isinstance(v, bool), MSG_BOOL)
        checker.raise_if_any()
        if body.get("parent_id") is not None and body["parent_id"] not in self.collections:
            raise Reject(*NOT_FOUND)

    def _create_collection(self, body: dict) -> dict:
        self._check_collection(body, create=True)
        return self._new_collection(body)

    def _update_collection(self, ident: str, body: dict) -> dict:
        coll = self._get(self.collections, ident)
        self._check_collection(body, create=False)
        for key in ("name", "description", "archived", "authority_level"):
            if key in body and (body[key] is not None or key in ("description", "authority_level")):
                coll[key] = body[key]
        return coll

    def _collection_items(self, ident: str, query: dict) -> dict:
        coll = self._get(self.collections, ident)
        models = set(query.get("models", []))
        archived = query.get("archived", ["false"])[0] == "true"
        items: list[dict] = []
        for card in self.cards.values():
            if card["collection_id"] == coll["id"] and card["archived"] == archived:
                model = {"question": "card", "model": "dataset", "metric": "metric"}[card["type"]]
                items.append({"id": card["id"], "name": card["name"], "model": model,
                              "description": card["description"], "display": card["display"]})
        for dash in self.dashboards.values():
            if dash["collection_id"] == coll["id"] and dash["archived"] == archived:
                items.append({"id": dash["id"], "name": dash["name"], "model": "dashboard",
                              "description": dash["description"]})
        for child in self.collections.values():
            if child["location"] == f"{coll['location']}{coll['id']}/" and child["archived"] == archived:
                items.append({"id": child["id"], "name": child["name"], "model": "collection"})
        if models:
            items = [i for i in items if i["model"] in models]
        return {"total": len(items), "data": items, "models": sorted({i["model"] for i in items}),
                "limit": None, "offset": None}

    # ------------------------------------------------------------ cards

    def _check_card(self, body: dict, create: bool) -> None:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("dataset_query", _is_map, MSG_MAP, required=create)
        checker.check("display", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("visualization_settings", _is_map, MSG_MAP, required=create)
        checker.check("type", lambda v: v in CARD_TYPES, "nullable enum of question, model, metric")
        if create:
            checker.check("description", _non_blank, "nullable value must be a non-blank string.")
        else:
            checker.check("description", lambda v: isinstance(v, str), "nullable string")
            checker.check("archived", lambda v: isinstance(v, bool), MSG_BOOL)
        for key in ("collection_id", "collection_position", "cache_ttl", "dashboard_id", "dashboard_tab_id"):
            checker.check(key, _pos_int, MSG_NULLABLE_POS_INT)
        checker.check("parameters", _parameters_ok, MSG_PARAMETERS)
        checker.check("parameter_mappings", _mappings_ok, MSG_MAPPINGS)
        checker.raise_if_any()
        if body.get("collection_id") is not None and body["collection_id"] not in self.collections:
            raise Reject(*NOT_FOUND)
        query = body.get("dataset_query") or {}
        tags = self._template_tags(query)
        if body.get("type") == "model" and any(t.get("type") not in ("card", "snippet") for t in tags.values()
                                               if isinstance(t, dict)):
            raise Reject(400, "A model made from a native SQL question cannot have a variable or field filter.")
        if body.get("dashboard_id") is not None:
            dash = self.dashboards.get(body["dashboard_id"])
            if dash is None:
                raise Reject(*NOT_FOUND)
            if "collection_id" in body and body["collection_id"] != dash["collection_id"]:
                raise Reject(400, f"Mismatch detected between Dashboard's collection_id ({dash['collection_id']}) "
                                  f"and collection_id ({body['collection_id']})")
        if self.strict and query:
            self._strict_check_query(query, tags)

    @staticmethod
    def _template_tags(query: dict) -> dict:
        if isinstance(query.get("stages"), list) and query["stages"]:  # MBQL 5 (0.57+)
            tags = query["stages"][0].get("template-tags") if isinstance(query["stages"][0], dict) else None
        else:
            native = query.get("native")
            tags = native.get("template-tags") if isinstance(native, dict) else None
        return tags if isinstance(tags, dict) else {}

    def _strict_check_query(self, query: dict, tags: dict) -> None:
        if query.get("database") not in self.databases:
            raise Invalid({"dataset_query": ("database must be the id of an existing database",
                                             f"invalid type, received: {_received(query.get('database'))}")})
        if query.get("type") == "native":
            native = query.get("native")
            if not isinstance(native, dict) or not _non_blank(native.get("query")):
                raise Invalid({"dataset_query": ("native query must have a non-blank :query",
                                                 f"invalid type, received: {_received(native)}")})
        problems = []
        for key, tag in tags.items():
            if not isinstance(tag, dict):
                problems.append(f"{key}: not a map")
                continue
            for required in ("name", "display-name", "id", "type"):
                if not _non_blank(tag.get(required)):
                    problems.append(f"{key}: missing {required}")
            if tag.get("name") is not None and tag.get("name") != key:
                problems.append("keys in template tag map must match the :name of their values")
            if tag.get("type") is not None and tag.get("type") not in TAG_TYPES:
                problems.append(f"{key}: unknown type {tag.get('type')!r}")
        if problems:
            raise Invalid({"dataset_query": ("invalid template-tags: " + "; ".join(problems),
                                             f"invalid type, received: {_received(tags)}")})

    def _present_card(self, card: dict) -> dict:
        out = dict(card)
        if card["archived"]:  # present-in-trash-if-archived-directly
            out["collection_id"] = self.trash_collection_id
            out["archived_directly"] = True
        return out

    def _create_card(self, body: dict) -> dict:
        self._check_card(body, create=True)
        query = body["dataset_query"]
        card = {"id": self._next("card"), "name": body["name"], "description": body.get("description"),
                "display": body["display"], "type": body.get("type") or "question", "dataset_query": query,
                "visualization_settings": body["visualization_settings"],
                "collection_id": body.get("collection_id"), "parameters": body.get("parameters") or [],
                "parameter_mappings": body.get("parameter_mappings") or [], "archived": False,
                "database_id": query.get("database"), "query_type": query.get("type"),
                "dashboard_id": body.get("dashboard_id"), "entity_id": _entity_id(),
                "created_at": _now(), "updated_at": _now()}
        self.cards[card["id"]] = card
        return self._present_card(card)

    def _update_card(self, ident: str, body: dict) -> dict:
        card = self._get(self.cards, ident)
        self._check_card(body, create=False)
        for key in ("name", "display", "dataset_query", "visualization_settings", "type", "archived",
                    "parameters", "parameter_mappings"):
            if body.get(key) is not None:
                card[key] = body[key]
        for key in ("description", "collection_id", "collection_position", "cache_ttl"):
            if key in body:
                card[key] = body[key]
        if body.get("dataset_query") is not None:
            card["database_id"] = body["dataset_query"].get("database")
            card["query_type"] = body["dataset_query"].get("type")
        card["updated_at"] = _now()
        return self._present_card(card)

    # ------------------------------------------------------------ dashboards

    def _check_dashboard_top(self, body: dict, create: bool) -> None:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("description", lambda v: isinstance(v, str), "nullable string")
        checker.check("parameters", _parameters_ok, MSG_PARAMETERS)
        for key in ("cache_ttl", "collection_id", "collection_position", "position"):
            checker.check(key, _pos_int, MSG_NULLABLE_POS_INT)
        if not create:
            checker.check("archived", lambda v: isinstance(v, bool), MSG_BOOL)
            checker.check("width", lambda v: v in ("fixed", "full"), "enum of fixed, full", nullable=False)
            checker.check("dashcards", self._dashcards_ok, "value must be seq of maps in which ids are unique")
            checker.check("tabs", self._tabs_ok, "value must be seq of maps in which ids are unique")
        checker.raise_if_any()
        if body.get("collection_id") is not None and body["collection_id"] not in self.collections:
            raise Reject(*NOT_FOUND)

    @staticmethod
    def _dashcards_ok(value: Any) -> bool:
        if not isinstance(value, list) or not all(isinstance(dc, dict) for dc in value):
            return False
        ids = [dc.get("id") for dc in value]
        if len(set(map(str, ids))) != len(ids):
            return False
        for dc in value:
            if not _int(dc.get("id")) or not _pos_int(dc.get("size_x")) or not _pos_int(dc.get("size_y")):
                return False
            if not _int(dc.get("row")) or not _int(dc.get("col")) or dc["row"] < 0 or dc["col"] < 0:
                return False
            if dc.get("parameter_mappings") is not None and not _mappings_ok(dc["parameter_mappings"]):
                return False
            if dc.get("series") is not None and not (isinstance(dc["series"], list)
                                                     and all(isinstance(s, dict) for s in dc["series"])):
                return False
        return True

    @staticmethod
    def _tabs_ok(value: Any) -> bool:
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            return False
        ids = [t.get("id") for t in value]
        return len(set(map(str, ids))) == len(ids) and all(_int(t.get("id")) and _non_blank(t.get("name")) for t in value)

    def _present_dashboard(self, dash: dict) -> dict:
        dashcards = []
        for dc in dash["dashcards"]:
            card = self.cards.get(dc.get("card_id"))
            dashcards.append({**dc, "dashboard_id": dash["id"], "card": self._present_card(card) if card else None})
        return {**dash, "dashcards": dashcards}

    def _create_dashboard(self, body: dict) -> dict:
        self._check_dashboard_top(body, create=True)
        dash = {"id": self._next("dashboard"), "name": body["name"], "description": body.get("description"),
                "collection_id": body.get("collection_id"), "parameters": body.get("parameters") or [],
                "dashcards": [], "tabs": [], "archived": False, "width": "fixed", "entity_id": _entity_id(),
                "created_at": _now(), "updated_at": _now()}
        self.dashboards[dash["id"]] = dash
        return self._present_dashboard(dash)

    def _strict_check_mappings(self, dashcards: list[dict], parameters: list[dict]) -> None:
        parameter_ids = {p["id"] for p in parameters}
        for dc in dashcards:
            card = self.cards.get(dc.get("card_id")) if dc.get("card_id") is not None else None
            if dc.get("card_id") is not None and card is None:
                raise Invalid({"dashcards": (f"card {dc['card_id']} does not exist",
                                             f"invalid type, received: {_received(dc.get('card_id'))}")})
            for mapping in dc.get("parameter_mappings") or []:
                ok, tag = _target_tag(mapping["target"])
                if not ok:
                    raise Reject(400, "Invalid parameter :target, must be either :field, :dimension, or :variable; "
                                      f"got: {json.dumps(mapping['target'])}")
                if mapping["parameter_id"] not in parameter_ids:
                    raise Invalid({"dashcards": (f"parameter_mapping points at unknown parameter "
                                                 f"{mapping['parameter_id']!r}",
                                                 f"invalid type, received: {_received(mapping)}")})
                target_card = self.cards.get(mapping.get("card_id", dc.get("card_id")))
                if tag is not None and (target_card is None
                                        or tag not in self._template_tags(target_card["dataset_query"])):
                    raise Invalid({"dashcards": (f"parameter_mapping points at unknown template tag {tag!r}",
                                                 f"invalid type, received: {_received(mapping)}")})

    def _update_dashboard(self, ident: str, body: dict) -> dict:
        dash = self._get(self.dashboards, ident)
        self._check_dashboard_top(body, create=False)
        if dash["archived"] and "dashcards" in body:
            raise Reject(404, {"message": "The object has been archived.", "error_code": "archived"})
        parameters = body["parameters"] if body.get("parameters") is not None else dash["parameters"]
        if self.strict:
            dashcards = body["dashcards"] if body.get("dashcards") is not None else dash["dashcards"]
            self._strict_check_mappings(dashcards, parameters)
        if body.get("dashcards") is not None:
            self._replace_dashcards(dash, body["dashcards"], body.get("tabs") or [])
        for key in ("name", "parameters", "archived", "caveats", "points_of_interest"):
            if body.get(key) is not None:
                dash[key] = body[key]
        for key in ("description", "collection_id", "collection_position", "width", "cache_ttl"):
            if key in body:
                dash[key] = body[key]
        dash["updated_at"] = _now()
        return self._present_dashboard(dash)

    def _replace_dashcards(self, dash: dict, dashcards: list[dict], tabs: list[dict]) -> None:
        tab_ids: dict[int, int] = {}
        new_tabs = []
        existing_tabs = {t["id"] for t in dash["tabs"]}
        for tab in tabs:
            real = tab["id"] if tab["id"] in existing_tabs else self._next("tab")
            tab_ids[tab["id"]] = real
            new_tabs.append({"id": real, "name": tab["name"], "dashboard_id": dash["id"]})
        if dash["tabs"] and any(dc.get("dashboard_tab_id") is None for dc in dashcards):
            raise Reject(400, "This dashboard has tab, makes sure every card has a tab")
        existing = {dc["id"]: dc for dc in dash["dashcards"]}
        result = []
        for dc in dashcards:
            stored = dict(existing.get(dc["id"], {}))
            stored.update(dc)
            if dc["id"] not in existing:
                stored["id"] = self._next("dashcard")
            stored.setdefault("parameter_mappings", [])
            stored["parameter_mappings"] = stored["parameter_mappings"] or []
            stored.setdefault("visualization_settings", {})
            stored.setdefault("series", [])
            if stored.get("dashboard_tab_id") is not None:
                stored["dashboard_tab_id"] = tab_ids.get(stored["dashboard_tab_id"], stored["dashboard_tab_id"])
            stored.pop("card", None)
            result.append(stored)
        dash["dashcards"] = result
        dash["tabs"] = new_tabs
