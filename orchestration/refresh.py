"""The refresh cycle: run the pipeline only when the landing folder holds something the published marts lack.

A cycle (the 15-minute schedule, `lead-analytics refresh`) first asks `pending()`:

* a landing file the ledger does not hold with this content (new, changed, or never tried) is new data;
* a file the ledger records as loaded after the newest published build started is new data too (it was
  loaded, e.g. by `lead-analytics load`, but no published build has read it);
* nothing published yet means a build is due, and so does a published build of other dbt code or settings.

Nothing new: the cycle ends there, in seconds (no dbt, no checks, no publish, no pages: the pages already
show the published marts). Otherwise `plan()` says what to rebuild (orchestration/selective.py): everything when
nothing was published yet or the dbt project or its settings changed since the published build, else only what is
downstream of the raw tables with new data (and of the models a moved as-of moment changes, `clock_move`), deferring
to the published relations for the rest. A file that failed keeps its content hash in the ledger, so an unchanged
broken file is not "new" every quarter-hour; a fixed one is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orchestration import publishing, selective, settings
from orchestration.ingestion import contracts, landing

_PUBLICATIONS = f'"{settings.AUDIT_SCHEMA}".publications'
_LEDGER = f'"{settings.AUDIT_SCHEMA}".loaded_files'


@dataclass(frozen=True)
class Pending:
    new_files: list[str] = field(default_factory=list)  # relative paths: not in the ledger with this content
    unbuilt_files: list[str] = field(default_factory=list)  # loaded after the newest published build started
    published_build_at: datetime | None = None  # when the newest published build started (None: never)
    changed_tables: list[str] = field(default_factory=list)  # "source.table" (dbt source names) of both lists
    other_code: bool = False  # the published build was made by other dbt code or settings (`fingerprint` given)

    @property
    def nothing_new(self) -> bool:
        waiting = self.new_files or self.unbuilt_files or self.other_code
        return self.published_build_at is not None and not waiting

    def reason(self) -> str:
        """One line: why a cycle builds, or why it does not."""
        if self.published_build_at is None:
            return "nothing published yet"
        since = f"since the published build of {self.published_build_at:%Y-%m-%d %H:%M:%S %Z}"
        if self.nothing_new:
            return f"nothing new {since}"
        parts = []
        if self.other_code:
            parts.append(f"the dbt project or its settings changed {since}")
        if self.new_files:
            parts.append(f"{len(self.new_files)} new or changed landing file(s), e.g. {self.new_files[0]}")
        if self.unbuilt_files:
            parts.append(
                f"{len(self.unbuilt_files)} loaded file(s) no published build has read, e.g. {self.unbuilt_files[0]}"
            )
        return "; ".join(parts)


def _digest(path: Path) -> str | None:
    sha = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
    except OSError:  # the loader records an unreadable file with no hash; so do we
        return None
    return sha.hexdigest()


def _exists(conn, relation: str) -> bool:
    return conn.execute("select to_regclass(%s)", (relation,)).fetchone()[0] is not None


def pending(conn, landing_root: Path, fingerprint: str | None = None) -> Pending:
    """What the landing folder holds that the published marts lack (reads files and the ledger, writes nothing).
    With `fingerprint` (selective.fingerprint of the settings in force), a published build of other dbt code or
    settings is something they lack too: after a deploy or a changed setting the next cycle rebuilds, new files or
    not."""
    root = str(landing_root.resolve())
    ledger: dict[str, str | None] = {}
    published_at = None
    other_code = False
    unbuilt: list[str] = []
    changed: set[str] = set()
    # the reads in a transaction of their own, ended before the files are hashed (and a caller's plan parses)
    with conn.transaction():
        if _exists(conn, _PUBLICATIONS):
            published_at = conn.execute(
                f"select max(build_started_at) from {_PUBLICATIONS} where status = 'published'"
            ).fetchone()[0]
            if fingerprint is not None and published_at is not None:
                published = publishing.published_build(conn)
                other_code = published is None or published.fingerprint != fingerprint
        if _exists(conn, _LEDGER):
            ledger = dict(
                conn.execute(f"select file_path, sha256 from {_LEDGER} where landing_root = %s", (root,)).fetchall()
            )
            if published_at is not None:
                rows = conn.execute(
                    f"select file_path, source_table from {_LEDGER} where landing_root = %s and status = 'loaded' "
                    "and loaded_at > %s order by file_path",
                    (root, published_at),
                ).fetchall()
                unbuilt = [p for p, _ in rows]
                by_relation = {f"{c.schema}.{c.name}": f"{c.source}.{c.name}" for c in contracts.all_contracts()}
                changed = {by_relation[t] for _, t in rows if t in by_relation}
    new: list[str] = []
    for contract in contracts.all_contracts():
        try:
            paths = landing.scan(contract, landing_root).files
        except landing.FolderError:  # the load reports it; it is not data
            continue
        for path in paths:
            rel = landing.display_name(path, landing_root)
            if rel not in ledger or ledger[rel] != _digest(path):
                new.append(rel)
                changed.add(f"{contract.source}.{contract.name}")
    return Pending(sorted(new), unbuilt, published_at, sorted(changed), other_code)


@dataclass(frozen=True)
class Plan:
    """What a cycle with new data rebuilds: `selection` None means everything, for `why`."""

    selection: selective.Selection | None
    why: str


# How far after its plan a cycle's build takes its as-of moment. A model that follows the clock takes its
# transaction's now(); `dim_as_of`, the moment every page states, is built in dbt's first wave, seconds after the plan.
# Models built later in the same build take later moments, as in a full build. A quarter of an hour is the cycle's
# own period: a build that has not reached its models by then overlaps the next tick anyway.
CLOCK_SLACK = timedelta(minutes=15)


def clock_move(conn, config: settings.Settings, manifest: dict, changed: set[str]) -> selective.ClockMove:
    """Which models reading the clock this cycle's move of the as-of moment can change (D198), each judged from the
    published build that last rebuilt it (`publishing.last_builds`: a cycle defers to relations of older builds,
    and a partial build run from the UI decides nothing about the clock).

    A published relation holds its rows as of its build's pinned moment, or (following the clock) of one between
    that build's start and now; this cycle's build, as of its pinned moment or one between now and `CLOCK_SLACK`
    later. Between the earliest and the latest of these: a reader of the moment itself changes, a reader of the
    date changes when the reporting date differs, and a cut changes when a raw table upstream of it holds a
    timestamp there (the tables with new data are rebuilt anyway and are not looked in)."""
    readers = selective.clock_readers(manifest)
    built = publishing.last_builds(conn, set(readers))
    now = conn.execute("select now()").fetchone()[0]
    after = [config.as_of] if config.as_of is not None else [now, now + CLOCK_SLACK]
    zone = ZoneInfo(config.timezone)
    by_name = {f"{c.source}.{c.name}": c for c in contracts.all_contracts()}
    stale: set[str] = set()
    date_changed = False
    windows: dict[tuple[datetime, datetime], set[str]] = {}  # (low, high) -> cut readers to look for stamps for
    for uid, kinds in readers.items():
        if uid not in built:  # not found in the publication history: take it that it changed
            stale.add(uid)
            continue
        started, as_of = built[uid]
        if as_of and config.as_of is not None and as_of == config.as_of_text:
            continue  # built with the moment this build is pinned to
        before = [datetime.fromisoformat(as_of)] if as_of else [started, now]
        low, high = min(before + after), max(before + after)
        new_date = low.astimezone(zone).date() != high.astimezone(zone).date()
        date_changed |= selective.DATE in kinds and new_date
        if selective.can_change(kinds, new_date, stamp_passed=False):
            stale.add(uid)
        elif selective.can_change(kinds, new_date, stamp_passed=True):  # a cut: look for stamps in its window
            windows.setdefault((low, high), set()).add(uid)
    crossed: set[str] = set()
    for (low, high), cut_readers in windows.items():
        sources = {uid: selective.upstream_sources(manifest, uid) - changed for uid in cut_readers}
        passed = _passed_tables(conn, set().union(*sources.values()), by_name, low, high)
        crossed |= passed
        stale |= {uid for uid, tables in sources.items() if tables & passed}
    moved = bool(stale) or config.as_of is None or any(as_of != config.as_of_text for _, as_of in built.values())
    return selective.ClockMove(moved, date_changed, frozenset(crossed), frozenset(stale))


def _passed_tables(conn, tables: set[str], by_name: dict, low: datetime, high: datetime) -> set[str]:
    """Of raw tables `tables` ("source.table"), those holding a timestamptz value between `low` and `high`; a table
    the loader does not load (its own audit tables) is taken to hold one."""
    passed = {table for table in tables if table not in by_name}
    checks: list[str] = []
    params: dict[str, object] = {"low": low, "high": high}
    for table in sorted(tables - passed):
        stamps = [c.name for c in by_name[table].columns if c.data_type == "timestamptz"]
        if stamps:
            params[f"t{len(checks)}"] = table
            where = " or ".join(f'"{c}" between %(low)s and %(high)s' for c in stamps)
            checks.append(
                f"select %(t{len(checks)})s where exists (select 1 from {by_name[table].qualified_name} where {where})"
            )
    if checks:
        passed |= {row[0] for row in conn.execute(" union all ".join(checks), params).fetchall()}
    return passed


def plan(conn, config: settings.Settings, found: Pending) -> Plan:
    """Everything, or only what `found`'s changed raw tables (and a moved as-of moment) reach; see selective.py."""
    from orchestration.dbt_project import ensure_manifest

    with conn.transaction():  # ended before the (possibly slow) parse below
        published = publishing.published_build(conn)
    if published is None:
        return Plan(None, "nothing published yet")
    problem = selective.state_problem(
        selective.state_dir(config), conn.info.dbname, published.fingerprint, selective.fingerprint(config)
    )
    if problem is not None:
        return Plan(None, problem)
    manifest = selective.load_manifest(ensure_manifest())
    changed = set(found.changed_tables)
    with conn.transaction():
        clock = clock_move(conn, config, manifest, changed)
    return Plan(selective.select(manifest, changed, clock), "selective")


