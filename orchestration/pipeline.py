"""Runs the full Dagster job in this process with readable progress, and summarises the warehouse.

Used by `lead-analytics run` and `lead-analytics demo`; the same job runs from the Dagster UI,
the hourly schedule and the landing-file sensor.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from orchestration import settings, warehouse
from orchestration.ingestion import contracts


@dataclass
class PipelineResult:
    success: bool
    seconds: float
    checks_passed: int = 0
    checks_failed: int = 0
    gx_suites_passed: int = 0
    failed_checks: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)
    skipped_assets: list[str] = field(default_factory=list)
    log_path: Path | None = None


def dagster_home() -> str:
    home = settings.state_dir() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or not config.read_text().strip():
        config.write_text("telemetry:\n  enabled: false\n")
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
            self.emit_line(f"{elapsed} {step}: FAILED {message}")


def run_full_pipeline(emit_line: Callable[[str], None] = print) -> PipelineResult:
    os.environ["DAGSTER_HOME"] = dagster_home()
    started = time.perf_counter()
    emit_line("loading the Dagster definitions (dbt, Dagster and Great Expectations imports take a few seconds)")
    from dagster import DagsterInstance, logger

    from orchestration.definitions import defs

    @logger
    def progress_logger(_init_context):
        log = logging.getLogger("lead_analytics.progress")
        log.handlers = [_ProgressHandler(emit_line, started)]
        log.setLevel(logging.INFO)
        log.propagate = False
        return log

    job = defs.resolve_job_def("full_pipeline").with_logger_defs({"progress": progress_logger})
    # dagster-dbt echoes every dbt log line to stdout; keep it in a log file, not on the terminal.
    log_dir = settings.state_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}.log"
    with open(log_path, "w") as log_file, contextlib.redirect_stdout(log_file):
        result = job.execute_in_process(instance=DagsterInstance.get(), raise_on_error=False,
                                        run_config={"loggers": {"progress": {}}})
    out = PipelineResult(success=result.success, seconds=time.perf_counter() - started, log_path=log_path)
    for evaluation in result.get_asset_check_evaluations():
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            out.checks_passed += 1
            out.gx_suites_passed += evaluation.check_name.startswith("gx_")
        else:
            out.checks_failed += 1
            out.failed_checks.append(name)
    out.failed_steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    out.skipped_assets = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    return out


@dataclass
class WarehouseSummary:
    raw_rows: dict[str, int]  # per source
    rejected_rows: dict[str, int]  # per source
    layer_rows: dict[str, tuple[int, int]]  # schema -> (relations, rows)


def summarise(info: warehouse.ConnectionInfo) -> WarehouseSummary:
    with warehouse.connect(info) as conn:
        raw: dict[str, int] = {}
        for c in contracts.all_contracts():
            exists = conn.execute("select to_regclass(%s)", (f"{c.schema}.{c.name}",)).fetchone()[0]
            n = conn.execute(f"select count(*) from {c.qualified_name}").fetchone()[0] if exists else 0
            raw[c.source] = raw.get(c.source, 0) + int(n)
        rejected: dict[str, int] = {}
        if conn.execute("select to_regclass(%s)", (f"{settings.AUDIT_SCHEMA}.rejected_rows",)).fetchone()[0]:
            for table, n in conn.execute(f"select source_table, count(*) from {settings.AUDIT_SCHEMA}.rejected_rows "
                                         "group by 1").fetchall():
                source = next((c.source for c in contracts.all_contracts()
                                if f"{c.schema}.{c.name}" == table), table)
                rejected[source] = rejected.get(source, 0) + int(n)
        layers: dict[str, tuple[int, int]] = {}
        for schema in (settings.STAGING_SCHEMA, settings.INTERMEDIATE_SCHEMA, settings.MARTS_SCHEMA):
            rels = conn.execute("select table_name from information_schema.tables where table_schema = %s",
                                (schema,)).fetchall()
            total = 0
            for (name,) in rels:
                total += conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            layers[schema] = (len(rels), int(total))
    return WarehouseSummary(raw, rejected, layers)


def format_summary(summary: WarehouseSummary, result: PipelineResult | None, wall_seconds: float) -> str:
    lines = ["", "Summary", "-------", f"{'source':<14}{'raw rows':>12}{'rejected':>10}"]
    for source in sorted(summary.raw_rows):
        lines.append(f"{source:<14}{summary.raw_rows[source]:>12,}{summary.rejected_rows.get(source, 0):>10,}")
    lines.append(f"{'all sources':<14}{sum(summary.raw_rows.values()):>12,}{sum(summary.rejected_rows.values()):>10,}")
    lines += ["", f"{'layer':<14}{'relations':>12}{'rows':>12}"]
    for schema, (n, rows) in summary.layer_rows.items():
        lines.append(f"{schema:<14}{n:>12}{rows:>12,}")
    if result is not None:
        lines += ["", f"checks: {result.checks_passed} passed ({result.gx_suites_passed} Great Expectations "
                      f"suites, {result.checks_passed - result.gx_suites_passed} dbt tests), "
                      f"{result.checks_failed} failed"]
        lines += [f"  failed: {name}" for name in result.failed_checks]
        lines += [f"  failed step: {step}" for step in result.failed_steps]
        lines += [f"  skipped step: {step}" for step in result.skipped_assets]
        if result.log_path:
            lines.append(f"dbt and Dagster log: {result.log_path}")
    lines.append(f"wall time: {wall_seconds:.1f}s")
    return "\n".join(lines)


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# The seed-000 "Recommended Minimal Dashboard" (KPI inventory ids); its cards are found by these ids.
MINIMAL_DASHBOARD_KPIS = frozenset({
    "s000.total_leads", "s000.leads_today", "s000.leads_this_week", "s000.leads_by_source_top3",
    "s000.leads_by_service_requested", "s000.high_vs_low_confidence"})


def format_minimal_dashboard(info: warehouse.ConnectionInfo) -> str:
    """The Recommended Minimal Dashboard as text: the lead-capture dashboard's own cards, run as the
    HTML report runs them, so the terminal and the dashboards cannot disagree."""
    from dataclasses import replace

    from orchestration.bi import html_report, specs

    loaded = specs.load_specs(settings.PROJECT_ROOT / "metabase")
    dashboard = loaded.dashboards["lead_capture"]
    minimal = replace(dashboard, cards=tuple(
        dc for dc in dashboard.cards if MINIMAL_DASHBOARD_KPIS & set(loaded.cards[dc.card].kpis)))
    results, as_of = html_report.run_queries(info, minimal, loaded.cards, {})
    if all(r.error for r in results):
        return "Lead capture: the marts are not built yet (the pipeline failed before them)."
    tz = settings.reporting_timezone()
    when = f"{as_of.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}" if as_of else "an unknown moment"
    lines = ["", f"Lead capture: Recommended Minimal Dashboard (seed 000), as of {when}"]
    for r in results:
        if r.error:
            text = f"error: {r.error}"
        elif len(r.columns) == 1:
            text = html_report.format_value(r.rows[0][0] if r.rows else None,
                                               html_report.column_format(r.card, r.columns[0], scalar=True))
        else:
            fmt = html_report.column_format(r.card, r.columns[1])
            text = " · ".join(f"{row[0]} {html_report.format_value(row[1], fmt)}" for row in r.rows) or "none"
        lines.append(f"  {r.name:<30}{text}")
    return "\n".join(lines)
