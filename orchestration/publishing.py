"""Write-audit-publish: dbt builds into shadow schemas, the checks run there, and `publish` swaps them in.

* dbt builds every model into `<schema>__build` (`staging__build`, `intermediate__build`,
  `marts__build`, ...) when given the var `build_schema_suffix` (macros/generate_schema_name.sql),
  so readers of the published schemas never see a half-built, failed or unchecked build.
* `publish()` renames, in one transaction, each published schema to `<schema>__previous` and its
  shadow to the published name, then drops the previous ones. Relations keep their names
  (`marts.fct_bot_leads`), and views follow the rename (PostgreSQL binds them to objects, not names).
* `publish_relations()` publishes a partial build (a refresh cycle that rebuilt only what new data reaches,
  orchestration/selective.py): in one transaction it drops each published relation the build replaces,
  dependants first, and moves its rebuilt one in from the shadow schema; the others stay as they are.
* `raw_audit.publications` has one row per run that built or was held back: when it started, when its
  build started, its status (building, published, held_back), which step or check held its data
  back and why. `publication_status()` reads it for the dashboards and the run summary.

A newer build always wins: a run publishes only if no other run started building after it did
(the later build has replaced the shadow schemas it checked).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import psycopg

from orchestration import access, settings
from orchestration.warehouse import first_line

BUILD_SUFFIX = "__build"
PREVIOUS_SUFFIX = "__previous"
DBT_VARS = {"build_schema_suffix": BUILD_SUFFIX}  # the dbt vars of a write-audit-publish build
_LOCK = "lead_analytics.publish"
_RUN_LOCK = "lead_analytics.run"
_TABLE = f'"{settings.AUDIT_SCHEMA}".publications'


class PublishError(RuntimeError):
    """New data was not published; the message says why, in one line."""


class RunningElsewhere(RuntimeError):
    """Another run holds this warehouse's run lock."""


def build_schema(schema: str) -> str:
    return schema + BUILD_SUFFIX


def build_relation(relation: str) -> str:
    """`marts.fct_bot_leads` -> `marts__build.fct_bot_leads` (where the audited build is)."""
    schema, name = relation.split(".", 1)
    return f"{build_schema(schema)}.{name}"


def published_relations(manifest_path: Path) -> dict[str, set[str]]:
    """Schema -> relation names dbt builds into shadow schemas (models and seeds that are not ephemeral),
    from a manifest parsed with or without the build suffix. Snapshots are not among them: they keep
    history, so they write to their own schema directly (macros/generate_schema_name.sql)."""
    with Path(manifest_path).open() as f:
        nodes = json.load(f)["nodes"].values()
    out: dict[str, set[str]] = {}
    for node in nodes:
        if node["resource_type"] not in ("model", "seed"):
            continue
        if node.get("config", {}).get("materialized") == "ephemeral" or not node.get("config", {}).get("enabled", True):
            continue
        schema = node["schema"].removesuffix(BUILD_SUFFIX)
        out.setdefault(schema, set()).add(node.get("alias") or node["name"])
    return out


def _ensure_table(cur) -> None:
    cur.execute(f'create schema if not exists "{settings.AUDIT_SCHEMA}"')
    cur.execute(f"""
        create table if not exists {_TABLE} (
            run_id text primary key,
            started_at timestamptz not null default now(),
            build_started_at timestamptz,
            finished_at timestamptz,
            status text not null check (status in ('building', 'published', 'held_back')),
            held_back_by text,
            reason text
        )""")
    # Columns added since the table was first made: what a refresh cycle compares with (orchestration/refresh.py),
    # what the run summary says was rebuilt, and a partial build's dbt unique ids (null: a whole build). Altered only
    # when missing: `add column if not exists` takes an exclusive lock even when the column is there, and this runs
    # at every build, hold-back and publish, beside pages reading the table.
    added = {"fingerprint": "text", "as_of": "text", "rebuilt": "text", "partial_nodes": "jsonb"}
    present = {
        name
        for (name,) in cur.execute(
            "select attname from pg_attribute where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped",
            (_TABLE,),
        ).fetchall()
    }
    for column, kind in added.items():
        if column not in present:
            cur.execute(f"alter table {_TABLE} add column {column} {kind}")


