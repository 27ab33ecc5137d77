"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt).

Staging, intermediate and marts become asset groups named after their folders. dbt sources map to
the raw assets' keys (`[source, table]`), which gives lineage from raw tables into dbt.

`dbt build` runs write-audit-publish style (orchestration/publishing.py): it builds into the shadow
schemas (`marts__build`, ...), never into the published ones, so a failed model or test leaves the
published marts as they were. A failure is recorded as the reason new data was held back and
fails the step with the failed tests' and models' names.

A run that selects only some models (a refresh cycle rebuilding what new data reaches, orchestration/selective.py;
or a subset materialized in the UI) builds them with `--defer --favor-state --state <published dbt state>`: every
ref to a model it does not rebuild reads that model's published relation.
"""

import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster import AssetCheckResult, AssetCheckSpec, AssetExecutionContext, AssetSpec, Failure, Output
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from orchestration import publishing, selective, settings
from orchestration import warehouse as warehouses
from orchestration.dbt_project import BUILD_VARS, dbt_env, dbt_executable, ensure_manifest
from orchestration.defs.resources import WarehouseResource

__all__ = ["ProjectDbtResource", "dbt_env", "dbt_executable", "dbt_models", "dbt_resource"]


class LeadAnalyticsTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> "str | None":
        """One group per dbt folder: `staging_<source>` beside `raw_<source>`, and one per domain
        (`lead_capture`, `common`, ...) holding its intermediate models and marts."""
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "seed":
            return "seeds"
        if len(fqn) > 3 and fqn[1] == "staging":
            return f"staging_{fqn[2]}"
        return fqn[2] if len(fqn) > 3 else "dbt"

    def get_asset_check_spec(
        self, asset_spec: AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: "DbtProject | None"
    ) -> "AssetCheckSpec | None":
        """dbt tests rarely carry a description; say in words what each one checks."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest, unique_id))


def describe_test(manifest: Mapping[str, Any], unique_id: str) -> str:
    """One sentence for a dbt test: its own description, else one made from its type, model and columns."""
    test = manifest["nodes"][unique_id]
    if test.get("description"):
        return test["description"]
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs") or {}
    parents = test.get("depends_on", {}).get("nodes") or [""]
    attached = test.get("attached_node") or parents[0]
    if attached.startswith("source."):  # source.<project>.<source>.<table>
        model = "raw table " + ".".join(attached.split(".")[2:])
    else:
        model = attached.rsplit(".", 1)[-1] or "its table"
    column = kwargs.get("column_name") or test.get("column_name")
    where = f"{model}.{column}" if column else model
    kind = meta.get("name") or "singular"
    if kind == "unique":
        return f"No two rows of {model} have the same {column}."
    if kind == "not_null":
        return f"{where} is never empty."
    if kind == "accepted_values":
        values = ", ".join(str(v) for v in kwargs.get("values") or [])
        return f"{where} only takes the values {values}."
    if kind == "relationships":
        parent = str(kwargs.get("to", "the parent")).removeprefix("ref(").strip("')\"")
        return f"Every {where} exists in {parent}.{kwargs.get('field', '')}."
    if kind == "unique_combination_of_columns":
        columns = ", ".join(kwargs.get("combination_of_columns") or [])
        return f"The grain of {model}: one row per {columns} (a join that fans out fails here)."
    if kind == "row_count_equals":
        return f"{model} has exactly {kwargs.get('expected')} row(s)."
    return f"dbt test {test['name']} on {where}: fails when it returns rows."


dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)


PROGRESS_EVERY_SECONDS = 5.0

# Source tests become checks on the raw assets, so every test dbt runs is a Dagster asset check.
TRANSLATOR = LeadAnalyticsTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


PUBLISHED_RELATIONS = publishing.published_relations(ensure_manifest())


def _failures(run_results: dict) -> str:
    """One line naming what failed in a dbt build (tests first, then models)."""
    failed = [r for r in run_results.get("results", []) if r.get("status") in ("fail", "error")]
    tests = [r for r in failed if r["unique_id"].startswith("test.")]
    others = [r for r in failed if not r["unique_id"].startswith("test.")]
    parts = []
    for label, group in (("test(s) failed", tests), ("model(s) or other node(s) errored", others)):
        if group:
            # unique ids: test.<package>.<name>.<hash>, model.<package>.<name>
            named = "; ".join(
                f"{r['unique_id'].split('.')[2]} ({(r.get('message') or r['status']).splitlines()[0]})"
                for r in group[:3]
            )
            parts.append(f"{len(group)} {label}: {named}" + (" ..." if len(group) > 3 else ""))
    return "; ".join(parts) or "dbt exited with an error (see the dbt log)"


