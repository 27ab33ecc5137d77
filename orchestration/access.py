"""Who may read what in the warehouse: roles, grants, row-level security, client logins and the access log.

* Roles (cluster-wide, created if missing): `reporting_reader`, the login Metabase and the HTML report use, reads
  the published marts (masked) and nothing else; the group roles `reporting_executive` (every mart row, masked),
  `reporting_manager` and `reporting_agent` (the rows of their location / their own agent id), `reporting_admin`
  (also `marts_restricted`, the clear-text contacts, and `raw_audit`, the rejected raw lines), `reporting_client`
  (one organisation's / workspace's rows). Members of manager, agent and client are *scoped*: they see a mart row
  only when one of their scopes allows it.
* Scopes live in `access.role_scopes` (role, dimension, value), one table per database. A dimension names the
  columns that carry it (`SCOPE_COLUMNS`): a mart is scoped by every dimension one of its columns carries, found
  from the catalog when the marts are published, so a new mart with `organization_name` or `location_id` is
  covered without code. A scoped role sees a row of a mart when the mart carries at least one of the role's
  dimensions and, for each of those, the row's value is one the role holds; a mart that carries none of them
  (and is not a shared calendar) shows it no rows.
* `apply(conn)` grants and (re)creates the policies on the published relations; `publishing.publish` calls it in
  the transaction that swaps the audited build in, so no reader ever sees an ungranted or unpoliced mart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from psycopg import sql

from orchestration import settings

READER = "reporting_reader"
EXECUTIVE, MANAGER, AGENT, ADMIN, CLIENT = (
    f"reporting_{g}" for g in ("executive", "manager", "agent", "admin", "client")
)
SCOPED = "reporting_scoped"  # not a login: membership marks the roles whose rows are limited by their scopes
GROUPS = (EXECUTIVE, MANAGER, AGENT, ADMIN, CLIENT)
SCOPED_GROUPS = (MANAGER, AGENT, CLIENT)
ACCESS_SCHEMA = "access"
RESTRICTED_SCHEMA = "marts_restricted"  # clear-text contacts, admin only
SHARED_RELATIONS = frozenset({"dim_as_of", "dim_calendar", "dim_calendar_hour"})  # no client data: all may read
# dimension -> the mart columns that carry it (a row matches a scope on any of them)
SCOPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "organisation": ("organization_id", "organization_name"),
    "workspace": ("workspace_id", "workspace_name"),
    "location": ("location_id", "location_key", "location_name"),
    "agent": ("agent_id",),
}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_POLICY = "reporting_rows"
_LOCK = "lead_analytics.access"


class AccessError(RuntimeError):
    """A role or grant could not be set up; the message says which and why, in one line."""


# ----------------------------------------------------------------------------- passwords


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 7677), computed here so the clear
    password is never sent in a statement the server might log."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def _password_file(config: settings.Settings) -> Path:
    return config.state_dir / "reporting_reader.password"


def reader_password(config: settings.Settings | None = None) -> str:
    """`LEAD_ANALYTICS_READER_PASSWORD`, else the one generated on first use and kept (mode 0600) in the state
    directory beside the warehouse. Never printed."""
    config = config or settings.current()
    if config.reader_password:
        return config.reader_password
    path = _password_file(config)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password)
    return password


def reader_info(owner):
    """`owner`'s connection settings with the reader's login (same server and database)."""
    return replace(owner, user=READER, password=reader_password())


def reader_for(owner, arrivals: bool = True):
    """The reader's connection settings, after making sure (as `owner`) that its grants are in place (marts
    published before this project granted anything, or built by `lead-analytics dbt -- build`) and, with
    `arrivals`, that the sources' arrival times it reads for a page's "Sources" line are current (D183)."""
    from orchestration import publishing, warehouse
    from orchestration.bi import freshness

    sources = freshness.lineage().sources if arrivals else None

    def attempt() -> None:
        with warehouse.connect(owner) as conn:
            if sources is not None:
                freshness.publish_arrivals(conn, sources)
            apply(conn)
            conn.commit()

    # Enabling row security on a mart autovacuum is analysing right after its publish can deadlock (D193; the run's
    # summary, seconds after the publish, met it once): the transaction rolled back whole, so it runs again.
    publishing.retrying_deadlocks(attempt)
    return reader_info(owner)


# ----------------------------------------------------------------------------- roles and grants


def _ident(*parts: str) -> sql.Identifier:
    return sql.Identifier(*parts)


def _role_exists(cur, role: str) -> bool:
    return cur.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def _ensure_roles(cur, password: str) -> None:
    for role in (SCOPED, *GROUPS):
        if not _role_exists(cur, role):
            cur.execute(sql.SQL("create role {} nologin").format(_ident(role)))
    for group in SCOPED_GROUPS:
        if not cur.execute("select pg_has_role(%s, %s, 'member')", (group, SCOPED)).fetchone()[0]:
            cur.execute(sql.SQL("grant {} to {}").format(_ident(SCOPED), _ident(group)))
    _set_login(cur, READER, password, inherit=False)


# Besides superuser: what lets a login create databases or roles (and so make itself more) or read past row security.
# A reporting login holds none of them; Metabase may not connect as one (metabase_state.privilege_of).
POWERS = ("rolcreatedb", "rolcreaterole", "rolbypassrls")


def _set_login(cur, role: str, password: str, inherit: bool) -> None:
    """Create the login `role` (PostgreSQL's defaults: no superuser, createdb, createrole, bypassrls) or set its
    password; AccessError when an existing one holds any of those attributes (only a superuser may remove them)."""
    verifier = sql.Literal(scram_verifier(password))
    if _role_exists(cur, role):
        privileged = cur.execute(
            f"select rolsuper or {' or '.join(POWERS)} from pg_roles where rolname = %s", (role,)
        ).fetchone()[0]
        if privileged:
            raise AccessError(
                f"role {role} exists with superuser, createdb, createrole or bypassrls; remove them "
                "(as a superuser) before it is used for reporting"
            )
        cur.execute(sql.SQL("alter role {} login password {}").format(_ident(role), verifier))
    else:
        cur.execute(
            sql.SQL("create role {} login " + ("inherit" if inherit else "noinherit") + " password {}").format(
                _ident(role), verifier
            )
        )


def _ensure_access_schema(cur) -> None:
    """The scope table, the policy functions and the access log (created once per database)."""
    cur.execute(sql.SQL("create schema if not exists {}").format(_ident(ACCESS_SCHEMA)))
    cur.execute(sql.SQL("create schema if not exists {}").format(_ident(settings.AUDIT_SCHEMA)))
    cur.execute("""
        create table if not exists access.role_scopes (
            role_name name not null,
            dimension text not null check (dimension in ('organisation', 'workspace', 'location', 'agent')),
            value text not null,
            granted_at timestamptz not null default now(),
            granted_by name not null default session_user,
            primary key (role_name, dimension, value)
        )""")
    cur.execute(f"""
        create table if not exists "{settings.AUDIT_SCHEMA}".access_log (
            id bigserial primary key,
            at timestamptz not null default clock_timestamp(),
            who name not null,
            action text not null check (action in ('render', 'export', 'delivery')),
            what text not null,
            filters jsonb not null default '{{}}',
            row_count bigint
        )""")
    # SECURITY DEFINER so that a role can see its own scopes without reading the table (search_path pinned); asked
    # about a role the session is not (or is not a member of), they answer "scoped, nothing allowed".
    cur.execute("""
        create or replace function access.is_scoped(p_role name) returns boolean
        language sql stable security definer set search_path = pg_catalog as $$
            select case when not (p_role = session_user or pg_has_role(session_user, p_role, 'member')) then true
                        else exists (select 1 from pg_roles r
                                     where r.rolname = 'reporting_scoped' and pg_has_role(p_role, r.oid, 'member'))
                   end
        $$""")
    cur.execute("""
        create or replace function access.allowed(p_role name, p_dimension text) returns text[]
        language sql stable security definer set search_path = pg_catalog as $$
            select case when not (p_role = session_user or pg_has_role(session_user, p_role, 'member'))
                        then '{}'::text[]
                        else (select array_agg(s.value)
                              from access.role_scopes s
                              inner join pg_roles r on r.rolname = s.role_name
                              where s.dimension = p_dimension and pg_has_role(p_role, r.oid, 'member'))
                   end
        $$""")
    # Who is recorded from the session, not from the caller's word: a role can append to the log, not edit it.
    cur.execute(f"""
        create or replace function access.log_access(p_action text, p_what text, p_filters jsonb,
                                                     p_rows bigint) returns void
        language sql volatile security definer set search_path = pg_catalog as $$
            insert into "{settings.AUDIT_SCHEMA}".access_log (who, action, what, filters, row_count)
            values (session_user, p_action, p_what, coalesce(p_filters, '{{}}'), p_rows)
        $$""")
    for function in ("is_scoped(name)", "allowed(name, text)", "log_access(text, text, jsonb, bigint)"):
        cur.execute(f"revoke all on function access.{function} from public")


def _relations(cur, schema: str) -> list[tuple[str, str]]:
    """(name, relkind) of the tables, views and materialized views in `schema`."""
    return cur.execute(
        """select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace
                          where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm') order by c.relname""",
        (schema,),
    ).fetchall()


