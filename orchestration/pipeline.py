"""Runs the full Dagster job in this process with readable progress, and summarises the warehouse.

Used by `lead-analytics run` and `lead-analytics demo`; the same job runs from the Dagster UI,
the hourly schedule and the landing-file sensor.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestration import publishing, settings, warehouse
from orchestration.ingestion import contracts


@dataclass(frozen=True)
class FailedCheck:
    name: str  # asset/key:check_name
    description: str  # one line, e.g. "1 of 8 expectations failed on raw_bot_leads.leads (...)"
    details: str  # the failed expectations, one per line
    sample_rows: str  # a markdown table of offending rows ("" when the check gives none)


@dataclass
class PipelineResult:
    success: bool
    seconds: float
    checks_passed: int = 0
    checks_failed: int = 0
    gx_suites_passed: int = 0
    failed_checks: list[FailedCheck] = field(default_factory=list)
    failed_steps: list[tuple[str, str]] = field(default_factory=list)  # (step, reason)
    skipped_assets: list[str] = field(default_factory=list)  # steps that never started (upstream failed)
    skipped_work: list[tuple[str, str]] = field(default_factory=list)  # (asset, reason): ran, chose to do nothing
    log_path: Path | None = None


def failure_reason(dagster_event) -> str:
    """The reason a step failed, in one line: the Failure's description or the exception's message."""
    data = getattr(dagster_event, "event_specific_data", None)
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip().splitlines()[0]
    error = getattr(data, "error", None)
    while error is not None and error.cause is not None and "dagster" in (error.cls_name or "").lower():
        error = error.cause  # the user's exception under Dagster's wrapper
    if error is None:
        return "failed (no reason given)"
    lines = [line for line in (error.message or "").strip().splitlines() if line.strip()]
    if lines:  # "package.module.SomeError: text" -> "SomeError: text"
        lines[0] = re.sub(r"^(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*: )", "", lines[0])
    if error.cls_name == "DagsterAssetCheckFailedError":  # "1 blocking asset check failed ...: asset: check"
        lines[0] = lines[0].removeprefix("DagsterAssetCheckFailedError: ").rstrip(":")
        return ": ".join([lines[0], "; ".join(lines[1:])]) if len(lines) > 1 else lines[0]
    return lines[0] if lines else error.cls_name or "failed"


# The instance's settings: no telemetry (all that releases before D206 wrote), and the run history's event log with
# one connection per file (D206).
_NO_TELEMETRY = "telemetry:\n  enabled: false\n"
_POOLED_EVENT_LOG = """event_log_storage:
  module: orchestration.run_history
  class: PooledSqliteEventLogStorage
  config:
    base_dir: """


def dagster_home(config: settings.Settings) -> str:
    """Dagster's home under the state folder. Its `dagster.yaml` is (re)written when missing, empty or as this or an
    earlier release wrote it for another place; one edited by hand is left as it is."""
    home = config.state_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    # Dagster's default place for the event log, so the history of earlier runs stays readable.
    wanted = _NO_TELEMETRY + _POOLED_EVENT_LOG + json.dumps(str(home / "history" / "runs")) + "\n"
    current = instance_yaml.read_text() if instance_yaml.exists() else ""
    written_here = re.escape(_NO_TELEMETRY + _POOLED_EVENT_LOG) + r"[^\n]*\n"  # this file, for any base_dir
    ours = current == _NO_TELEMETRY or re.fullmatch(written_here, current) is not None
    if current != wanted and (ours or not current.strip()):
        instance_yaml.write_text(wanted)
    return str(home)


class _ProgressHandler(logging.Handler):
    """Prints the messages our assets log (and step failures) as one short line each."""

    def __init__(self, emit_line: Callable[[str], None], started: float):
        super().__init__(logging.INFO)
        self.emit_line = emit_line
        self.started = started

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        message = (meta.get("orig_message") or record.getMessage()).strip().splitlines()
        message = message[0] if message else ""
        elapsed = f"[{time.perf_counter() - self.started:6.1f}s]"
        if event is None:
            if record.levelno >= logging.INFO and step:
                self.emit_line(f"{elapsed} {step}: {message}")
            return
        kind = getattr(event, "event_type_value", "")
        if kind == "STEP_START":
            self.emit_line(f"{elapsed} {step}: started")
        elif kind == "STEP_FAILURE":
            self.emit_line(f"{elapsed} {step}: FAILED: {failure_reason(event)}")


@contextlib.contextmanager
def _run_history_without_fsync() -> Iterator[None]:
    """Dagster's SQLite run history (dagster_home) commits per event: with SQLite's default fsync per commit (and,
    before D206, a checkpoint per event), the ~1,200 planned and ~3,300 executed events of a full run cost a minute
    or more of fsyncs on a busy disk (D196). In this process and for the run only, the SQLite connections it opens
    skip the fsync; other processes (the UI, the daemon) keep theirs."""
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def no_fsync(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.execute("pragma synchronous = off")

    event.listen(Engine, "connect", no_fsync)
    try:
        yield
    finally:
        event.remove(Engine, "connect", no_fsync)


def selection_keys(defs, selection) -> list:
    """The assets a partial run of `defs` materializes for `selective.Selection`: the raw tables with new data,
    the dbt models it rebuilds and everything after dbt (publish, pages, Metabase, alerts)."""
    from dagster import AssetKey

    from orchestration.defs.dbt import ASSET_KEYS, dbt_models
    from orchestration.defs.raw import raw_tables

    raw = {AssetKey(table.split(".", 1)) for table in selection.changed_tables}
    dbt = {ASSET_KEYS[uid] for uid in selection.nodes if uid in ASSET_KEYS}
    after = {
        key
        for key in defs.resolve_asset_graph().materializable_asset_keys
        if key not in raw_tables.keys and key not in dbt_models.keys
    }
    return sorted(raw | dbt | after)


def run_full_pipeline(
    config: settings.Settings, emit_line: Callable[[str], None] = print, selection=None
) -> PipelineResult:
    """The full job in this process, with `config`'s settings (the Dagster resources are built from them).
    With `selection` (a `selective.Selection`), only the assets a partial rebuild needs (`selection_keys`)."""
    started = time.perf_counter()
    emit_line("loading the Dagster definitions (dbt, Dagster and Great Expectations imports take a few seconds)")
    from dagster import DagsterInstance, logger

    from orchestration import definitions
    from orchestration.defs.dashboards import SKIPPED

    defs = definitions.build(config)

    @logger
    def progress_logger(_init_context):
        log = logging.getLogger("lead_analytics.progress")
        log.handlers = [_ProgressHandler(emit_line, started)]
        log.setLevel(logging.INFO)
        log.propagate = False
        return log

    job = defs.resolve_job_def("full_pipeline").with_logger_defs({"progress": progress_logger})
    partial: dict = {}
    if selection is not None:
        from orchestration import selective
        from orchestration.dbt_project import ensure_manifest
        from orchestration.defs.publish import REBUILT_TAG

        note = selection.describe(len(selective.built_nodes(selective.load_manifest(ensure_manifest()))))
        emit_line(f"partial rebuild: {note}")
        partial = {"asset_selection": selection_keys(defs, selection), "tags": {REBUILT_TAG: note[:1000]}}
    # dagster-dbt echoes every dbt log line to stdout; keep it in a log file, not on the terminal.
    log_dir = config.state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with (
        Path(log_path).open("w") as log_file,
        contextlib.redirect_stdout(log_file),
        _run_history_without_fsync(),
        DagsterInstance.from_config(dagster_home(config)) as instance,
    ):
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config={"loggers": {"progress": {}}}, **partial
        )
    out = PipelineResult(success=result.success, seconds=time.perf_counter() - started, log_path=log_path)
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            out.checks_passed += 1
            out.gx_suites_passed += evaluation.check_name.startswith("gx_")
        else:
            out.checks_failed += 1
            meta = evaluation.metadata or {}

            def text(key: str, meta: dict = meta) -> str:
                value = meta.get(key)
                return str(getattr(value, "value", value) or "") if value is not None else ""

            out.failed_checks.append(
                FailedCheck(
                    name,
                    (evaluation.description or "failed").strip(),
                    text("failed_expectations"),
                    text("sample_offending_rows"),
                )
            )
    out.failed_steps = [
        (e.step_key, failure_reason(e)) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    for e in result.all_events:
        observation = getattr(e.event_specific_data, "asset_observation", None)
        if e.event_type_value == "ASSET_OBSERVATION" and SKIPPED in (observation.metadata or {}):
            out.skipped_work.append((observation.asset_key.to_user_string(), observation.metadata[SKIPPED].value))
    started_steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    out.skipped_assets = sorted(node.name for node in result.job_def.graph.nodes if node.name not in started_steps)
    return out


@dataclass
class WarehouseSummary:
    raw_rows: dict[str, int]  # per source
    rejected_rows: dict[str, int]  # per source
    layer_rows: dict[str, tuple[int, int]]  # schema -> (relations, rows)
    publication: str = ""  # publishing.PublicationStatus.line()
    marts_read_as: str = ""  # the role the marts' relations and rows were counted as


def summarise(info: warehouse.ConnectionInfo, reader: warehouse.ConnectionInfo | None = None) -> WarehouseSummary:
    """The operational facts (raw and rejected rows, the staging and intermediate layers, the publication) as the
    owner `info`; the marts' relations and rows as `reader` (reporting_reader: what a dashboard user sees, D185);
    without a reader the marts are not counted."""
    with warehouse.connect(info) as conn:
        raw: dict[str, int] = {}
        for c in contracts.all_contracts():
            exists = conn.execute("select to_regclass(%s)", (f"{c.schema}.{c.name}",)).fetchone()[0]
            n = conn.execute(f"select count(*) from {c.qualified_name}").fetchone()[0] if exists else 0
            raw[c.source] = raw.get(c.source, 0) + int(n)
        rejected: dict[str, int] = {}
        if conn.execute("select to_regclass(%s)", (f"{settings.AUDIT_SCHEMA}.rejected_rows",)).fetchone()[0]:
            for table, n in conn.execute(
                f"select source_table, count(*) from {settings.AUDIT_SCHEMA}.rejected_rows group by 1"
            ).fetchall():
                source = next((c.source for c in contracts.all_contracts() if f"{c.schema}.{c.name}" == table), table)
                rejected[source] = rejected.get(source, 0) + int(n)
        layers = {s: _layer_rows(conn, s) for s in (settings.STAGING_SCHEMA, settings.INTERMEDIATE_SCHEMA)}
        publication = publishing.publication_status(conn).line()
    if reader is None:
        return WarehouseSummary(raw, rejected, layers, publication)
    with warehouse.connect(reader) as conn:
        layers[settings.MARTS_SCHEMA] = _layer_rows(conn, settings.MARTS_SCHEMA)
    return WarehouseSummary(raw, rejected, layers, publication, reader.user)


def _layer_rows(conn, schema: str) -> tuple[int, int]:
    """(relations, rows) of `schema` that the connected role may read (information_schema lists only those)."""
    query = "select table_name from information_schema.tables where table_schema = %s order by 1"
    rels = conn.execute(query, (schema,)).fetchall()
    total = 0
    for (name,) in rels:
        total += conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
    return len(rels), int(total)


def format_summary(summary: WarehouseSummary, result: PipelineResult | None, wall_seconds: float) -> str:
    lines = ["", "Summary", "-------", f"{'source':<14}{'raw rows':>12}{'rejected':>10}"]
    lines.extend(
        f"{source:<14}{summary.raw_rows[source]:>12,}{summary.rejected_rows.get(source, 0):>10,}"
        for source in sorted(summary.raw_rows)
    )
    lines.append(f"{'all sources':<14}{sum(summary.raw_rows.values()):>12,}{sum(summary.rejected_rows.values()):>10,}")
    lines += ["", f"{'layer':<14}{'relations':>12}{'rows':>12}"]
    for schema, (n, rows) in summary.layer_rows.items():
        lines.append(f"{schema:<14}{n:>12}{rows:>12,}")
    if summary.marts_read_as:
        lines.append(f"(marts counted as {summary.marts_read_as}, the login the dashboards read as)")
    if result is not None:
        lines += [
            "",
            f"checks: {result.checks_passed} passed ({result.gx_suites_passed} Great Expectations "
            f"suites, {result.checks_passed - result.gx_suites_passed} dbt tests), "
            f"{result.checks_failed} failed",
        ]
        for check in result.failed_checks:
            lines.append(f"  failed check {check.name}: {check.description}")
            lines += [f"      {line}" for line in check.details.splitlines() if line.strip()]
            if check.sample_rows.startswith("|"):
                lines.append("      sample rows:")
                lines += [f"      {line}" for line in check.sample_rows.splitlines()]
        lines += [f"  failed step {step}: {reason}" for step, reason in result.failed_steps]
        lines += [f"  skipped {asset}: {reason}" for asset, reason in result.skipped_work]
        if result.skipped_assets:
            lines.append(f"  not run (an upstream step or blocking check failed): {', '.join(result.skipped_assets)}")
        if result.log_path:
            lines.append(f"dbt and Dagster log: {result.log_path}")
    if summary.publication:
        lines.append(f"dashboards' data: {summary.publication}")
    lines.append(f"wall time: {wall_seconds:.1f}s")
    return "\n".join(lines)


# The seed-000 "Recommended Minimal Dashboard" (KPI inventory ids); its cards are found by these ids.
MINIMAL_DASHBOARD_KPIS = frozenset(
    {
        "s000.total_leads",
        "s000.leads_today",
        "s000.leads_this_week",
        "s000.leads_by_source_top3",
        "s000.leads_by_service_requested",
        "s000.high_vs_low_confidence",
    }
)


def format_minimal_dashboard(info: warehouse.ConnectionInfo) -> str:
    """The Recommended Minimal Dashboard as text: the dashboard's own cards (found by their KPI ids), run
    as the HTML report runs them, so the terminal and the dashboards cannot disagree."""
    from orchestration.bi import compiler, formats, run
    from orchestration.bi.specs import SpecError

    try:
        compiled = compiler.compile_specs()
    except SpecError as exc:
        return f"Lead capture: the dashboard specs do not compile: {exc}"
    found = [
        (d, [p for p in run.reading_order(d) if p.card and MINIMAL_DASHBOARD_KPIS & set(compiled.cards[p.card].kpis)])
        for _, d in sorted(compiled.dashboards.items())
    ]
    found = [(d, ps) for d, ps in found if ps]
    if not found:
        return "Recommended Minimal Dashboard: no dashboard has its cards."
    dashboard, placements = found[0]
    try:
        ran = run.run_dashboard(info, compiled.cards, dashboard, placements)
    except run.ReportError as exc:
        return f"{dashboard.name}: the Recommended Minimal Dashboard could not run ({exc})."
    results, as_of = ran.results, ran.as_of
    when = formats.format_instant(as_of) if as_of else "an unknown moment"
    lines = ["", f"{dashboard.name}: Recommended Minimal Dashboard (seed 000), as of {when}"]
    for r in results:
        measures = r.card.measure_columns
        if not r.rows:
            text = "none"
        elif len(r.columns) == 1 or len(r.rows) == 1:
            text = " · ".join(
                (f"{r.card.labels[c]} " if len(measures) > 1 else "")
                + formats.format_value(r.rows[0][i], formats.column_format(r.card, c, scalar=len(r.columns) == 1))
                for i, c in enumerate(r.columns)
                if c in measures
            )
        else:
            dim, m = next(i for i, c in enumerate(r.columns) if c not in measures), r.columns.index(measures[0])
            fmt = formats.column_format(r.card, r.columns[m])
            text = " · ".join(
                f"{formats.format_dimension(row[dim])} {formats.format_value(row[m], fmt)}" for row in r.rows
            )
        lines.append(f"  {r.card.name:<30}{text}")
    return "\n".join(lines)


def refresh_dashboards_after_hold_back(info: warehouse.ConnectionInfo) -> list[Path]:
    """After a run that held new data back, rewrite the HTML dashboards from the marts still
    published, so that they say when their data was published and what held newer data back
    (Dagster skips the dashboard assets in such a run). Nothing when nothing was held back or
    nothing was ever published."""
    from orchestration.bi import html_report

    with warehouse.connect(info) as conn:
        status = publishing.publication_status(conn)
    if status.published_at is None or not status.held_back_by:
        return []
    from orchestration import access

    return [
        path
        for path, _ in html_report.write_reports(
            access.reader_for(info), settings.PROJECT_ROOT / "metabase", settings.reports_dir()
        )
    ]