@contextmanager
def _locked(conn):
    """A transaction holding the publication lock (builds, holds and publications take turns)."""
    with conn.transaction():
        cur = conn.cursor()
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (_LOCK,))
        _ensure_table(cur)
        yield cur


def start_build(conn, run_id: str, schemas: list[str], partial_nodes: list[str] | None = None) -> None:
    """Claim the shadow schemas for this run's build and empty them (a build starts clean). `partial_nodes`: the
    dbt unique ids a partial build rebuilds (None: everything), for the publish step and the pages to read."""
    with _locked(conn) as cur:
        nodes = json.dumps(sorted(partial_nodes)) if partial_nodes is not None else None
        cur.execute(
            f"""insert into {_TABLE} (run_id, build_started_at, status, partial_nodes)
                        values (%s, clock_timestamp(), 'building', %s)
                        on conflict (run_id) do update set build_started_at = clock_timestamp(), status = 'building',
                            held_back_by = null, reason = null, finished_at = null,
                            partial_nodes = excluded.partial_nodes""",
            (run_id, nodes),
        )
        for schema in schemas:
            cur.execute(f'drop schema if exists "{build_schema(schema)}" cascade')


def hold_back(conn, run_id: str, by: str, reason: str) -> None:
    """Record that `by` (a step or check) held this run's new data back, and why (one line)."""
    with _locked(conn) as cur:
        cur.execute(
            f"""insert into {_TABLE} as p (run_id, status, held_back_by, reason, finished_at)
                        values (%(run)s, 'held_back', %(by)s, %(reason)s, clock_timestamp())
                        on conflict (run_id) do update set status = 'held_back', finished_at = clock_timestamp(),
                            held_back_by = concat_ws(', ', p.held_back_by, %(by)s),
                            reason = concat_ws('; ', p.reason, %(reason)s)
                        where p.status <> 'published'""",
            {"run": run_id, "by": by, "reason": reason},
        )


@dataclass(frozen=True)
class BuildRecord:
    """What a publication records of its build: the project and settings digest, the as-of text it was built
    with ("" when it followed the clock) and a line saying what was rebuilt."""

    fingerprint: str | None = None
    as_of: str | None = None
    rebuilt: str | None = None


def _mark_published(cur, run_id: str, record: BuildRecord) -> None:
    cur.execute(
        f"""update {_TABLE} set status = 'published', finished_at = clock_timestamp(), fingerprint = %s, as_of = %s,
                rebuilt = %s where run_id = %s""",
        (record.fingerprint, record.as_of, record.rebuilt, run_id),
    )


T = TypeVar("T")
DEADLOCK_ATTEMPTS = 3


def retrying_deadlocks(attempt: Callable[[], T]) -> T:
    """`attempt()` (one transaction), run again when PostgreSQL's deadlock detector ends it: a publish renames and
    polices tables that autovacuum may be analysing right after dbt built them (seen once on the demo: VACUUM
    ANALYZE of a shadow table waited on the publish transaction, which waited on it). The transaction rolled back
    whole, so running it again is safe; after DEADLOCK_ATTEMPTS the caller holds the build back in one line."""
    for attempt_number in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return attempt()
        except psycopg.errors.DeadlockDetected:
            if attempt_number == DEADLOCK_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt_number)
    raise AssertionError("unreachable")


def _publish_locked(
    conn,
    run_id: str,
    expected: dict[str, set[str]],
    record: BuildRecord,
    sources: dict | None,
    move_in: Callable[[psycopg.Cursor], None],
) -> None:
    """One publication, whole or partial, in one transaction holding the publication lock: when the build is
    publishable, `move_in` puts its relations in place, then the sources' arrival times (for the "Sources" line of
    every page, D183), the grants and row policies (no reader sees an unpoliced mart) and the publication record.
    Run again when it is a deadlock's victim (D193); otherwise PublishError, recorded as held back, with the reason
    in one line, and nothing published changes."""

    def attempt() -> str | None:
        with _locked(conn) as cur:
            problem = _unpublishable(cur, run_id, sorted(expected), expected)
            if problem is None:
                move_in(cur)
                if sources is not None:
                    from orchestration.bi import freshness

                    freshness.publish_arrivals(conn, sources)
                access.apply(conn)
                _mark_published(cur, run_id, record)
            return problem

    try:
        problem = retrying_deadlocks(attempt)
    except access.AccessError as exc:  # rolled back with the move
        problem = str(exc)
    except psycopg.errors.DeadlockDetected as exc:
        problem = f"deadlocked {DEADLOCK_ATTEMPTS} times: {first_line(exc)}"
    except psycopg.errors.DependentObjectsStillExist as exc:
        problem = f"a published relation the build replaces has dependants outside the build: {first_line(exc)}"
    if problem is not None:
        hold_back(conn, run_id, "publish", problem)
        raise PublishError(problem)