def _columns(cur, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in cur.execute(
            """select a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid
           join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped order by a.attnum""",
            (schema, table),
        ).fetchall()
    ]


def scope_columns(columns: Iterable[str]) -> dict[str, list[str]]:
    """Dimension -> the given columns that carry it (only the dimensions present)."""
    present = set(columns)
    return {
        dim: [c for c in cols if c in present] for dim, cols in SCOPE_COLUMNS.items() if any(c in present for c in cols)
    }


def policy_condition(dimensions: dict[str, list[str]]) -> sql.Composable:
    """The USING expression of a mart's row policy (the role functions run once per query, as init plans)."""
    unscoped = sql.SQL("not (select access.is_scoped(current_user))")
    if not dimensions:
        return unscoped
    held = sql.SQL(" or ").join(
        sql.SQL("(select access.allowed(current_user, {})) is not null").format(sql.Literal(d)) for d in dimensions
    )
    each = []
    for dim, cols in dimensions.items():
        allowed = sql.SQL("(select access.allowed(current_user, {}))").format(sql.Literal(dim))
        matches = sql.SQL(" or ").join(sql.SQL("{}::text = any({}::text[])").format(_ident(c), allowed) for c in cols)
        each.append(sql.SQL("({} is null or {})").format(allowed, matches))
    return sql.SQL("{} or (({}) and {})").format(unscoped, held, sql.SQL(" and ").join(each))


