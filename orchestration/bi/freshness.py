"""How fresh a dashboard's sources are: the newest row its marts could have read, and the freshness rules.

A dashboard reads marts (`CompiledCard.relations`, published names); the dbt manifest says which raw
tables (dbt sources) each mart is built from, and each source's freshness rule (`warn_after` in the
sources YAML, the contracts' freshness; a table may opt out with `freshness: null`). The header line says
when the newest row of those raw tables arrived (max `_loaded_at`), and warns for every raw table whose
newest row is older than its rule, measured from `now`.

Pages read as `reporting_reader`, which may not read the load ledger nor the raw tables (D150). The owner
therefore publishes the arrival times, one row per raw source table, to `raw_audit.source_arrivals`
(`publish_arrivals`: at every publication, in the swap's transaction, and before the project renders a page),
and the header line reads that relation: source, table, newest arrival and freshness rule; no file name, no
row data (D183).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from orchestration import publishing, settings

_LEDGER = f"{settings.AUDIT_SCHEMA}.loaded_files"
ARRIVALS = f"{settings.AUDIT_SCHEMA}.source_arrivals"
_PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Source:
    table: str  # raw schema.table
    loaded_at_field: str
    warn_after: timedelta | None  # None: no freshness rule
    rule: str  # "2 hours", "" without a rule
    source: str = ""  # the dbt source it belongs to ("bot_leads")


@dataclass(frozen=True)
class Lineage:
    sources_of: dict[str, frozenset[str]]  # published relation (marts.x) -> raw tables it is built from
    sources: dict[str, Source]  # raw table -> its freshness rule


def _rule(freshness: dict | None) -> tuple[timedelta | None, str]:
    warn = (freshness or {}).get("warn_after") or {}
    if not warn.get("count") or warn.get("period") not in _PERIODS:
        return None, ""
    count, period = int(warn["count"]), warn["period"]
    return count * _PERIODS[period], f"{count} {period}{'s' if count != 1 else ''}"


def lineage_from_manifest(manifest: dict) -> Lineage:
    nodes, raw = manifest["nodes"], manifest["sources"]
    sources = {}
    for node in raw.values():
        warn, text = _rule(node.get("freshness"))
        sources[f"{node['schema']}.{node['name']}"] = Source(
            f"{node['schema']}.{node['name']}",
            node.get("loaded_at_field") or "_loaded_at",
            warn,
            text,
            node.get("source_name") or "",
        )

    @cache
    def upstream(unique_id: str) -> frozenset[str]:
        if unique_id in raw:
            return frozenset({f"{raw[unique_id]['schema']}.{raw[unique_id]['name']}"})
        node = nodes.get(unique_id)
        if node is None:
            return frozenset()
        return frozenset().union(*(upstream(parent) for parent in node.get("depends_on", {}).get("nodes", [])))

    sources_of = {}
    for unique_id, node in nodes.items():
        if node["resource_type"] in ("model", "seed", "snapshot"):
            schema = node["schema"].removesuffix(publishing.BUILD_SUFFIX)
            sources_of[f"{schema}.{node.get('alias') or node['name']}"] = upstream(unique_id)
    return Lineage(sources_of, sources)


@lru_cache(maxsize=4)
def _lineage(manifest_path: str, mtime: float) -> Lineage:
    with Path(manifest_path).open() as f:
        return lineage_from_manifest(json.load(f))


def lineage() -> Lineage:
    from orchestration.dbt_project import ensure_manifest

    path = Path(ensure_manifest())
    return _lineage(str(path), path.stat().st_mtime)


def raw_tables_of(relations: set[str], found: Lineage) -> list[str]:
    return sorted(frozenset().union(*(found.sources_of.get(r, frozenset()) for r in relations)))


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.0f} days"


def newest_arrivals(conn, sources: dict[str, Source]) -> dict[str, datetime | None]:
    """Raw table -> when its newest row arrived (None: no rows), for the tables of `sources` that exist; read as
    the owner, from the load ledger, else from the table itself. Two queries for all tables, whatever their number,
    and a scan only of a table the loader never wrote (rows written by something else)."""
    tables = sorted(sources)
    # a missing table, or one without the column (the ledger itself is a dbt source), has no arrival time
    present = {
        name
        for (name,) in conn.execute(
            """select t.name from unnest(%s::text[], %s::text[]) as t(name, col)
               where exists (select 1 from pg_attribute where attrelid = to_regclass(t.name) and attname = t.col
                             and attnum > 0 and not attisdropped)""",
            (tables, [sources[t].loaded_at_field for t in tables]),
        ).fetchall()
    }
    # The ledger row of a file and its rows' `_loaded_at` are both now() of the file's transaction, and
    # `_loaded_at` moves only when a file inserts or updates rows: the ledger gives the same moment
    # without scanning a raw table (they grow with the data; the ledger with the files).
    from_ledger: dict[str, datetime] = {}
    if conn.execute("select to_regclass(%s)", (_LEDGER,)).fetchone()[0] is not None:
        from_ledger = dict(
            conn.execute(
                f"select source_table, max(loaded_at) from {_LEDGER} where source_table = any(%s) "
                "and status = 'loaded' and inserted + updated > 0 group by source_table",
                (sorted(present),),
            ).fetchall()
        )
    newest: dict[str, datetime | None] = {}
    for table in sorted(present):
        moment = from_ledger.get(table)
        if moment is None:  # rows written by something other than the loader
            schema, name = table.split(".", 1)
            column = sources[table].loaded_at_field
            moment = conn.execute(f'select max("{column}") from "{schema}"."{name}"').fetchone()[0]
        newest[table] = moment
    return newest


def publish_arrivals(conn, sources: dict[str, Source]) -> int:
    """Rewrite `raw_audit.source_arrivals` from the ledger and the raw tables (as the owner), in the caller's
    transaction when there is one; returns its rows. Its grants (`access.apply`) survive: rows are replaced, not
    the table."""
    newest = newest_arrivals(conn, sources)
    with conn.transaction():
        # one writer at a time (a publish and a render may both refresh it): a second `delete` would skip the rows
        # the first inserted, and its inserts would then collide with them
        conn.execute("select pg_advisory_xact_lock(hashtext('lead_analytics.source_arrivals'))")
        conn.execute(f'create schema if not exists "{settings.AUDIT_SCHEMA}"')
        conn.execute(f"""
            create table if not exists {ARRIVALS} (
                source_name text not null,
                source_table text primary key,
                newest_arrival timestamptz,
                warn_after interval,
                freshness_rule text,
                refreshed_at timestamptz not null
            )""")
        conn.execute(f"delete from {ARRIVALS}")
        with conn.cursor() as cur:
            cur.executemany(
                f"insert into {ARRIVALS} values (%s, %s, %s, %s, %s, clock_timestamp())",
                [
                    (sources[t].source, t, moment, sources[t].warn_after, sources[t].rule or None)
                    for t, moment in sorted(newest.items())
                ],
            )
    return len(newest)


def freshness_line(conn, tables: list[str], found: Lineage, now: datetime, tz: str) -> str:
    """One line: when the newest source row arrived, then a warning per raw table older than its rule. Reads the
    published arrivals (any role that reads the marts may; a table without a row there did not exist); in a
    warehouse that never published them (marts built by dbt alone), computes them, which only the owner may."""
    if conn.execute("select to_regclass(%s)", (ARRIVALS,)).fetchone()[0] is None:
        newest = newest_arrivals(conn, {t: found.sources[t] for t in tables if t in found.sources})
    else:
        newest = dict(
            conn.execute(
                f"select source_table, newest_arrival from {ARRIVALS} where source_table = any(%s)", (list(tables),)
            ).fetchall()
        )
    arrived = [moment for moment in newest.values() if moment is not None]
    if not arrived:
        return "no source rows yet"
    zone = ZoneInfo(tz)
    text = f"newest source row arrived {max(arrived).astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
    late = []
    for table, moment in sorted(newest.items()):
        rule = found.sources.get(table)
        if rule is None or rule.warn_after is None:
            continue
        if moment is None or now - moment > rule.warn_after:
            age = "no rows" if moment is None else f"newest row {_ago(now - moment)} old"
            late.append(f"{table} ({age}; rule: warn after {rule.rule})")
    if late:
        text += "; WARNING: older than the sources' freshness rule: " + ", ".join(late)
    return text


def dashboard_freshness(info, relations: set[str], tz: str, now: datetime | None = None) -> str:
    """`freshness_line` for the raw tables behind `relations`; says so instead of raising when it cannot be read."""
    from orchestration import warehouse

    try:
        found = lineage()
        with warehouse.connect(info) as conn:
            return freshness_line(conn, raw_tables_of(relations, found), found, now or datetime.now(UTC), tz)
    except Exception as exc:  # a dashboard must render even when freshness cannot be read
        return f"source freshness unavailable ({type(exc).__name__})"