class ProjectDbtResource(DbtCliResource):
    """dagster-dbt's dbt, run with the settings the definitions were built with (see `dbt_resource`); they show
    as the resource's configuration in the Dagster UI."""

    reporting_timezone: str
    as_of: str = ""  # Settings.as_of_text: "" is the build time
    landing_dir: str
    reports_dir: str
    state_dir: str

    def run_settings(self) -> settings.Settings:
        return settings.Settings(
            timezone=self.reporting_timezone,
            as_of=self.as_of or None,
            landing_dir=self.landing_dir,
            reports_dir=self.reports_dir,
            state_dir=self.state_dir,
        )

    def env(self, info: warehouses.ConnectionInfo) -> dict[str, str]:
        """The variables dbt reads: the connection (profiles.yml), the time zone and as-of (dbt_project.yml)."""
        return dbt_env(info, self.run_settings())

    @cached_property
    def _cli_version(self) -> version.Version:
        """The dbt version, from this environment's package metadata when the dbt run is this environment's own (as
        `dbt_executable` picks it). dagster-dbt asks `dbt --version` instead, a second dbt process that imports dbt
        whole and looks for a newer release: 5-7 s before each build on a busy 2-core machine (D196)."""
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return version.parse(metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        """No dbt adapter in this process. dagster-dbt makes one before each dbt command, for its column-metadata and
        row-count fetchers only, which this project never calls; making it loads dbt's partial parse and parses every
        macro in the Dagster process, 5-9 s of each build on 2 cores (D196). dbt itself, in its own process, is as
        before; dagster-dbt runs without an adapter when it has none (its dbt Fusion path)."""
        return


@contextmanager
def _environ_of_child(env: Mapping[str, str]) -> Iterator[None]:
    """`env` as the environment of the processes started in the block, restored after. dagster-dbt starts dbt
    with a copy of `os.environ` and takes no environment of its own; this is the only way to hand dbt its
    variables, and they stay set only while dbt is started."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dbt_assets(manifest=ensure_manifest(), project=dbt_project, dagster_dbt_translator=TRANSLATOR)
def dbt_models(context: AssetExecutionContext, dbt: ProjectDbtResource, warehouse: WarehouseResource):
    info = warehouse.info()
    args = ["build", "--vars", BUILD_VARS]
    partial = None
    if set(dbt_models.keys) - set(context.selected_asset_keys):
        partial = [UNIQUE_IDS[key] for key in context.selected_asset_keys]
        config = dbt.run_settings()
        state = selective.state_dir(config)
        with warehouse.connect() as conn:
            published = publishing.published_build(conn)
        # Every partial run comes here, whoever selected it (a refresh cycle, the UI): it may defer only to a
        # published build of this same code and settings, or its marts would mix two versions (D191).
        problem = selective.state_problem(
            state, info.dbname, published and published.fingerprint, selective.fingerprint(config)
        )
        if problem is not None:
            reason = f"a partial build defers to the published build, and {problem}"
            with warehouse.connect() as conn:
                publishing.hold_back(conn, context.run.run_id, "dbt build", reason)
            raise Failure(description=f"dbt build: {reason}; run the full pipeline once")
        # Unit tests check a model's SQL against fixtures, not data, and dbt reads their inputs' columns from the
        # build's own schemas, without deferring: the code is the published build's (refresh.plan), which ran them.
        args += ["--defer", "--favor-state", "--state", str(state), "--exclude", "resource_type:unit_test"]
        context.log.info(
            f"dbt build: {len(context.selected_asset_keys)} of {len(dbt_models.keys)} models, the others read "
            "from the published schemas"
        )
    # dagster-dbt hands dbt a copy of target/partial_parse.msgpack; parsed for another warehouse's profile, dbt
    # would parse the whole project again in every run (about a minute on a busy machine): parse once per warehouse.
    ensure_manifest(env=dbt.env(info))
    with warehouse.connect() as conn:
        publishing.start_build(conn, context.run.run_id, sorted(PUBLISHED_RELATIONS), partial)
    started = last_report = time.monotonic()
    models = tests = failed_tests = 0
    with _environ_of_child(dbt.env(info)):
        invocation = dbt.cli(args, context=context, raise_on_error=False)
    for event in invocation.stream():
        if isinstance(event, Output):
            models += 1
        elif isinstance(event, AssetCheckResult):
            tests += 1
            failed_tests += 0 if event.passed else 1
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            context.log.info(f"dbt build: {models} models built, {tests} tests run so far")
        yield event
    context.log.info(
        f"dbt build: {models} models built, {tests} tests run ({failed_tests} failed) "
        f"in {time.monotonic() - started:.1f}s, into the shadow schemas "
        f"({', '.join(publishing.build_schema(s) for s in sorted(PUBLISHED_RELATIONS))})"
    )
    if not invocation.is_successful():
        try:
            reason = _failures(invocation.get_artifact("run_results.json"))
        except Exception:  # no run_results.json: dbt failed before building anything
            reason = "dbt exited with an error before building (see the dbt log)"
        with warehouse.connect() as conn:
            publishing.hold_back(conn, context.run.run_id, "dbt build", reason)
        raise Failure(description=f"dbt build: {reason}; the published marts are unchanged")


def dbt_resource(config: settings.Settings) -> ProjectDbtResource:
    return ProjectDbtResource(
        project_dir=dbt_project,
        profiles_dir=str(settings.DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
        reporting_timezone=config.timezone,
        as_of=config.as_of_text,
        landing_dir=str(config.landing_dir),
        reports_dir=str(config.reports_dir),
        state_dir=str(config.state_dir),
    )


UNIQUE_IDS = {spec.key: spec.metadata["dagster_dbt/unique_id"] for spec in dbt_models.specs}
ASSET_KEYS = {unique_id: key for key, unique_id in UNIQUE_IDS.items()}