def _try(cur, statement: sql.Composable | str) -> None:
    """A statement a non-owner of the database may not be allowed (then it is left as it is)."""
    import psycopg

    try:
        with cur.connection.transaction():
            cur.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        pass


def apply(conn, marts: Iterable[str] = (settings.MARTS_SCHEMA,)) -> dict[str, dict[str, list[str]]]:
    """Create the roles if missing, then grant and police the published schemas in `conn`'s database; in the
    caller's transaction when there is one. Returns each policed mart's dimensions (table -> dimension ->
    columns). AccessError when the warehouse user may not create roles."""
    import psycopg

    password = reader_password()
    policed: dict[str, dict[str, list[str]]] = {}
    try:
        with conn.transaction():
            cur = conn.cursor()
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (_LOCK,))
            _ensure_roles(cur, password)
            _ensure_access_schema(cur)
            database = cur.execute("select current_database()").fetchone()[0]
            # PostgreSQL lets every role create in `public` (before 15) and create temporary tables.
            _try(cur, sql.SQL("revoke create on schema public from public"))
            _try(cur, sql.SQL("revoke temporary, create on database {} from public").format(_ident(database)))
            everyone = (READER, *GROUPS)
            cur.execute(
                sql.SQL("grant usage on schema {} to {}").format(
                    _ident(ACCESS_SCHEMA), sql.SQL(", ").join(map(_ident, everyone))
                )
            )
            cur.execute(
                sql.SQL(
                    "grant execute on function access.is_scoped(name), access.allowed(name, text), "
                    "access.log_access(text, text, jsonb, bigint) to {}"
                ).format(sql.SQL(", ").join(map(_ident, everyone)))
            )
            cur.execute(sql.SQL("grant select on access.role_scopes to {}").format(_ident(ADMIN)))
            audit = settings.AUDIT_SCHEMA
            cur.execute(
                sql.SQL("grant usage on schema {} to {}").format(
                    _ident(audit), sql.SQL(", ").join(map(_ident, everyone))
                )
            )
            # the "Data" and "Sources" lines of every dashboard; no personal data, no file name in them
            for table in ("publications", "source_arrivals"):
                if cur.execute("select to_regclass(%s)", (f'"{audit}".{table}',)).fetchone()[0]:
                    cur.execute(
                        sql.SQL("grant select on {} to {}").format(
                            _ident(audit, table), sql.SQL(", ").join(map(_ident, everyone))
                        )
                    )
            cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(_ident(audit), _ident(ADMIN)))
            for schema in marts:
                if not _schema_exists(cur, schema):
                    continue
                cur.execute(
                    sql.SQL("grant usage on schema {} to {}").format(
                        _ident(schema), sql.SQL(", ").join(map(_ident, everyone))
                    )
                )
                for name, kind in _relations(cur, schema):
                    policed[name] = _police(cur, schema, name, kind)
            if _schema_exists(cur, RESTRICTED_SCHEMA):
                cur.execute(
                    sql.SQL("grant usage on schema {s} to {a}; grant select on all tables in schema {s} to {a}").format(
                        s=_ident(RESTRICTED_SCHEMA), a=_ident(ADMIN)
                    )
                )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise AccessError(
            f"cannot set up the reporting roles: {str(exc).strip().splitlines()[0]} (the warehouse "
            "user needs CREATEROLE, and to own the marts)"
        ) from None
    return policed