def publish(
    conn, run_id: str, expected: dict[str, set[str]], record: BuildRecord | None = None, sources: dict | None = None
) -> list[str]:
    """Swap this run's shadow schemas in for the published ones, in one transaction; returns the
    schemas published. PublishError (recorded as held back) when the build is not publishable. `sources`
    (`freshness.Lineage.sources`, the raw tables and their rules): their arrival times are published in the same
    transaction, for the dashboards' "Sources" line (D183)."""
    schemas = sorted(expected)
    with conn.transaction():
        for schema in schemas:  # left over when an earlier publish could not drop them
            conn.execute(f'drop schema if exists "{schema}{PREVIOUS_SUFFIX}" cascade')

    def swap(cur) -> None:
        for schema in schemas:
            if _schema_exists(cur, schema):
                cur.execute(f'alter schema "{schema}" rename to "{schema}{PREVIOUS_SUFFIX}"')
            cur.execute(f'alter schema "{build_schema(schema)}" rename to "{schema}"')

    _publish_locked(conn, run_id, expected, record or BuildRecord(), sources, swap)
    with conn.transaction():  # readers of the previous tables finish first; then they go
        for schema in schemas:
            conn.execute(f'drop schema if exists "{schema}{PREVIOUS_SUFFIX}" cascade')
    return schemas


def publish_relations(
    conn, run_id: str, relations: list[tuple[str, str]], record: BuildRecord, sources: dict | None = None
) -> list[str]:
    """Publish a partial build: `relations` (schema, name), parents first, each replaces its published namesake,
    in one transaction with the grants and row policies; every other published relation stays. Returns
    "schema.name" of each. PublishError (recorded as held back) when the build is not publishable; a published
    relation that something outside the build depends on is not dropped (the publish fails, nothing changes)."""
    expected: dict[str, set[str]] = {}
    for schema, name in relations:
        expected.setdefault(schema, set()).add(name)

    def move(cur) -> None:
        for schema, name in reversed(relations):  # dependants first
            kind = _kind(cur, schema, name)
            if kind is not None:
                cur.execute(f'drop {kind} "{schema}"."{name}"')
        for schema, name in relations:
            cur.execute(f'create schema if not exists "{schema}"')
            kind = _kind(cur, build_schema(schema), name)
            cur.execute(f'alter {kind} "{build_schema(schema)}"."{name}" set schema "{schema}"')

    _publish_locked(conn, run_id, expected, record, sources, move)
    with conn.transaction():  # the shadow schemas are empty now
        for schema in sorted(expected):
            conn.execute(f'drop schema if exists "{build_schema(schema)}" cascade')
    return [f"{schema}.{name}" for schema, name in relations]


_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


def _kind(cur, schema: str, name: str) -> str | None:
    """`table`, `view` or `materialized view` (what DROP and ALTER ... SET SCHEMA take), None when absent."""
    row = cur.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        (schema, name),
    ).fetchone()
    return _KINDS.get(row[0]) if row else None


def partial_nodes(conn, run_id: str) -> list[str] | None:
    """The dbt unique ids run `run_id`'s partial build rebuilt; None for a whole build (or no build)."""
    if conn.execute("select to_regclass(%s)", (_TABLE,)).fetchone()[0] is None:
        return None
    row = conn.execute(f"select to_jsonb(p) -> 'partial_nodes' from {_TABLE} p where run_id = %s", (run_id,)).fetchone()
    return list(row[0]) if row and row[0] is not None else None


BUILD_HISTORY = 1000  # published builds read back to find the one that last rebuilt each node


