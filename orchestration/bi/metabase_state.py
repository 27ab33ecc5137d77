"""The provisioner's record of what it made in Metabase: table `raw_audit.metabase_objects` in the warehouse.

One row per object and Metabase instance: the spec key (card/dashboard file stem, collection or database name,
access.yml group or `client:<key>` for a client's connection and collection),
Metabase's numeric id and its entity_id (checked before every edit, so a record that points at somebody else's
object after a Metabase restore is never followed), whether the provisioner created it or adopted it, and for
dashboards the ids of the tabs, dashcards and filters it placed. Everything not recorded here belongs to people
and is left alone. Why a table and not a marker in Metabase: docs/DECISIONLOG.md D70.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from orchestration import settings

TABLE = f"{settings.AUDIT_SCHEMA}.metabase_objects"


def instance_key(url: str) -> str:
    """A Metabase base URL written one way (scheme and host lower case, default port and trailing / dropped)."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{scheme}://{host}{port}{parts.path.rstrip('/')}"


@dataclass
class Record:
    kind: str  # database | collection | group | card | dashboard
    key: str
    metabase_id: int
    entity_id: str | None
    origin: str = "created"  # created | adopted
    detail: dict[str, Any] = field(default_factory=dict)
    in_code: bool = True  # False once the spec is gone (and the object archived)


class WarehouseState:
    """Records in the warehouse (`info`: an orchestration.warehouse.ConnectionInfo; None = the configured one)."""

    def __init__(self, info: Any = None):
        self.info = info
        self._conn = None

    def _connection(self):
        if self._conn is None:
            from orchestration import warehouse

            self._conn = warehouse.connect(self.info, autocommit=True)
            schema = settings.AUDIT_SCHEMA
            self._conn.execute(f"create schema if not exists {schema}")
            self._conn.execute(f"""
                create table if not exists {TABLE} (
                    instance text not null,
                    kind text not null,
                    key text not null,
                    metabase_id integer not null,
                    entity_id text,
                    origin text not null,
                    detail jsonb not null default '{{}}',
                    in_code boolean not null default true,
                    created_at timestamptz not null default now(),
                    updated_at timestamptz not null default now(),
                    primary key (instance, kind, key)
                )""")
        return self._conn

    def load(self, instance: str) -> dict[tuple[str, str], Record]:
        rows = (
            self._connection()
            .execute(
                f"select kind, key, metabase_id, entity_id, origin, detail, in_code from {TABLE} where instance = %s",
                (instance,),
            )
            .fetchall()
        )
        return {(r[0], r[1]): Record(r[0], r[1], r[2], r[3], r[4], r[5] or {}, r[6]) for r in rows}

    def save(self, instance: str, record: Record) -> None:
        self._connection().execute(
            f"""
            insert into {TABLE} (instance, kind, key, metabase_id, entity_id, origin, detail, in_code)
            values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s)
            on conflict (instance, kind, key) do update set
                metabase_id = excluded.metabase_id, entity_id = excluded.entity_id, origin = excluded.origin,
                detail = excluded.detail, in_code = excluded.in_code, updated_at = now()""",
            (
                instance,
                record.kind,
                record.key,
                record.metabase_id,
                record.entity_id,
                record.origin,
                json.dumps(record.detail, sort_keys=True),
                record.in_code,
            ),
        )

    def privilege_of(self, role: str) -> str | None:
        """Why a connection should not log in as `role` ("a superuser", "the warehouse owner", ...), or None: a
        role that reads past the grants and row security, or owns (or may act as the owner of) the warehouse. A
        role this server does not know is not judged (None)."""
        from orchestration.access import POWERS

        powers = " or ".join(f"r.{attribute}" for attribute in POWERS)
        row = (
            self._connection()
            .execute(
                f"""select r.rolsuper, {powers}, r.rolname = session_user,
                      pg_has_role(r.oid, d.datdba, 'member')
                          or pg_has_role(r.oid, coalesce(m.nspowner, d.datdba), 'member')
                   from pg_roles r
                   cross join pg_database d
                   left join pg_namespace m on m.nspname = %s
                   where r.rolname = %s and d.datname = current_database()""",
                (settings.MARTS_SCHEMA, role),
            )
            .fetchone()
        )
        if row is None:
            return None
        superuser, powerful, owner_login, owner = row
        if superuser:
            return "a superuser"
        if owner_login:
            return "the warehouse owner (the login the pipeline builds with)"
        if owner:
            return "the owner (or a member of the owner) of the warehouse's database or marts"
        if powerful:
            return "a role with createdb, createrole or bypassrls"
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