def _schema_exists(cur, schema: str) -> bool:
    return cur.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


def _police(cur, schema: str, name: str, kind: str) -> dict[str, list[str]]:
    relation = _ident(schema, name)
    unscoped_readers = sql.SQL(", ").join(map(_ident, (READER, EXECUTIVE, ADMIN)))
    scoped = sql.SQL(", ").join(map(_ident, SCOPED_GROUPS))
    cur.execute(sql.SQL("grant select on {} to {}").format(relation, unscoped_readers))
    if kind not in ("r", "p"):  # a view or materialized view cannot carry a row policy: scoped roles get none
        cur.execute(sql.SQL("revoke all on {} from {}").format(relation, scoped))
        return {}
    cur.execute(sql.SQL("grant select on {} to {}").format(relation, scoped))
    if name in SHARED_RELATIONS:
        cur.execute(sql.SQL("alter table {} disable row level security").format(relation))
        return {}
    dimensions = scope_columns(_columns(cur, schema, name))
    cur.execute(sql.SQL("alter table {} enable row level security").format(relation))
    cur.execute(sql.SQL("drop policy if exists {} on {}").format(_ident(_POLICY), relation))
    cur.execute(
        sql.SQL("create policy {} on {} for select using ({})").format(
            _ident(_POLICY), relation, policy_condition(dimensions)
        )
    )
    return dimensions


# ----------------------------------------------------------------------------- logins


@dataclass(frozen=True)
class Login:
    role: str
    groups: tuple[str, ...]
    scopes: tuple[tuple[str, str], ...]  # (dimension, value)

    def line(self) -> str:
        scopes = ", ".join(f"{d}={v}" for d, v in self.scopes) or "all rows"
        return f"{self.role}: {', '.join(self.groups)}; {scopes}"


def checked_name(name: str) -> str:
    if not _NAME.match(name) or name.startswith(("pg_", "reporting_")):
        raise AccessError(
            f"{name!r} is not a role name this command creates (lower-case letters, digits and _, "
            "starting with a letter, not pg_ or reporting_)"
        )
    return name


