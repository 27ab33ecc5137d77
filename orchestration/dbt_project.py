"""The dbt project on disk: which dbt to run, its environment, and a manifest no older than the project.

Light on purpose (no dbt, Dagster or MetricFlow import), so the CLI, the card compiler and the tests can
ask for a fresh manifest without paying for the Dagster definitions.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from orchestration import publishing, settings, warehouse

MANIFEST = settings.DBT_PROJECT_DIR / "target" / "manifest.json"
SEMANTIC_MANIFEST = settings.DBT_PROJECT_DIR / "target" / "semantic_manifest.json"
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")  # what `dbt parse` reads, with PROJECT_FOLDERS
PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests/dbt")
BUILD_VARS = json.dumps(publishing.DBT_VARS)  # the vars of a write-audit-publish build


class ParseError(RuntimeError):
    """`dbt parse` failed (a YAML or Jinja error in the project): the message is dbt's, on one line."""


def dbt_executable() -> str:
    """The dbt next to this interpreter (the project's virtualenv), else the one on PATH."""
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def dbt_env(info: warehouse.ConnectionInfo, config: settings.Settings | None = None) -> dict[str, str]:
    """dbt's environment for a run with `config` (default: the settings in force): profiles.yml reads the
    connection from it, dbt_project.yml the reporting time zone and the as-of moment."""
    env = (config or settings.current()).child_env()
    env.update(info.dbt_env())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def _newest_source_mtime() -> float:
    root = settings.DBT_PROJECT_DIR
    paths = [root / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        if (root / folder).exists():
            paths.extend(p for p in (root / folder).rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in paths if p.exists())


def ensure_manifest(
    target: Path | None = None,
    build: bool = True,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run `dbt parse` when the manifest (and the semantic manifest beside it) is missing or older than
    the dbt project files; returns the manifest's path. By default into target/ with the vars of a
    write-audit-publish build (relations in `marts__build`, ...), so that build's partial parse can reuse it.
    `build=False` parses for the published schemas, into `target` (a folder of its own). With `env` (dbt_env of
    a warehouse) the parse is also redone when it was made for another database: the manifest names it in every
    relation, which is what `mf` queries."""
    folder = target or MANIFEST.parent
    folder.mkdir(parents=True, exist_ok=True)
    # Two processes (two commands, or two test workers) must not parse into one folder at once: the second would
    # read a half-written manifest. The second waits, then finds the first one's parse fresh.
    with (folder / ".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _parse_if_stale(folder, build, env, progress)


def is_fresh(folder: Path | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether `ensure_manifest(folder, env=env)` would find its parse done (no `dbt parse` to run)."""
    folder = folder or MANIFEST.parent
    manifest, semantic, parsed_for = folder / MANIFEST.name, folder / SEMANTIC_MANIFEST.name, folder / "parsed_for"
    newest = _newest_source_mtime()
    if not all(p.exists() and p.stat().st_mtime >= newest for p in (manifest, semantic)):
        return False
    database = (env or {}).get("LEAD_ANALYTICS_PGDATABASE", "")
    return env is None or (parsed_for.exists() and parsed_for.read_text() == database)


def _parse_if_stale(
    folder: Path, build: bool, env: dict[str, str] | None, progress: Callable[[str], None] | None
) -> Path:
    manifest, parsed_for = folder / MANIFEST.name, folder / "parsed_for"
    database = (env or {}).get("LEAD_ANALYTICS_PGDATABASE", "")
    if is_fresh(folder, env):
        return manifest
    if progress is not None:
        progress("parsing the dbt project (dbt parse: 10-20 s)")
    # The same settings as the build that follows, so its partial parse can reuse this one.
    env = dict(env or settings.current().child_env())
    # Parsing needs no connection, but profiles.yml needs its variables to render.
    env.setdefault("LEAD_ANALYTICS_PGHOST", "localhost")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    proc = subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--quiet",
            *(["--vars", BUILD_VARS] if build else []),
            "--project-dir",
            str(settings.DBT_PROJECT_DIR),
            "--profiles-dir",
            str(settings.DBT_PROJECT_DIR),
            "--target-path",
            str(folder),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        message = " ".join((proc.stdout + proc.stderr).split())
        raise ParseError(f"dbt parse failed: {message[-1500:]}")
    parsed_for.write_text(database)
    return manifest