def last_builds(conn, nodes: set[str]) -> dict[str, tuple[datetime, str | None]]:
    """For each of `nodes` (dbt unique ids): the start and as-of text of the newest published build that rebuilt it
    (a whole build rebuilds every node). A node no build among the newest BUILD_HISTORY rebuilt is left out."""
    if conn.execute("select to_regclass(%s)", (_TABLE,)).fetchone()[0] is None:
        return {}
    rows = conn.execute(
        f"""select build_started_at, to_jsonb(p) ->> 'as_of', to_jsonb(p) -> 'partial_nodes' from {_TABLE} p
            where status = 'published' order by build_started_at desc limit {BUILD_HISTORY}"""
    ).fetchall()
    found: dict[str, tuple[datetime, str | None]] = {}
    for started, as_of, rebuilt in rows:
        for node in (nodes if rebuilt is None else nodes & set(rebuilt)) - found.keys():
            found[node] = (started, as_of)
        if len(found) == len(nodes):
            break
    return found


@dataclass(frozen=True)
class PublishedBuild:
    build_started_at: datetime
    fingerprint: str | None
    as_of: str | None


def published_build(conn) -> PublishedBuild | None:
    """The newest published build: when it started, its fingerprint and as-of text (None: nothing published)."""
    if conn.execute("select to_regclass(%s)", (_TABLE,)).fetchone()[0] is None:
        return None
    if (
        conn.execute(
            "select 1 from information_schema.columns where table_schema = %s and table_name = 'publications' "
            "and column_name = 'fingerprint'",
            (settings.AUDIT_SCHEMA,),
        ).fetchone()
        is None
    ):  # published before the cycle recorded fingerprints: unknown, rebuild everything
        return None
    row = conn.execute(
        f"""select build_started_at, fingerprint, as_of from {_TABLE} where status = 'published'
            order by build_started_at desc limit 1"""
    ).fetchone()
    return PublishedBuild(*row) if row else None


def _unpublishable(cur, run_id: str, schemas: list[str], expected: dict[str, set[str]]) -> str | None:
    """Why this run's build may not be published, or None."""
    row = cur.execute(f"select status, build_started_at from {_TABLE} where run_id = %s", (run_id,)).fetchone()
    newest = cur.execute(
        f"select run_id from {_TABLE} where build_started_at is not null order by build_started_at desc limit 1"
    ).fetchone()
    if row is None or row[1] is None:
        return f"run {run_id} built nothing to publish"
    if row[0] != "building":
        return f"run {run_id} is {row[0]}, not ready to publish"
    if newest[0] != run_id:
        return f"a newer build (run {newest[0]}) replaced this run's shadow schemas"
    missing = [
        f"{schema}.{name}"
        for schema in schemas
        for name in sorted(expected[schema])
        if cur.execute("select to_regclass(%s)", (f'"{build_schema(schema)}"."{name}"',)).fetchone()[0] is None
    ]
    if missing:
        return (
            f"the build lacks {len(missing)} relation(s) dbt defines, e.g. {', '.join(missing[:3])} "
            "(an incomplete build is never published)"
        )
    return None


def drop_leftovers(conn) -> list[str]:
    """Drop the `*__previous` schemas a publish killed between its swap and its clean-up left behind (a full
    copy of the previous marts, personal data included); returns their names. Run at the start of every run."""
    with _locked(conn) as cur:
        # only a previous whose published successor exists: the swap committed, the drop did not happen
        names = [
            r[0]
            for r in cur.execute(
                """select p.nspname from pg_namespace p join pg_namespace n on p.nspname = n.nspname || %s
               order by 1""",
                (PREVIOUS_SUFFIX,),
            ).fetchall()
        ]
        for name in names:
            cur.execute(f'drop schema "{name}" cascade')
    return names