@dataclass
class CycleResult:
    built: bool  # False: nothing new, the cycle stopped after `pending`
    reason: str  # Pending.reason()
    seconds: float
    pipeline: object | None = None  # pipeline.PipelineResult when it built
    plan: Plan | None = None  # what it rebuilt, when it built


def run_cycle(config: settings.Settings, emit_line=print) -> CycleResult:
    """One refresh cycle with `config`'s settings: the full job when `pending` finds new data, else nothing."""
    import time

    from orchestration import pipeline, warehouse

    started = time.perf_counter()
    with warehouse.connect(warehouse.ensure_running()) as conn:
        found = pending(conn, config.landing_dir, selective.fingerprint(config))
        if found.nothing_new:
            emit_line(f"refresh: {found.reason()}; no rebuild")
            return CycleResult(False, found.reason(), time.perf_counter() - started)
        chosen = plan(conn, config, found)
    if chosen.selection is None:
        emit_line(f"refresh: {found.reason()}; rebuilding everything ({chosen.why})")
        result = pipeline.run_full_pipeline(config, emit_line)
    else:
        emit_line(f"refresh: {found.reason()}; rebuilding only what changed")
        result = pipeline.run_full_pipeline(config, emit_line, selection=chosen.selection)
    return CycleResult(True, found.reason(), time.perf_counter() - started, result, chosen)
