"""A fake Metabase HTTP server for provisioning tests (stdlib only, in-memory state).

It follows /work/shared/METABASE_API.md ("the fact sheet"); its §13 overrides the earlier sections. Shapes: the
request payloads of Metabase 0.53 – 0.56 with the 0.53+ "Defendpoint 2.0" error bodies (`{"errors": …,
"specific-errors": …}`); `dataset_query` is stored as sent (legacy MBQL 4; `?legacy-mbql=true` is accepted).

Implemented: `POST /api/session`, `GET /api/user/current`,
`GET/POST /api/database`, `GET/PUT /api/database/:id`, `POST /api/database/:id/sync_schema`,
`GET /api/database/:id/metadata`, `GET /api/table`, `PUT /api/table/:id`, `PUT /api/table/:id/fields/order`,
`PUT /api/field/:id` (the calls dbt-metabase makes), `GET/POST /api/collection`, `GET/PUT /api/collection/:id`,
`GET /api/collection/:id/items`, `POST /api/card`, `GET/PUT /api/card/:id`, `POST /api/dashboard`,
`GET/PUT /api/dashboard/:id`, `DELETE /api/session` (logout), and the permissions of §9/§14:
`GET/POST /api/permissions/group`, `GET/PUT /api/permissions/graph`, `GET/PUT /api/collection/graph`; the
subscriptions and card alerts of §14 (issue 20): `GET/POST /api/pulse`, `GET/PUT /api/pulse/:id`,
`GET/POST /api/notification`, `GET/PUT /api/notification/:id`. Any other route is a 404
`API endpoint does not exist.`, including
`POST /api/dashboard/:id/cards` (removed in 0.47).

Behaviour of §13 and of 0.53+ that a provisioner must cope with:
* **Sync.** The warehouse the fake "sees" is `tables` (`{"schema.table": {column: base_type}}`). A database has no
  tables until a sync has run: creating it or `POST …/sync_schema` starts one, and it finishes only after
  `sync_reads` further metadata reads (sync is asynchronous), so a client must poll. Field ids are assigned then,
  in an order unrelated to table or column order.
* **Field filters.** A `dimension` template tag must point at `["field", <id>, …]` of a synced field of the
  query's database (400 otherwise: `Invalid Field Filter …` for another database's field).
* **Tabs (§13.1).** With `dashcards` in a `PUT /api/dashboard/:id`, the tabs *sent* are the tabs kept: tabs left
  out (a missing or empty `tabs` included) are deleted silently together with their dashcards, no 400. The "every
  card has a tab" 400 is checked against the tabs sent.
* **entity_id (§13.2)** sent on create is ignored; the fake makes its own.
* **Dashboard questions (0.53+).** `PUT /api/card/:id {dashboard_id}` moves a card into a dashboard (and onto it,
  if it is not there yet); `GET /api/collection/:id/items` hides such cards unless `show_dashboard_questions=true`;
  a dashboard PUT that drops the dashcard of one of its own questions archives that card; placing a card that
  lives in another dashboard is a 400; archiving a dashboard archives its questions.
* **Normalised read-back (§13.5).** `visualization_settings` come back without null entries and with
  `column_settings` keys re-spelled compactly (`["name","x"]`); template tags come back with `required`; every
  parameter mapping carries its `card_id`. A client comparing request bodies verbatim sees changes that are not.
* Directly archived cards are presented in the Trash collection (`collection_id` = Trash, `archived_directly`).
* **Permissions (§9, §14).** Groups `All Users` (1) and `Administrators` (2) exist; group names are unique. A new
  database gives both full access (`view-data: unrestricted`, `create-queries: query-builder-and-native`), as
  Metabase does; a new group has none (`create-queries: no`). A new collection inherits its parent's permissions
  (the root: `write` for both), so a provisioner that does not revoke them leaves its collections open to everyone.
  Each graph has a `revision`; a PUT with another revision answers **409**, a PUT changes only the groups and
  objects it names (a partial graph) and bumps the revision. The collection graph omits `none` (0.56.13+) and
  personal collections. Only open-source values are accepted: `view-data` other than `unrestricted` (blocked,
  sandboxed, impersonated: paid features) is a 402; a change to the Administrators group is a 400.

Rejected as real Metabase rejects them (fact sheet §11): requests without a valid session or API key (401
`Unauthenticated`); bad logins; blank/missing required keys, wrong types, non-positive ids, `description: ""` on
card create, bad `type`, malformed `parameters` / `parameter_mappings`; dashcards that are not maps, lack
`id`/`size_x`/`size_y`/`row`/`col`, have sizes < 1, negative positions or duplicate ids; tabs without names;
`width` other than fixed|full; editing dashcards of an archived dashboard; a `type: model` card with variables;
unknown engines; unknown ids (404); `description: ""` on tables and fields. Accepted as real Metabase accepts
them: extra keys, any non-blank `display`, any `visualization_settings` map, `dataset_query: {}`, nulls on
nullable keys, duplicate names.

`strict=True` (the default) adds checks real Metabase performs only later (when a query runs) or only in newer
versions, so that a provisioner bug fails at once: template tags need non-blank `name` (equal to their key),
`display-name`, `id` and a known `type`; a `dimension` tag needs a field and a `widget-type` of the parameter
types, and no other tag may carry `dimension`; card parameters must target a tag of the card; a native query
must name an existing database; parameter mappings must point at a parameter of the dashboard and a tag of the
card, `["dimension", …]` only at field filters and `["variable", …]` only at plain variables, with a filter type
the tag accepts (a plain text variable runs only equality, §13.4); dashcards must reference existing cards.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

NOT_FOUND = (404, "Not found.")
NO_ENDPOINT = (404, "API endpoint does not exist.")
PROTECTED_PASSWORD = "**MetabasePass**"  # what Metabase returns instead of a stored secret
ENGINES = {"postgres", "h2", "mysql", "sqlite", "redshift", "bigquery-cloud-sdk", "snowflake"}
CARD_TYPES = {"question", "model", "metric"}
TAG_TYPES = {"snippet", "card", "dimension", "number", "text", "date", "boolean", "temporal-unit", "table"}
PARAMETER_TYPES = {  # lib `parameter/types` (fact sheet §6.3)
    "number",
    "text",
    "date",
    "boolean",
    "date/single",
    "id",
    "category",
    "location/city",
    "location/state",
    "location/zip_code",
    "location/country",
    "date/range",
    "date/month-year",
    "date/quarter-year",
    "date/relative",
    "date/all-options",
    "temporal-unit",
    "number/!=",
    "number/<=",
    "number/=",
    "number/>=",
    "number/between",
    "string/!=",
    "string/=",
    "string/contains",
    "string/does-not-contain",
    "string/ends-with",
    "string/starts-with",
    "boolean/=",
}
PLAIN_TAG_FILTERS = {
    "text": {"string/=", "category", "text", "id"},
    "number": {"number/=", "number", "category", "id"},
    "date": {"date/single", "date"},
}  # §13.4: equality only
FIELD_VISIBILITY = {"normal", "details-only", "sensitive", "hidden", "retired"}
HAS_FIELD_VALUES = {"list", "search", "none", "auto-list"}

ALL_USERS, ADMINISTRATORS = 1, 2
CREATE_QUERIES = {"no", "query-builder", "query-builder-and-native"}
COLLECTION_PERMS = {"read", "write", "none"}
STALE_REVISION = (
    "Looks like someone else edited the permissions and your data is out of date. Please fetch new data and try again."
)
MSG_NON_BLANK = "value must be a non-blank string."
MSG_MAP = "Value must be a map."
MSG_POS_INT = "value must be an integer greater than zero."
MSG_NULLABLE_POS_INT = "nullable value must be an integer greater than zero."
MSG_PARAMETERS = "nullable sequence of parameter must be a map with :id and :type keys"
MSG_MAPPINGS = "nullable sequence of parameter_mapping must be a map with :parameter_id and :target keys"
MSG_BOOL = "nullable boolean"
MSG_NULLABLE_NON_BLANK = "nullable value must be a non-blank string."

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
        isinstance(p, dict) and _non_blank(p.get("id")) and _non_blank(p.get("type")) for p in v
    )


def _mappings_ok(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(m, dict) and _non_blank(m.get("parameter_id")) and m.get("target") is not None for m in v
    )


def _target_tag(target: Any) -> tuple[bool, str | None, str | None]:
    """(shape ok, "dimension"/"variable", template-tag name or None) for a parameter target (fact sheet §6.4)."""
    if not isinstance(target, list) or len(target) not in (2, 3) or target[0] not in ("variable", "dimension"):
        return False, None, None
    if len(target) == 3 and not isinstance(target[2], dict):
        return False, None, None
    inner = target[1]
    if isinstance(inner, list) and len(inner) == 2 and inner[0] == "template-tag":
        if isinstance(inner[1], str):
            return True, target[0], inner[1]
        if isinstance(inner[1], dict) and _non_blank(inner[1].get("id")):
            return True, target[0], None
        return False, None, None
    if target[0] == "dimension" and isinstance(inner, list) and len(inner) == 3 and inner[0] == "field":
        return True, target[0], None
    return False, None, None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _entity_id() -> str:
    return uuid.uuid4().hex[:21]


def _humanize(name: str) -> str:
    """Metabase's default display name for a table or column (`fct_bot_leads` -> `Fct Bot Leads`)."""
    return " ".join(w.capitalize() for w in re.split(r"[_\s]+", name) if w)