def add_login(conn, name: str, group: str, scopes: list[tuple[str, str]], password: str) -> Login:
    """Create (or update) the login role `name` in `group` with exactly these scopes."""
    import psycopg

    checked_name(name)
    if group in SCOPED_GROUPS and not scopes:
        raise AccessError(f"a {group} login needs at least one scope (it would see no rows)")
    if not password:
        raise AccessError("an empty password is refused")
    apply(conn)
    try:
        with conn.transaction():
            cur = conn.cursor()
            if _role_exists(cur, name):
                ours = cur.execute(
                    "select bool_or(pg_has_role(%s, g, 'member')) from unnest(%s::name[]) g", (name, list(GROUPS))
                ).fetchone()[0]
                if not ours:
                    raise AccessError(f"role {name} exists and is not a reporting login; pick another name")
            _set_login(cur, name, password, inherit=True)
            for other in GROUPS:
                if other != group and cur.execute("select pg_has_role(%s, %s, 'member')", (name, other)).fetchone()[0]:
                    cur.execute(sql.SQL("revoke {} from {}").format(_ident(other), _ident(name)))
            cur.execute(sql.SQL("grant {} to {}").format(_ident(group), _ident(name)))
            cur.execute("delete from access.role_scopes where role_name = %s", (name,))
            for dimension, value in scopes:
                cur.execute(
                    "insert into access.role_scopes (role_name, dimension, value) values (%s, %s, %s)",
                    (name, dimension, value),
                )
    except psycopg.errors.InsufficientPrivilege as exc:
        raise AccessError(f"cannot create role {name}: {str(exc).strip().splitlines()[0]}") from None
    return Login(name, (group,), tuple(scopes))


def remove_login(conn, name: str) -> bool:
    """Drop the reporting login `name` and its scopes; False when there is no such login."""
    checked_name(name)
    apply(conn)
    with conn.transaction():
        cur = conn.cursor()
        known = [login for login in list_logins(conn) if login.role == name]
        cur.execute("delete from access.role_scopes where role_name = %s", (name,))
        if not known:
            return False
        cur.execute(sql.SQL("drop role if exists {}").format(_ident(name)))
    return True


def list_logins(conn) -> list[Login]:
    """Every login in a reporting group (the reader included), with its scopes in this database."""
    rows = conn.execute(
        """
        select m.rolname, array_agg(distinct g.rolname order by g.rolname)
        from pg_roles m
        join pg_auth_members am on am.member = m.oid
        join pg_roles g on g.oid = am.roleid
        where m.rolcanlogin and g.rolname = any(%s)
        group by m.rolname order by m.rolname""",
        (list(GROUPS),),
    ).fetchall()
    scopes: dict[str, list[tuple[str, str]]] = {}
    if conn.execute("select to_regclass('access.role_scopes')").fetchone()[0]:
        for role, dim, value in conn.execute(
            "select role_name, dimension, value from access.role_scopes order by 1, 2, 3"
        ).fetchall():
            scopes.setdefault(role, []).append((dim, value))
    out = (
        [Login(READER, ("dashboards and Metabase",), ())]
        if conn.execute("select 1 from pg_roles where rolname = %s", (READER,)).fetchone()
        else []
    )
    return out + [Login(role, tuple(groups), tuple(scopes.get(role, []))) for role, groups in rows]


# ----------------------------------------------------------------------------- the access log


def log_access(conn, action: str, what: str, filters: dict | None, rows: int | None) -> None:
    """Append one row to raw_audit.access_log as the connected role (session_user)."""
    import psycopg

    args = (action, what, json.dumps(filters or {}, default=str, sort_keys=True), rows)
    try:
        with conn.transaction():
            conn.execute("select access.log_access(%s, %s, %s::jsonb, %s)", args)
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName):
        # a database never published (a test fixture built by dbt alone): its owner creates the log first
        with conn.transaction():
            _ensure_access_schema(conn.cursor())
            conn.execute("select access.log_access(%s, %s, %s::jsonb, %s)", args)
