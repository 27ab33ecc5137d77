"""Which dbt nodes a refresh cycle rebuilds: those downstream of the raw tables that changed, and of the clock.

A model's relation is a function of its code, the settings dbt renders it with, the raw tables upstream of it
and, for the models that read the clock (macros/as_of.sql), the as-of moment. A cycle therefore rebuilds

* everything when the code or the settings differ from the published build's (`fingerprint`), or when nothing
  was published yet (no published dbt state to defer to);
* otherwise the models, seeds and snapshots downstream of every raw table with new data (`source:<table>+`;
  the loader's own audit tables count as changed whenever anything loaded), plus, when the as-of moment moved
  (it follows the clock unless pinned), the models whose rows the move can change and everything downstream of
  them (`ClockMove`, D198): a model that reads the moment itself (`as_of_timestamp`, `hours_begun_today`) always;
  one that reads only the as-of date (`as_of_date`) when the date changed; one that reads the clock only to leave
  out rows stamped after it (`as_of_cut`) when a raw table upstream of it holds a stamp the move passed.

Every other relation would be rebuilt from the same inputs into the same rows, so the published one stands in
for it (dbt `--defer --favor-state` to the published relations). Light on purpose: reads the manifest JSON only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from orchestration import settings

# How a model reads the clock, by the macro it calls (macros/as_of.sql): the moment itself, its date, or a cut.
MOMENT, DATE, CUT = "moment", "date", "cut"
CLOCK_MACROS = {
    "macro.lead_analytics.as_of_timestamp": MOMENT,
    "macro.lead_analytics.hours_begun_today": MOMENT,
    "macro.lead_analytics.as_of_date": DATE,
    "macro.lead_analytics.as_of_cut": CUT,
}
AUDIT_SOURCE = "audit"  # raw_audit.loaded_files and rejected_rows: they change with every load
_BUILT = ("model", "seed", "snapshot")


def fingerprint(config: settings.Settings) -> str:
    """A digest of what every relation depends on besides data and the clock: the dbt project's files and the
    settings dbt renders them with (time zone). Another digest than the published build's: rebuild everything."""
    from orchestration.dbt_project import PROJECT_FILES, PROJECT_FOLDERS

    root = settings.DBT_PROJECT_DIR
    paths = [root / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        paths.extend(sorted(p for p in (root / folder).rglob("*") if p.is_file()))
    sha = hashlib.sha256(f"timezone={config.timezone}\n".encode())
    for path in paths:
        if path.exists():
            sha.update(f"{path.relative_to(root).as_posix()}\n".encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


@dataclass(frozen=True)
class ClockMove:
    """How the as-of moment moved since the published relations of the models reading it were built."""

    moved: bool  # False: pinned to the moment every published clock reader was built with
    date_changed: bool = True  # the as-of date may differ from a published date reader's
    crossed: frozenset[str] | None = None  # "source.table" of raw tables with a stamp the move passed (None: any)
    readers: frozenset[str] | None = None  # the clock readers the move can change, when decided one by one

    @classmethod
    def still(cls) -> ClockMove:
        return cls(False, False, frozenset(), frozenset())

    def reaches(self, kinds: set[str], sources: set[str]) -> bool:
        """With one verdict for every reader (`readers` None): whether a model reading the clock as `kinds`, with raw
        tables `sources` upstream, can change."""
        if not self.moved:
            return False
        return can_change(kinds, self.date_changed, self.crossed is None or bool(self.crossed & sources))

    def describe(self) -> str:
        if not self.moved:
            return ""
        if self.crossed is None:
            return "the as-of moment moved"
        date = "its date changed" if self.date_changed else "same date"
        passed = f"stamps passed in {', '.join(sorted(self.crossed))}" if self.crossed else "no stamp passed"
        return f"the as-of moment moved ({date}; {passed})"


def can_change(kinds: set[str], new_date: bool, stamp_passed: bool) -> bool:
    """The rule of D198: a model reading the clock as `kinds` can change when the moment moved if it reads the moment
    itself, reads the date and the date changed, or cuts on stamps and a stamp upstream of it was passed."""
    return MOMENT in kinds or (DATE in kinds and new_date) or (CUT in kinds and stamp_passed)


@dataclass(frozen=True)
class Selection:
    nodes: frozenset[str]  # unique ids of the models, seeds and snapshots to rebuild
    changed_tables: tuple[str, ...]  # "source.table" of the raw tables with new data
    clock: ClockMove

    @property
    def clock_moved(self) -> bool:
        return self.clock.moved

    def describe(self, total: int) -> str:
        """One line for logs and the run summary."""
        causes = [f"new data in {', '.join(self.changed_tables)}"] if self.changed_tables else []
        if self.clock.moved:
            causes.append(self.clock.describe())
        return f"{len(self.nodes)} of {total} relations rebuilt ({'; '.join(causes) or 'nothing changed'})"


def load_manifest(path: Path) -> dict:
    with Path(path).open() as f:
        return json.load(f)


def built_nodes(manifest: dict) -> dict[str, dict]:
    return {k: v for k, v in manifest["nodes"].items() if v["resource_type"] in _BUILT}


def _children(manifest: dict) -> dict[str, set[str]]:
    children: dict[str, set[str]] = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] in _BUILT:
            for parent in node.get("depends_on", {}).get("nodes", []):
                children.setdefault(parent, set()).add(uid)
    return children


def downstream(manifest: dict, roots: set[str]) -> set[str]:
    """The models, seeds and snapshots downstream of `roots` (roots that are themselves built included)."""
    children = _children(manifest)
    nodes = manifest["nodes"]
    out = {r for r in roots if r in nodes and nodes[r]["resource_type"] in _BUILT}
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def _clock_kinds(manifest: dict, macro: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """How calling `macro` reads the clock: its own kind, or those of the macros it calls (any depth)."""
    if macro in CLOCK_MACROS:
        return {CLOCK_MACROS[macro]}
    if macro in seen or macro not in manifest.get("macros", {}):
        return set()
    kinds: set[str] = set()
    for called in manifest["macros"][macro].get("depends_on", {}).get("macros", []):
        kinds |= _clock_kinds(manifest, called, seen | {macro})
    return kinds


def clock_readers(manifest: dict) -> dict[str, set[str]]:
    """The models that read the clock, each with how (MOMENT, DATE, CUT), through macros called at any depth."""
    readers = {}
    for uid, node in built_nodes(manifest).items():
        kinds: set[str] = set()
        for macro in node.get("depends_on", {}).get("macros", []):
            kinds |= _clock_kinds(manifest, macro)
        if kinds:
            readers[uid] = kinds
    return readers


def upstream_sources(manifest: dict, uid: str) -> set[str]:
    """The dbt sources (raw tables, named "source.table") upstream of node `uid`."""
    nodes, sources = manifest["nodes"], manifest["sources"]
    found: set[str] = set()
    seen: set[str] = set()
    stack = [uid]
    while stack:
        for parent in nodes.get(stack.pop(), {}).get("depends_on", {}).get("nodes", []):
            if parent in sources:
                found.add(f"{sources[parent]['source_name']}.{sources[parent]['name']}")
            elif parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return found


def select(manifest: dict, changed_tables: set[str], clock: ClockMove) -> Selection:
    """The nodes a cycle rebuilds for raw tables `changed_tables` ("source.table", as in the dbt sources) and the
    as-of moment's move `clock`."""
    sources = {uid: f"{s['source_name']}.{s['name']}" for uid, s in manifest["sources"].items()}
    changed = set(changed_tables)
    roots = {uid for uid, name in sources.items() if name in changed}
    if changed:
        roots |= {uid for uid, s in manifest["sources"].items() if s["source_name"] == AUDIT_SOURCE}
    if clock.moved and clock.readers is not None:
        roots |= clock.readers
    elif clock.moved:  # one verdict for every reader
        roots |= {
            uid
            for uid, kinds in clock_readers(manifest).items()
            if clock.reaches(kinds, upstream_sources(manifest, uid))
        }
    return Selection(frozenset(downstream(manifest, roots)), tuple(sorted(changed)), clock)


def publish_order(manifest: dict, nodes: set[str]) -> list[str]:
    """`nodes` parents first (a relation is dropped only after everything built on it)."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for parent in manifest["nodes"][uid].get("depends_on", {}).get("nodes", []):
            if parent in nodes:
                visit(parent)
        ordered.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    return ordered


_STATE_MARK = "published_for.json"


def write_published_state(build_manifest: Path, folder: Path, database: str, fingerprint: str) -> Path:
    """The manifest of a build, as the published relations it became: each node in `database` (the warehouse's:
    the manifest may have been parsed for another) and in its schema without the shadow suffix. dbt
    `--defer --state <folder>` resolves the refs of a partial build to them. Beside it, which warehouse and which
    build (`fingerprint`) it is the state of, written last: see `state_problem`."""
    from orchestration.publishing import BUILD_SUFFIX

    manifest = load_manifest(build_manifest)
    for node in manifest["nodes"].values():
        schema = node.get("schema") or ""
        if node["resource_type"] in _BUILT and node.get("relation_name"):
            node["database"] = database
            node["schema"] = schema.removesuffix(BUILD_SUFFIX)
            name = node.get("alias") or node["name"]
            node["relation_name"] = f'"{database}"."{node["schema"]}"."{name}"'
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "manifest.json"
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest))
    tmp.replace(out)
    mark = folder / f"{_STATE_MARK}.tmp"
    mark.write_text(json.dumps({"database": database, "fingerprint": fingerprint}))
    mark.replace(folder / _STATE_MARK)
    return out


def state_problem(folder: Path, database: str, published_fingerprint: str | None, code_fingerprint: str) -> str | None:
    """Why a partial build may not defer to the dbt state in `folder`, or None when it may: the published build
    must be of this code and settings, and the state that build's, in this warehouse. The state folder lives in the
    state directory, which two warehouses can share (an external database beside the embedded one), and a run killed
    between the publish and writing the state leaves the previous build's state under the new publication."""
    if published_fingerprint is None:
        return "no published build records the code and settings it was built from"
    if published_fingerprint != code_fingerprint:
        return "the dbt project or its settings changed since the published build"
    try:
        written = json.loads((folder / _STATE_MARK).read_text())
    except (OSError, ValueError):
        return f"no published dbt state in {folder}"
    if written != {"database": database, "fingerprint": published_fingerprint}:
        return f"the dbt state in {folder} is not the published build's of this warehouse"
    return None


def state_dir(config: settings.Settings) -> Path:
    """Where the published build's dbt state is kept (written at every publish, read by `--defer --state`)."""
    return config.state_dir / "published_dbt_state"