def normalize_settings(value: Any) -> Any:
    """visualization_settings as Metabase returns them: no nulls, `column_settings` keys re-serialised."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            v = normalize_settings(v)
            if k == "column_settings" and isinstance(v, dict):
                v = {_respell(ck): cv for ck, cv in v.items()}
            out[k] = v
        return out
    if isinstance(value, list):
        return [normalize_settings(v) for v in value]
    return value


def _respell(key: str) -> str:
    try:
        return json.dumps(json.loads(key), separators=(",", ":"))
    except ValueError:
        return key


# ---------------------------------------------------------------- the fake


class FakeMetabase:
    """In-memory Metabase; `start()` serves it on 127.0.0.1 at a random port (see `url`)."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        strict: bool = True,
        api_keys: tuple[str, ...] = (),
        tables: dict[str, dict[str, str]] | None = None,
        sync_reads: int = 1,
    ):
        self.users = dict(users or {"admin@example.com": "s3cret-pass"})
        self.strict = strict
        self.api_keys = set(api_keys)
        self.warehouse = {k.lower(): dict(v) for k, v in (tables or {}).items()}
        self.sync_reads = sync_reads
        self.sessions: set[str] = set()
        self.requests: list[tuple[str, str, Any, int]] = []  # method, path, body, status
        self.databases: dict[int, dict] = {}
        self.tables: dict[int, dict] = {}
        self.fields: dict[int, dict] = {}
        self.collections: dict[int, dict] = {}
        self.cards: dict[int, dict] = {}
        self.dashboards: dict[int, dict] = {}
        self.groups: dict[int, dict] = {
            ALL_USERS: {"id": ALL_USERS, "name": "All Users"},
            ADMINISTRATORS: {"id": ADMINISTRATORS, "name": "Administrators"},
        }
        self.data_perms: dict[int, dict[int, dict]] = {}  # group -> database -> {view-data, create-queries}
        self.collection_perms: dict[int, dict[Any, str]] = {
            ALL_USERS: {"root": "write"},
            ADMINISTRATORS: {"root": "write"},
        }
        self.revisions = {"data": 1, "collection": 1}
        self._ids: dict[str, int] = {
            "database": 0,
            "collection": 0,
            "card": 0,
            "dashboard": 0,
            "dashcard": 0,
            "tab": 0,
            "table": 10,
            "field": 100,
            "group": ADMINISTRATORS,
            "pulse": 0,
            "notification": 0,
        }
        self.pulses: dict[int, dict] = {}
        self.notifications: dict[int, dict] = {}
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

    def start(self) -> FakeMetabase:
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

    def __enter__(self) -> FakeMetabase:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------ helpers for tests

    def field_id(self, schema: str, table: str, column: str) -> int:
        """The synced field id of a warehouse column (KeyError before a sync)."""
        for f in self.fields.values():
            t = self.tables[f["table_id"]]
            if (t["schema"], t["name"], f["name"]) == (schema, table, column):
                return f["id"]
        raise KeyError(f"{schema}.{table}.{column} is not synced")

    def writes(self) -> list[tuple[str, str]]:
        """Every successful or failed write so far (logins excluded)."""
        return [(m, p) for m, p, _, _ in self.requests if m != "GET" and p != "/api/session"]

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
        if (method, path) == ("DELETE", "/api/session"):
            if session not in self.sessions:
                return NOT_FOUND
            self.sessions.discard(session)
            return 204, None
        if session not in self.sessions and headers.get("x-api-key") not in self.api_keys:
            return 401, "Unauthenticated"
        if method in ("POST", "PUT") and body is not None and not isinstance(body, (dict, list)):
            return 400, "Malformed JSON in request body."
        raw_body = body
        body = body if isinstance(body, dict) else {}
        m = re.fullmatch(r"/api/(\w+)(?:/(\w+))?(?:/(\w+))?(?:/(\w+))?", path)
        if not m:
            return NO_ENDPOINT
        kind, ident, sub, subsub = m.groups()
        routes = {
            ("GET", "user", "current", None): lambda: {
                "id": 1,
                "email": next(iter(self.users)),
                "is_superuser": True,
                "personal_collection_id": self.personal_collection_id,
            },
            ("GET", "database", None, None): lambda: {
                "data": [self._present_db(d) for d in self.databases.values()],
                "total": len(self.databases),
            },
            ("POST", "database", None, None): lambda: self._create_database(body),
            ("GET", "database", "id", None): lambda: self._present_db(self._get(self.databases, ident)),
            ("PUT", "database", "id", None): lambda: self._update_database(ident, body),
            ("POST", "database", "id", "sync_schema"): lambda: self._start_sync(self._get(self.databases, ident)),
            ("GET", "database", "id", "metadata"): lambda: self._metadata(self._get(self.databases, ident)),
            ("GET", "table", None, None): lambda: [self._present_table(t, with_db=True) for t in self.tables.values()],
            ("PUT", "table", "id", None): lambda: self._update_table(ident, body),
            ("PUT", "field", "id", None): lambda: self._update_field(ident, body),
            ("GET", "collection", None, None): lambda: self._list_collections(query),
            ("POST", "collection", None, None): lambda: self._create_collection(body),
            ("GET", "collection", "id", None): lambda: self._get(self.collections, ident),
            ("PUT", "collection", "id", None): lambda: self._update_collection(ident, body),
            ("GET", "collection", "id", "items"): lambda: self._collection_items(ident, query),
            ("POST", "card", None, None): lambda: self._create_card(body),
            ("GET", "card", "id", None): lambda: self._present_card(self._get(self.cards, ident)),
            ("PUT", "card", "id", None): lambda: self._update_card(ident, body, query),
            ("POST", "dashboard", None, None): lambda: self._create_dashboard(body),
            ("GET", "dashboard", "id", None): lambda: self._present_dashboard(self._get(self.dashboards, ident)),
            ("PUT", "dashboard", "id", None): lambda: self._update_dashboard(ident, body),
            ("GET", "permissions", "group", None): lambda: [dict(g, member_count=0) for g in self.groups.values()],
            ("POST", "permissions", "group", None): lambda: self._create_group(body),
            ("GET", "permissions", "graph", None): self._data_graph,
            ("PUT", "permissions", "graph", None): lambda: self._put_data_graph(body),
            ("GET", "collection", "graph", None): self._collection_graph,
            ("PUT", "collection", "graph", None): lambda: self._put_collection_graph(body),
        }
        routes.update(self._subscription_routes(ident, body))
        shape = "id" if ident is not None and ident.isdigit() else ident
        if (method, kind, shape, sub, subsub) == ("PUT", "table", "id", "fields", "order"):
            return 200, self._order_fields(ident, raw_body)
        if subsub is not None:
            return NO_ENDPOINT
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

    # ------------------------------------------------------------ databases and their data model

    def _present_db(self, db: dict) -> dict:
        details = {k: (PROTECTED_PASSWORD if k == "password" and v else v) for k, v in db["details"].items()}
        return {k: v for k, v in {**db, "details": details}.items() if k != "sync_pending"}

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
            raise Reject(
                400,
                {"message": "Connection test failed: host and dbname are required.", "dbname": details.get("dbname")},
            )

    def _create_database(self, body: dict) -> dict:
        self._check_database(body, create=True)
        db = {
            "id": self._next("database"),
            "name": body["name"],
            "engine": body["engine"],
            "details": dict(body["details"]),
            "is_full_sync": body.get("is_full_sync", True),
            "is_on_demand": body.get("is_on_demand", False),
            "created_at": _now(),
            "updated_at": _now(),
            "sync_pending": None,
        }
        self.databases[db["id"]] = db
        for group in (ALL_USERS, ADMINISTRATORS):  # Metabase opens a new database to everyone
            self.data_perms.setdefault(group, {})[db["id"]] = {
                "view-data": "unrestricted",
                "create-queries": "query-builder-and-native",
            }
        self._start_sync(db)  # Metabase syncs a new database in the background
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

    def _start_sync(self, db: dict) -> dict:
        db["sync_pending"] = self.sync_reads
        return {"status": "ok"}

    def _run_sync(self, db: dict) -> None:
        """Make the warehouse's tables and columns known, keeping the ids of those seen before."""
        patterns = (db["details"].get("schema-filters-patterns") or "").split(",")
        included = db["details"].get("schema-filters-type") != "inclusion"
        known = {(t["schema"], t["name"]): t for t in self.tables.values() if t["db_id"] == db["id"]}
        new_fields = []
        for qualified, columns in sorted(self.warehouse.items()):
            schema, name = qualified.split(".", 1)
            if not (included or schema in patterns):
                continue
            table = known.get((schema, name))
            if table is None:
                table = {
                    "id": self._next("table"),
                    "db_id": db["id"],
                    "schema": schema,
                    "name": name,
                    "display_name": _humanize(name),
                    "description": None,
                    "entity_type": "entity/GenericTable",
                    "visibility_type": None,
                    "points_of_interest": None,
                    "caveats": None,
                    "active": True,
                    "field_order": "database",
                    "show_in_getting_started": False,
                }
                self.tables[table["id"]] = table
            have = {f["name"] for f in self.fields.values() if f["table_id"] == table["id"]}
            for position, (column, base_type) in enumerate(columns.items()):
                if column not in have:
                    new_fields.append((table, position, column, base_type))
        # ids in an order unrelated to tables and columns, as a real sync history produces
        for table, position, column, base_type in sorted(
            new_fields, key=lambda x: hashlib.sha1(f"{x[0]['name']}.{x[2]}".encode()).hexdigest()
        ):
            text = base_type == "type/Text"
            field = {
                "id": self._next("field"),
                "table_id": table["id"],
                "name": column,
                "display_name": _humanize(column),
                "description": None,
                "base_type": base_type,
                "effective_type": base_type,
                "database_type": base_type.split("/")[-1].lower(),
                "semantic_type": "type/PK" if column == "id" else None,
                "visibility_type": "normal",
                "has_field_values": "auto-list" if text else "none",
                "fk_target_field_id": None,
                "coercion_strategy": None,
                "settings": None,
                "position": position,
                "active": True,
                "caveats": None,
                "points_of_interest": None,
            }
            self.fields[field["id"]] = field

    def _metadata(self, db: dict) -> dict:
        if db["sync_pending"] is not None:
            if db["sync_pending"] > 0:
                db["sync_pending"] -= 1  # still syncing
            else:
                self._run_sync(db)
                db["sync_pending"] = None
        tables = [self._present_table(t) for t in self.tables.values() if t["db_id"] == db["id"]]
        return {**self._present_db(db), "tables": tables}

    def _present_table(self, table: dict, with_db: bool = False) -> dict:
        fields = sorted(
            (dict(f) for f in self.fields.values() if f["table_id"] == table["id"]), key=lambda f: f["position"]
        )
        out = {**table, "fields": fields}
        if with_db:
            out["db"] = self._present_db(self.databases[table["db_id"]])
        return out

    def _update_table(self, ident: str, body: dict) -> dict:
        table = self._get(self.tables, ident)
        checker = _Checker(body)
        for key in ("display_name", "description", "caveats", "points_of_interest"):
            checker.check(key, _non_blank, MSG_NULLABLE_NON_BLANK)
        checker.check(
            "visibility_type",
            lambda v: v in {"hidden", "technical", "cruft"},
            "nullable enum of hidden, technical, cruft",
        )
        checker.raise_if_any()
        for key in (
            "display_name",
            "description",
            "caveats",
            "points_of_interest",
            "visibility_type",
            "entity_type",
            "field_order",
            "show_in_getting_started",
        ):
            if key in body:
                table[key] = body[key] if key != "display_name" or body[key] else _humanize(table["name"])
        return self._present_table(table)

    def _order_fields(self, ident: str, body: Any) -> list:
        table = self._get(self.tables, ident)
        mine = {f["id"] for f in self.fields.values() if f["table_id"] == table["id"]}
        if not isinstance(body, list) or set(body) != mine:
            raise Invalid(
                {
                    "field_order": (
                        "value must be the ids of every field of the table",
                        f"invalid type, received: {_received(body)}",
                    )
                }
            )
        for position, field_id in enumerate(body):
            self.fields[field_id]["position"] = position
        table["field_order"] = "custom"
        return body

    def _update_field(self, ident: str, body: dict) -> dict:
        field = self._get(self.fields, ident)
        checker = _Checker(body)
        for key in ("display_name", "description", "caveats", "points_of_interest"):
            checker.check(key, _non_blank, MSG_NULLABLE_NON_BLANK)
        checker.check(
            "semantic_type",
            lambda v: isinstance(v, str) and v.startswith("type/"),
            "nullable value must be a valid semantic type",
        )
        checker.check("visibility_type", lambda v: v in FIELD_VISIBILITY, "nullable enum of field visibility types")
        checker.check(
            "has_field_values", lambda v: v in HAS_FIELD_VALUES, "nullable enum of list, search, none, auto-list"
        )
        checker.check("fk_target_field_id", lambda v: _pos_int(v) and v in self.fields, MSG_NULLABLE_POS_INT)
        checker.check("settings", _is_map, MSG_MAP)
        checker.raise_if_any()
        for key in (
            "display_name",
            "description",
            "semantic_type",
            "visibility_type",
            "has_field_values",
            "fk_target_field_id",
            "coercion_strategy",
            "settings",
            "caveats",
            "points_of_interest",
        ):
            if key in body:
                field[key] = body[key] if key != "display_name" or body[key] else _humanize(field["name"])
        return dict(field)

    # ------------------------------------------------------------ collections

    def _new_collection(self, body: dict) -> dict:
        parent_id = body.get("parent_id")
        location = "/" if parent_id is None else f"{self.collections[parent_id]['location']}{parent_id}/"
        coll = {
            "id": self._next("collection"),
            "name": body["name"],
            "description": body.get("description"),
            "location": location,
            "archived": False,
            "personal_owner_id": None,
            "namespace": body.get("namespace"),
            "authority_level": body.get("authority_level"),
            "type": None,
            "entity_id": _entity_id(),
        }
        self.collections[coll["id"]] = coll
        parent = "root" if parent_id is None else parent_id
        for perms in self.collection_perms.values():  # a new collection inherits its parent's permissions
            if parent in perms:
                perms[coll["id"]] = perms[parent]
        return coll

    def _list_collections(self, query: dict) -> list[dict]:
        archived = query.get("archived", ["false"])[0] == "true"
        root = {"id": "root", "name": "Our analytics", "location": None, "archived": False, "personal_owner_id": None}
        found = [c for c in self.collections.values() if c["archived"] == archived and c["type"] != "trash"]
        return ([] if archived else [root]) + found

    def _check_collection(self, body: dict, create: bool) -> None:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("description", _non_blank, MSG_NULLABLE_NON_BLANK)
        checker.check("parent_id", _pos_int, MSG_NULLABLE_POS_INT)
        checker.check("namespace", _non_blank, MSG_NULLABLE_NON_BLANK)
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
        with_dashboard_questions = query.get("show_dashboard_questions", ["false"])[0] == "true"
        items: list[dict] = []
        for card in self.cards.values():
            if card["collection_id"] != coll["id"] or card["archived"] != archived:
                continue
            if card["dashboard_id"] is not None and not with_dashboard_questions:
                continue  # 0.53+: a card that lives inside a dashboard is not listed by default
            model = {"question": "card", "model": "dataset", "metric": "metric"}[card["type"]]
            item = {
                "id": card["id"],
                "name": card["name"],
                "model": model,
                "description": card["description"],
                "display": card["display"],
                "entity_id": card["entity_id"],
                "dashboard_id": card["dashboard_id"],
            }
            if card["dashboard_id"] is not None:
                item["dashboard"] = {"id": card["dashboard_id"], "name": self.dashboards[card["dashboard_id"]]["name"]}
            items.append(item)
        items.extend(
            {
                "id": dash["id"],
                "name": dash["name"],
                "model": "dashboard",
                "description": dash["description"],
                "entity_id": dash["entity_id"],
            }
            for dash in self.dashboards.values()
            if dash["collection_id"] == coll["id"] and dash["archived"] == archived
        )
        items.extend(
            {"id": child["id"], "name": child["name"], "model": "collection"}
            for child in self.collections.values()
            if child["location"] == f"{coll['location']}{coll['id']}/" and child["archived"] == archived
        )
        if models:
            items = [i for i in items if i["model"] in models]
        return {
            "total": len(items),
            "data": items,
            "models": sorted({i["model"] for i in items}),
            "limit": None,
            "offset": None,
        }

    # ------------------------------------------------------------ cards

    def _check_card(self, body: dict, create: bool, card: dict | None = None) -> None:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("dataset_query", _is_map, MSG_MAP, required=create)
        checker.check("display", _non_blank, MSG_NON_BLANK, required=create)
        checker.check("visualization_settings", _is_map, MSG_MAP, required=create)
        checker.check("type", lambda v: v in CARD_TYPES, "nullable enum of question, model, metric")
        if create:
            checker.check("description", _non_blank, MSG_NULLABLE_NON_BLANK)
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
        query = body.get("dataset_query") or (card["dataset_query"] if card else {})
        tags = self._template_tags(query)
        card_type = body.get("type") or (card["type"] if card else "question")
        if card_type == "model" and any(
            t.get("type") not in ("card", "snippet") for t in tags.values() if isinstance(t, dict)
        ):
            raise Reject(400, "A model made from a native SQL question cannot have a variable or field filter.")
        if body.get("dashboard_id") is not None:
            dash = self.dashboards.get(body["dashboard_id"])
            if dash is None:
                raise Reject(*NOT_FOUND)
            if body.get("collection_id") is not None and body["collection_id"] != dash["collection_id"]:
                raise Reject(
                    400,
                    f"Mismatch detected between Dashboard's collection_id ({dash['collection_id']}) "
                    f"and collection_id ({body['collection_id']})",
                )
        if body.get("dataset_query"):
            self._check_field_filters(query, tags)
            if self.strict:
                self._strict_check_query(query, tags)
        if self.strict and body.get("parameters"):
            for parameter in body["parameters"]:
                ok, _, tag = _target_tag(parameter.get("target")) if parameter.get("target") else (True, None, None)
                if not ok or (tag is not None and tag not in tags):
                    raise Invalid(
                        {
                            "parameters": (
                                f"parameter {parameter['id']!r} targets no template tag of the card",
                                f"invalid type, received: {_received(parameter)}",
                            )
                        }
                    )

    @staticmethod
    def _template_tags(query: dict) -> dict:
        if isinstance(query.get("stages"), list) and query["stages"]:  # MBQL 5 (0.57+)
            tags = query["stages"][0].get("template-tags") if isinstance(query["stages"][0], dict) else None
        else:
            native = query.get("native")
            tags = native.get("template-tags") if isinstance(native, dict) else None
        return tags if isinstance(tags, dict) else {}

    def _check_field_filters(self, query: dict, tags: dict) -> None:
        """Field filters point at fields Metabase knows (after a sync) of the query's own database."""
        for key, tag in tags.items():
            if not isinstance(tag, dict) or tag.get("type") != "dimension" or tag.get("dimension") is None:
                continue
            dim = tag["dimension"]
            if not (isinstance(dim, list) and len(dim) == 3 and dim[0] == "field" and _int(dim[1])):
                raise Invalid(
                    {
                        "dataset_query": (
                            f"template tag {key}: :dimension must be a field reference",
                            f"invalid type, received: {_received(dim)}",
                        )
                    }
                )
            field = self.fields.get(dim[1])
            if field is None:
                raise Reject(400, f"Invalid Field Filter: Field {dim[1]} does not exist.")
            db_id = self.tables[field["table_id"]]["db_id"]
            if db_id != query.get("database"):
                raise Reject(
                    400,
                    f"Invalid Field Filter: Field {dim[1]} belongs to Database {db_id}, but the query "
                    f"is against Database {query.get('database')}",
                )

    def _strict_check_query(self, query: dict, tags: dict) -> None:
        if query.get("database") not in self.databases:
            raise Invalid(
                {
                    "dataset_query": (
                        "database must be the id of an existing database",
                        f"invalid type, received: {_received(query.get('database'))}",
                    )
                }
            )
        if query.get("type") == "native":
            native = query.get("native")
            if not isinstance(native, dict) or not _non_blank(native.get("query")):
                raise Invalid(
                    {
                        "dataset_query": (
                            "native query must have a non-blank :query",
                            f"invalid type, received: {_received(native)}",
                        )
                    }
                )
            used = set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", native["query"]))
            if used != set(tags):
                raise Invalid(
                    {
                        "dataset_query": (
                            f"template tags {sorted(tags)} do not match the query's variables {sorted(used)}",
                            "invalid type, received: …",
                        )
                    }
                )
        problems = []
        for key, tag in tags.items():
            if not isinstance(tag, dict):
                problems.append(f"{key}: not a map")
                continue
            problems.extend(
                f"{key}: missing {required}"
                for required in ("name", "display-name", "id", "type")
                if not _non_blank(tag.get(required))
            )
            if tag.get("name") is not None and tag.get("name") != key:
                problems.append("keys in template tag map must match the :name of their values")
            if tag.get("type") is not None and tag.get("type") not in TAG_TYPES:
                problems.append(f"{key}: unknown type {tag.get('type')!r}")
            if tag.get("type") == "dimension":
                if tag.get("dimension") is None:
                    problems.append(f"{key}: a dimension tag needs :dimension")
                if tag.get("widget-type") not in PARAMETER_TYPES | {"none"}:
                    problems.append(f"{key}: unknown widget-type {tag.get('widget-type')!r}")
            elif "dimension" in tag:
                problems.append(":dimension is only allowed for :type :dimension template tags")
        if problems:
            raise Invalid(
                {
                    "dataset_query": (
                        "invalid template-tags: " + "; ".join(problems),
                        f"invalid type, received: {_received(tags)}",
                    )
                }
            )

    def _present_card(self, card: dict) -> dict:
        out = json.loads(json.dumps(card))
        out["visualization_settings"] = normalize_settings(card["visualization_settings"])
        for tag in self._template_tags(out["dataset_query"]).values():
            if isinstance(tag, dict):
                tag.setdefault("required", False)
        if card["archived"] and card.get("archived_directly", True):  # present-in-trash-if-archived-directly
            out["collection_id"] = self.trash_collection_id
            out["archived_directly"] = True
        return out

    def _create_card(self, body: dict) -> dict:
        self._check_card(body, create=True)
        query = body["dataset_query"]
        dashboard_id = body.get("dashboard_id")
        collection_id = self.dashboards[dashboard_id]["collection_id"] if dashboard_id else body.get("collection_id")
        card = {
            "id": self._next("card"),
            "name": body["name"],
            "description": body.get("description"),
            "display": body["display"],
            "type": body.get("type") or "question",
            "dataset_query": query,
            "visualization_settings": body["visualization_settings"],
            "collection_id": collection_id,
            "parameters": body.get("parameters") or [],
            "parameter_mappings": body.get("parameter_mappings") or [],
            "archived": False,
            "database_id": query.get("database"),
            "query_type": query.get("type"),
            "dashboard_id": dashboard_id,
            "entity_id": _entity_id(),  # a sent entity_id is ignored (§13.2)
            "created_at": _now(),
            "updated_at": _now(),
        }
        self.cards[card["id"]] = card
        if dashboard_id:
            self._autoplace(self.dashboards[dashboard_id], card)
        return self._present_card(card)

    def _update_card(self, ident: str, body: dict, query: dict) -> dict:
        card = self._get(self.cards, ident)
        self._check_card(body, create=False, card=card)
        for key in (
            "name",
            "display",
            "dataset_query",
            "visualization_settings",
            "type",
            "archived",
            "parameters",
            "parameter_mappings",
        ):
            if body.get(key) is not None:
                card[key] = body[key]
        for key in ("description", "collection_id", "collection_position", "cache_ttl"):
            if key in body:
                card[key] = body[key]
        if "archived" in body:
            card["archived_directly"] = bool(body["archived"])
        if "dashboard_id" in body:
            if body["dashboard_id"] is None:
                card["dashboard_id"] = None  # out of the dashboard, into `collection_id`
            else:
                dash = self.dashboards[body["dashboard_id"]]
                others = [
                    d
                    for d in self.dashboards.values()
                    if d["id"] != dash["id"] and any(dc.get("card_id") == card["id"] for dc in d["dashcards"])
                ]
                if others and query.get("delete_old_dashcards", ["false"])[0] != "true":
                    raise Reject(400, "This question is used in other dashboards; pass delete_old_dashcards=true")
                for other in others:
                    other["dashcards"] = [dc for dc in other["dashcards"] if dc.get("card_id") != card["id"]]
                card["dashboard_id"], card["collection_id"] = dash["id"], dash["collection_id"]
                self._autoplace(dash, card)
        if body.get("dataset_query") is not None:
            card["database_id"] = body["dataset_query"].get("database")
            card["query_type"] = body["dataset_query"].get("type")
        card["updated_at"] = _now()
        return self._present_card(card)

    def _autoplace(self, dash: dict, card: dict) -> None:
        """Moving a question into a dashboard also puts it on the dashboard (at the bottom) if it is not there."""
        if any(dc.get("card_id") == card["id"] for dc in dash["dashcards"]):
            return
        row = max((dc["row"] + dc["size_y"] for dc in dash["dashcards"]), default=0)
        tab = dash["tabs"][0]["id"] if dash["tabs"] else None
        dash["dashcards"].append(
            {
                "id": self._next("dashcard"),
                "card_id": card["id"],
                "dashboard_tab_id": tab,
                "row": row,
                "col": 0,
                "size_x": 12,
                "size_y": 6,
                "parameter_mappings": [],
                "visualization_settings": {},
                "series": [],
            }
        )

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
            if dc.get("series") is not None and not (
                isinstance(dc["series"], list) and all(isinstance(s, dict) for s in dc["series"])
            ):
                return False
        return True

    @staticmethod
    def _tabs_ok(value: Any) -> bool:
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            return False
        ids = [t.get("id") for t in value]
        return len(set(map(str, ids))) == len(ids) and all(
            _int(t.get("id")) and _non_blank(t.get("name")) for t in value
        )

    def _present_dashboard(self, dash: dict) -> dict:
        dashcards = []
        for dc in dash["dashcards"]:
            card = self.cards.get(dc.get("card_id"))
            mappings = [{**m, "card_id": m.get("card_id", dc.get("card_id"))} for m in dc["parameter_mappings"]]
            dashcards.append(
                {
                    **json.loads(json.dumps(dc)),
                    "dashboard_id": dash["id"],
                    "parameter_mappings": mappings,
                    "visualization_settings": normalize_settings(dc["visualization_settings"]),
                    "card": self._present_card(card) if card else None,
                }
            )
        tabs = [{**t, "position": n, "dashboard_id": dash["id"]} for n, t in enumerate(dash["tabs"])]
        return {**json.loads(json.dumps(dash)), "dashcards": dashcards, "tabs": tabs}

    def _create_dashboard(self, body: dict) -> dict:
        self._check_dashboard_top(body, create=True)
        dash = {
            "id": self._next("dashboard"),
            "name": body["name"],
            "description": body.get("description"),
            "collection_id": body.get("collection_id"),
            "parameters": body.get("parameters") or [],
            "dashcards": [],
            "tabs": [],
            "archived": False,
            "width": "fixed",
            "entity_id": _entity_id(),  # a sent entity_id is ignored (§13.2)
            "created_at": _now(),
            "updated_at": _now(),
        }
        self.dashboards[dash["id"]] = dash
        return self._present_dashboard(dash)

    def _strict_check_mappings(self, dashcards: list[dict], parameters: list[dict]) -> None:
        types = {p["id"]: p["type"] for p in parameters}
        for dc in dashcards:
            card = self.cards.get(dc.get("card_id")) if dc.get("card_id") is not None else None
            if dc.get("card_id") is not None and card is None:
                raise Invalid(
                    {
                        "dashcards": (
                            f"card {dc['card_id']} does not exist",
                            f"invalid type, received: {_received(dc.get('card_id'))}",
                        )
                    }
                )
            for mapping in dc.get("parameter_mappings") or []:
                ok, kind, tag_name = _target_tag(mapping["target"])
                if not ok:
                    raise Reject(
                        400,
                        "Invalid parameter :target, must be either :field, :dimension, or :variable; "
                        f"got: {json.dumps(mapping['target'])}",
                    )
                if mapping["parameter_id"] not in types:
                    raise Invalid(
                        {
                            "dashcards": (
                                f"parameter_mapping points at unknown parameter {mapping['parameter_id']!r}",
                                f"invalid type, received: {_received(mapping)}",
                            )
                        }
                    )
                target_card = self.cards.get(mapping.get("card_id", dc.get("card_id")))
                if tag_name is None:
                    continue
                tag = self._template_tags(target_card["dataset_query"]).get(tag_name) if target_card else None
                if tag is None:
                    raise Invalid(
                        {
                            "dashcards": (
                                f"parameter_mapping points at unknown template tag {tag_name!r}",
                                f"invalid type, received: {_received(mapping)}",
                            )
                        }
                    )
                filter_type = types[mapping["parameter_id"]]
                if tag.get("type") == "dimension":
                    fits = (
                        kind == "dimension" and filter_type.split("/")[0] == str(tag.get("widget-type")).split("/")[0]
                    )
                else:
                    fits = kind == "variable" and filter_type in PLAIN_TAG_FILTERS.get(tag.get("type"), set())
                if not fits:
                    raise Reject(
                        400,
                        f"Invalid parameter type {filter_type} / target {kind} for template tag "
                        f"{tag_name!r} of type {tag.get('type')}",
                    )

    def _update_dashboard(self, ident: str, body: dict) -> dict:
        dash = self._get(self.dashboards, ident)
        self._check_dashboard_top(body, create=False)
        if dash["archived"] and "dashcards" in body:
            raise Reject(404, {"message": "The object has been archived.", "error_code": "archived"})
        parameters = body["parameters"] if body.get("parameters") is not None else dash["parameters"]
        if body.get("dashcards") is not None:
            for dc in body["dashcards"]:
                card = self.cards.get(dc.get("card_id"))
                if card is not None and card["dashboard_id"] not in (None, dash["id"]):
                    raise Reject(
                        400,
                        f"Card {card['id']} lives in dashboard {card['dashboard_id']} and cannot be "
                        f"added to another dashboard",
                    )
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
        if body.get("archived") is not None:  # a dashboard's own questions follow it to (and from) the Trash
            for card in self.cards.values():
                if card["dashboard_id"] == dash["id"]:
                    card["archived"], card["archived_directly"] = body["archived"], False
        dash["updated_at"] = _now()
        return self._present_dashboard(dash)

    def _replace_dashcards(self, dash: dict, dashcards: list[dict], tabs: list[dict]) -> None:
        """The sent tabs and dashcards become the dashboard's (§6.2.2, §13.1): everything left out is deleted."""
        if tabs and any(dc.get("dashboard_tab_id") is None for dc in dashcards):
            raise Reject(400, "This dashboard has tab, makes sure every card has a tab")
        existing_tabs = {t["id"] for t in dash["tabs"]}
        tab_ids: dict[int, int] = {}
        new_tabs = []
        for tab in tabs:
            real = tab["id"] if tab["id"] in existing_tabs else self._next("tab")
            tab_ids[tab["id"]] = real
            new_tabs.append({"id": real, "name": tab["name"]})
        for dc in dashcards:
            if dc.get("dashboard_tab_id") is not None and dc["dashboard_tab_id"] not in tab_ids:
                raise Reject(
                    400,
                    f"Dashcard {dc['id']} names tab {dc['dashboard_tab_id']}, which is not among the dashboard's tabs",
                )
        kept_tabs = set(tab_ids.values())
        # tabs left out are deleted with their dashcards, before the sent dashcards are applied (silently)
        survivors = {
            dc["id"]: dc
            for dc in dash["dashcards"]
            if dc.get("dashboard_tab_id") is None or dc["dashboard_tab_id"] in kept_tabs
        }
        result = []
        for dc in dashcards:
            stored = dict(survivors.get(dc["id"], {}))
            stored.update({k: v for k, v in dc.items() if k != "card"})
            if dc["id"] not in survivors:  # new (negative id), or unknown: created anew, as newest Metabase does
                stored["id"] = self._next("dashcard")
            stored["parameter_mappings"] = stored.get("parameter_mappings") or []
            stored["visualization_settings"] = stored.get("visualization_settings") or {}
            stored["series"] = stored.get("series") or []
            if stored.get("dashboard_tab_id") is not None:
                stored["dashboard_tab_id"] = tab_ids[stored["dashboard_tab_id"]]
            result.append(stored)
        shown = {dc.get("card_id") for dc in result}
        for card in self.cards.values():  # a dashboard question whose dashcard is gone goes to the Trash
            if card["dashboard_id"] == dash["id"] and card["id"] not in shown and not card["archived"]:
                card["archived"], card["archived_directly"] = True, True
        dash["dashcards"] = result
        dash["tabs"] = new_tabs

    # ------------------------------------------------------------ permissions (§9, §14)

    def _create_group(self, body: dict) -> dict:
        checker = _Checker(body)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=True)
        checker.raise_if_any()
        if any(g["name"].lower() == body["name"].lower() for g in self.groups.values()):
            raise Invalid(
                {
                    "name": (
                        "A group with that name already exists.",
                        f"invalid type, received: {_received(body['name'])}",
                    )
                }
            )
        group = {"id": self._next("group"), "name": body["name"]}
        self.groups[group["id"]] = group
        return dict(group, member_count=0)

    def _data_graph(self) -> dict:
        default = {"view-data": "unrestricted", "create-queries": "no"}
        return {
            "revision": self.revisions["data"],
            "groups": {
                str(g): {str(d): dict(self.data_perms.get(g, {}).get(d, default)) for d in self.databases}
                for g in self.groups
            },
        }

    def _collection_graph(self) -> dict:
        shown = [c for c in self.collections.values() if c["personal_owner_id"] is None and c["type"] != "trash"]
        groups = {}
        for g in self.groups:
            perms = self.collection_perms.get(g, {})
            cells = {"root": perms.get("root", "none"), **{str(c["id"]): perms.get(c["id"], "none") for c in shown}}
            groups[str(g)] = {k: v for k, v in cells.items() if v != "none"}  # 0.56.13+ omits "none"
        return {"revision": self.revisions["collection"], "groups": groups}

    def _graph_body(self, body: dict, kind: str) -> dict:
        if not isinstance(body.get("groups"), dict):
            raise Invalid({"groups": (MSG_MAP, f"invalid type, received: {_received(body.get('groups'))}")})
        if body.get("revision") != self.revisions[kind]:
            raise Reject(409, STALE_REVISION)
        out = {}
        for gid, cells in body["groups"].items():
            if not str(gid).isdigit() or int(gid) not in self.groups or not isinstance(cells, dict):
                raise Reject(404, f"Group {gid} does not exist.")
            if int(gid) == ADMINISTRATORS and cells:
                raise Reject(400, "You cannot edit the permissions of the Administrators group.")
            out[int(gid)] = cells
        return out

    def _put_data_graph(self, body: dict) -> dict:
        changes = self._graph_body(body, "data")
        for dbs in changes.values():
            for db_id, perms in dbs.items():
                if not str(db_id).isdigit() or int(db_id) not in self.databases or not isinstance(perms, dict):
                    raise Reject(404, f"Database {db_id} does not exist.")
                view, create = perms.get("view-data", "unrestricted"), perms.get("create-queries", "no")
                if create not in CREATE_QUERIES:
                    raise Invalid(
                        {
                            "create-queries": (
                                "enum of no, query-builder, query-builder-and-native",
                                f"invalid type, received: {_received(create)}",
                            )
                        }
                    )
                if view == "blocked" and create == "query-builder-and-native":
                    raise Reject(
                        400,
                        "Invalid DB permissions: If you have write access for native queries, you "
                        "must have data access to all schemas.",
                    )
                if view != "unrestricted":
                    raise Reject(
                        402, f"view-data {view!r} needs a paid Metabase plan (sandboxing, blocking, impersonation)."
                    )
        for gid, dbs in changes.items():
            for db_id, perms in dbs.items():
                current = self.data_perms.setdefault(gid, {}).get(int(db_id), {"view-data": "unrestricted"})
                self.data_perms[gid][int(db_id)] = {**current, **perms}
        self.revisions["data"] += 1
        return self._data_graph()

    def _put_collection_graph(self, body: dict) -> dict:
        changes = self._graph_body(body, "collection")
        for cells in changes.values():
            for coll_id, perm in cells.items():
                if coll_id != "root" and not (str(coll_id).isdigit() and int(coll_id) in self.collections):
                    raise Reject(404, f"Collection {coll_id} does not exist.")
                if perm not in COLLECTION_PERMS:
                    raise Invalid(
                        {"groups": ("enum of read, write, none", f"invalid type, received: {_received(perm)}")}
                    )
        for gid, cells in changes.items():
            for coll_id, perm in cells.items():
                self.collection_perms.setdefault(gid, {})["root" if coll_id == "root" else int(coll_id)] = perm
        self.revisions["collection"] += 1
        return self._collection_graph()

    # ------------------------------------------------------------ subscriptions and card alerts (§14.4, §14.5)

    def _subscription_routes(self, ident: str | None, body: dict) -> dict:
        return {
            ("GET", "pulse", None, None): lambda: [p for p in self.pulses.values() if not p["archived"]],
            ("POST", "pulse", None, None): lambda: self._save_pulse(None, body),
            ("GET", "pulse", "id", None): lambda: self._get(self.pulses, ident),
            ("PUT", "pulse", "id", None): lambda: self._save_pulse(ident, body),
            ("GET", "notification", None, None): lambda: list(self.notifications.values()),
            ("POST", "notification", None, None): lambda: self._save_notification(None, body),
            ("GET", "notification", "id", None): lambda: self._get(self.notifications, ident),
            ("PUT", "notification", "id", None): lambda: self._save_notification(ident, body),
        }

    def _save_pulse(self, ident: str | None, body: dict) -> dict:
        current = self._get(self.pulses, ident) if ident else {}
        merged = {**current, **body}
        checker = _Checker(merged)
        checker.check("name", _non_blank, MSG_NON_BLANK, required=True)
        checker.raise_if_any()
        channels = merged.get("channels")
        if not isinstance(channels, list) or not channels:
            raise Invalid({"channels": "one or more map"})
        for channel in channels:
            kind = channel.get("schedule_type")
            if channel.get("channel_type") not in ("email", "slack", "http") or kind not in (
                "hourly",
                "daily",
                "weekly",
                "monthly",
            ):
                raise Invalid(
                    {"channels": "channel_type email|slack|http and schedule_type hourly|daily|weekly|monthly"}
                )
            hour = channel.get("schedule_hour")
            if kind != "hourly" and not (isinstance(hour, int) and 0 <= hour <= 23):
                raise Invalid({"channels": "schedule_hour must be an integer from 0 to 23"})
            if kind == "weekly" and channel.get("schedule_day") not in (
                "mon",
                "tue",
                "wed",
                "thu",
                "fri",
                "sat",
                "sun",
            ):
                raise Invalid({"channels": "a weekly schedule needs schedule_day mon..sun"})
            if kind == "monthly" and channel.get("schedule_frame") not in ("first", "mid", "last"):
                raise Invalid({"channels": "a monthly schedule needs schedule_frame first|mid|last"})
            for r in channel.get("recipients", []):
                if not (isinstance(r, dict) and (isinstance(r.get("id"), int) or "@" in str(r.get("email", "")))):
                    raise Invalid({"channels": "a recipient is {id} or {email}"})
        dashboard = merged.get("dashboard_id")
        if dashboard is not None:
            self._get(self.dashboards, str(dashboard))
        for card in merged.get("cards", []):
            self._get(self.cards, str(card["id"]))
        pulse = {"archived": False, "skip_if_empty": False, "parameters": [], "cards": [], **merged}
        pulse["id"] = current.get("id") or self._next("pulse")
        pulse["entity_id"] = current.get("entity_id") or uuid.uuid4().hex[:21]
        self.pulses[pulse["id"]] = pulse
        return pulse

    def _save_notification(self, ident: str | None, body: dict) -> dict:
        current = self._get(self.notifications, ident) if ident else {}
        merged = {**current, **body}
        if merged.get("payload_type") != "notification/card":
            raise Invalid({"payload_type": "notification/card (card alerts are the only kind provisioned here)"})
        payload = merged.get("payload") or {}
        self._get(self.cards, str(payload.get("card_id")))
        if payload.get("send_condition") not in ("has_result", "goal_above", "goal_below"):
            raise Invalid({"payload": "send_condition has_result|goal_above|goal_below"})
        for sub in merged.get("subscriptions", []):
            fields = str(sub.get("cron_schedule", "")).split()
            if sub.get("type") != "notification-subscription/cron" or len(fields) not in (6, 7):
                raise Invalid({"subscriptions": "a Quartz cron_schedule with seconds (6 or 7 fields)"})
        notification = {"active": True, **merged}
        notification["id"] = current.get("id") or self._next("notification")
        self.notifications[notification["id"]] = notification
        return notification


