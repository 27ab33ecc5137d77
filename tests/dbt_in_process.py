"""dbt for the fixture warehouses, run in the test process on a project parsed once per process.

Through the `dbt` command a fixture build took about 16 s, of which about 12 s was dbt starting and parsing the
project from scratch, every time: dbt reuses a parse only for the same connection, and every fixture has a
database of its own. Here the project is parsed once per test process (dbt's programmatic `dbtRunner`), for a
placeholder database, and each run gets a fresh copy of that manifest with the placeholder replaced by the
fixture's database. The build itself is dbt's own, on the real warehouse.

What a run cannot change this way: anything dbt settles while parsing (schemas, configs, `--vars` read at
parse time). The fixtures pass only the as-of moment and the reporting time zone, which dbt reads when it
compiles; a build with other `--vars` (the write-audit-publish schemas) goes through the `dbt` command
(`conftest.run_dbt(..., in_process=False)`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from unittest import mock

from orchestration import settings, warehouse
from orchestration.dbt_project import dbt_env

PLACEHOLDER = "parsed_for_fixtures"

_parsed: bytes | None = None  # the manifest as dbt saves it for partial parsing: each run loads its own copy (a
# run changes the nodes it compiles; and dbt 1.11's Manifest cannot be deep-copied or pickled, its __reduce_ex__
# leaves two fields out)


def project_args(target_path: Path) -> list[str]:
    """The project, its profile, and `target_path` for dbt's target folder and its log."""
    return [
        "--project-dir",
        str(settings.DBT_PROJECT_DIR),
        "--profiles-dir",
        str(settings.DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path),
    ]


def _manifest(info: warehouse.ConnectionInfo, target_path: Path):
    from dbt.cli.main import dbtRunner
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumaro_encoder, extended_mashumuro_decoder

    global _parsed
    if _parsed is None:
        with mock.patch.dict(os.environ, dbt_env(info) | {"LEAD_ANALYTICS_PGDATABASE": PLACEHOLDER}):
            result = dbtRunner().invoke(["parse", "--quiet", *project_args(target_path)])
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
        _parsed = result.result.to_msgpack(extended_mashumaro_encoder)
    manifest = Manifest.from_msgpack(_parsed, decoder=extended_mashumuro_decoder)
    quoted = f'"{PLACEHOLDER}"'
    for node in [*manifest.nodes.values(), *manifest.sources.values(), *manifest.unit_tests.values()]:
        if getattr(node, "database", None) == PLACEHOLDER:
            node.database = info.dbname
        if getattr(node, "relation_name", None):
            node.relation_name = node.relation_name.replace(quoted, f'"{info.dbname}"')
    for model in manifest.semantic_models.values():
        if model.node_relation is not None and model.node_relation.database == PLACEHOLDER:
            model.node_relation.database = info.dbname
    return manifest


def run(
    info: warehouse.ConnectionInfo,
    command: str,
    args: list[str],
    as_of: str | None,
    target_path: Path,
    timezone: str,
) -> subprocess.CompletedProcess:
    """`dbt <command> <args>` on the database `info` as of `as_of` (None: the project's default) in `timezone`;
    returned as the command's would be: its return code (0 ok, 1 a node failed, 2 dbt itself failed) and the
    lines it would have printed."""
    from dbt.cli.main import dbtRunner

    manifest = _manifest(info, target_path)
    lines: list[str] = []

    def keep(event) -> None:
        if event.info.level in ("info", "warn", "error") and event.info.msg:
            lines.append(event.info.msg)

    env = dbt_env(info) | {"LEAD_ANALYTICS_TIMEZONE": timezone}
    if as_of is not None:
        env["LEAD_ANALYTICS_AS_OF"] = as_of
    with mock.patch.dict(os.environ, env):
        result = dbtRunner(manifest=manifest, callbacks=[keep]).invoke(
            [command, *args, "--quiet", "--log-level-file", "none", *project_args(target_path)]
        )
    if result.exception is not None:
        lines.append(f"{type(result.exception).__name__}: {result.exception}")
    returncode = 0 if result.success else (2 if result.exception is not None else 1)
    return subprocess.CompletedProcess(["dbt", command, *args], returncode, "\n".join(lines) + "\n", "")