@contextmanager
def run_lock(info, wait: bool = False):
    """Hold this warehouse's run lock (a session advisory lock on its own connection) while the block runs.
    RunningElsewhere, in one line, when another run holds it and `wait` is False. Leftovers of a killed
    publish are dropped once the lock is held."""
    from orchestration import warehouse

    with warehouse.connect(info, autocommit=True) as conn:
        conn.execute("set application_name = 'lead-analytics run'")
        if wait:
            conn.execute("select pg_advisory_lock(hashtext(%s))", (_RUN_LOCK,))
        elif not conn.execute("select pg_try_advisory_lock(hashtext(%s))", (_RUN_LOCK,)).fetchone()[0]:
            since = conn.execute(
                """select min(a.backend_start) from pg_locks l join pg_stat_activity a on a.pid = l.pid
                   where l.locktype = 'advisory' and l.granted and l.objid = (hashtext(%s)::bigint & 4294967295)::oid
                     and l.database = (select oid from pg_database where datname = current_database())""",
                (_RUN_LOCK,),
            ).fetchone()[0]
            when = f" since {since:%Y-%m-%d %H:%M:%S %Z}" if since else ""
            raise RunningElsewhere(f"another run is using this warehouse{when}; wait for it to finish and run again")
        try:
            drop_leftovers(conn)
            yield
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", (_RUN_LOCK,))


def _schema_exists(cur, schema: str) -> bool:
    return cur.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is not None


@dataclass(frozen=True)
class PublicationStatus:
    """When the published marts were published, and what (if anything) held newer data back since."""

    recorded: bool  # False: no publication record (marts built outside the pipeline, or never)
    published_at: datetime | None = None
    published_run: str | None = None
    held_back_at: datetime | None = None
    held_back_by: str | None = None
    reason: str | None = None
    unpublished_build_at: datetime | None = None  # a newer build neither published nor held back (running, or stopped)
    rebuilt: str | None = None  # a partial build: what it rebuilt and why (None: a whole build)

    def line(self, timezone: str | None = None) -> str:
        tz = ZoneInfo(timezone or settings.reporting_timezone())

        def when(moment: datetime) -> str:
            return f"{moment.astimezone(tz):%Y-%m-%d %H:%M} {tz.key}"

        if not self.recorded:
            return "no publication record (these marts were not built by the write-audit-publish pipeline)"
        rebuilt = f"; {self.rebuilt}" if self.rebuilt else ""
        text = (
            f"published {when(self.published_at)} (run {self.published_run[:8]}{rebuilt})"
            if self.published_at
            else "nothing published yet"
        )
        if self.held_back_by:
            text += f"; newer data held back {when(self.held_back_at)} by {self.held_back_by}: {self.reason}"
        elif self.unpublished_build_at:
            text += f"; a newer build started {when(self.unpublished_build_at)} is not published (running or stopped)"
        return text


def publication_status(conn) -> PublicationStatus:
    """The current publication status, read from `raw_audit.publications` (never raises for a
    database without the table)."""
    exists = conn.execute("select to_regclass(%s)", (_TABLE,)).fetchone()[0]
    if exists is None:
        return PublicationStatus(recorded=False)
    published = conn.execute(  # to_jsonb: a table from before the `rebuilt` column reads as null
        f"""select run_id, finished_at, to_jsonb(p) ->> 'rebuilt' from {_TABLE} p where status = 'published'
            order by finished_at desc limit 1"""
    ).fetchone()
    held = conn.execute(
        f"""select finished_at, held_back_by, reason from {_TABLE}
            where status = 'held_back' and finished_at > coalesce(%s, '-infinity'::timestamptz)
            order by finished_at desc limit 1""",
        (published[1] if published else None,),
    ).fetchone()
    building = conn.execute(
        f"""select max(build_started_at) from {_TABLE}
            where status = 'building' and build_started_at > coalesce(%s, '-infinity'::timestamptz)""",
        (published[1] if published else None,),
    ).fetchone()[0]
    return PublicationStatus(
        recorded=True,
        published_at=published[1] if published else None,
        published_run=published[0] if published else None,
        held_back_at=held[0] if held else None,
        held_back_by=held[1] if held else None,
        reason=held[2] if held else None,
        unpublished_build_at=building,
        rebuilt=published[2] if published else None,
    )


def publication_line(info) -> str:
    """`PublicationStatus.line()` for the warehouse `info` points at, for a dashboard header; says so
    instead of raising when the warehouse cannot be read."""
    from orchestration import warehouse

    try:
        with warehouse.connect(info) as conn:
            return publication_status(conn).line()
    except Exception as exc:  # a dashboard must render even when the status cannot be read
        return f"publication status unavailable ({type(exc).__name__})"