# ---------------------------------------------------------------- the warehouse a fake sees

_BASE_TYPES = {
    "text": "type/Text",
    "character varying": "type/Text",
    "date": "type/Date",
    "integer": "type/Integer",
    "bigint": "type/BigInteger",
    "smallint": "type/Integer",
    "numeric": "type/Decimal",
    "double precision": "type/Float",
    "boolean": "type/Boolean",
    "timestamp with time zone": "type/DateTimeWithLocalTZ",
    "timestamp without time zone": "type/DateTime",
}


def warehouse_tables(conn, schemas: tuple[str, ...] = ("marts",)) -> dict[str, dict[str, str]]:
    """The tables and columns a Metabase sync of these schemas would find (for `FakeMetabase(tables=…)`)."""
    rows = conn.execute(
        """
        select table_schema, table_name, column_name, data_type from information_schema.columns
        where table_schema = any(%s) order by table_schema, table_name, ordinal_position""",
        (list(schemas),),
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for schema, table, column, data_type in rows:
        out.setdefault(f"{schema}.{table}", {})[column] = _BASE_TYPES.get(data_type, "type/*")
    return out


def manifest_tables(manifest_path, schema: str = "marts") -> dict[str, dict[str, str]]:
    """The tables a sync would find for the marts whose columns dbt's manifest types (contract-enforced marts),
    for provisioning every dashboard without building every domain's fixture."""
    import json
    from pathlib import Path

    nodes = json.loads(Path(manifest_path).read_text())["nodes"].values()
    out: dict[str, dict[str, str]] = {}
    for node in nodes:
        columns = node.get("columns") or {}
        if node["resource_type"] != "model" or node["schema"].split("__")[0] != schema or not columns:
            continue
        if all(c.get("data_type") for c in columns.values()):
            out[f"{schema}.{node['alias'] or node['name']}"] = {
                name: _BASE_TYPES.get(c["data_type"].split("(")[0].strip().lower(), "type/*")
                for name, c in columns.items()
            }
    return out
