"""The HTML report: a dashboard spec run (`run.py`) and rendered (`page.py`, `tiles.py`) to ONE self-contained,
offline page for business users, written to `reports/` by `lead-analytics report`, the demo and Dagster.

A card that fails or cannot be drawn stops the report (`ReportError`, naming the tile); bad filters stop it
before any query (`FilterError`); nothing is written then. A filtered report goes to its own file
(`run.report_filename`). Query times are only on the page with `timings=True`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestration import publishing, settings, warehouse
from orchestration.bi import charts, formats, page
from orchestration.bi import freshness as source_freshness
from orchestration.bi.compiled import CompiledCard
from orchestration.bi.run import CardResult, FilterError, report_filename, run_dashboard, unknown_filters
from orchestration.bi.specs import DashboardSpec
from orchestration.warehouse import ConnectionInfo

log = logging.getLogger(__name__)


@dataclass
class Report:
    """A rendered page and what went into it."""

    dashboard: DashboardSpec
    html: str
    results: list[CardResult]
    as_of: datetime | None
    filters: dict[str, Any]  # the validated values, as the data spells them
    filename: str
    query_seconds: float = 0.0
    chart_seconds: float = 0.0
    charts: int = 0

    @property
    def as_of_text(self) -> str:
        return formats.format_instant(self.as_of) if self.as_of else "unknown"

    def timings_ms(self) -> dict[str, float]:
        return {r.key: r.query_ms for r in self.results}

    def summary_lines(self) -> list[str]:
        lines = [f"{r.key}: {len(r.rows)} row(s), {r.query_ms:.1f} ms" for r in self.results]
        lines.append(
            f"queries {self.query_seconds * 1000:.0f} ms, {self.charts} charts drawn in "
            f"{self.chart_seconds * 1000:.0f} ms"
        )
        return lines

    def write(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.filename
        path.write_text(self.html, encoding="utf-8")
        return path


def build_report(
    info: ConnectionInfo,
    cards: dict[str, CompiledCard],
    dashboard: DashboardSpec,
    filters: dict[str, Any] | None = None,
    *,
    timings: bool = False,
    notices: Sequence[str] = (),
    generated_at: datetime | None = None,
) -> Report:
    """Run the dashboard's cards and render its page. FilterError for bad filters, ReportError when a card
    fails or cannot be drawn; nothing is written here."""
    started = time.perf_counter()
    run = run_dashboard(info, cards, dashboard, None, filters)
    queried = time.perf_counter() - started
    stats = charts.RenderStats()
    html = page.render_page(
        dashboard,
        run,
        timings=timings,
        notices=notices,
        generated_at=generated_at,
        stats=stats,
        published=publishing.publication_line(info),
        freshness=source_freshness.dashboard_freshness(
            info, {rel for r in run.results for rel in r.card.relations}, settings.reporting_timezone()
        ),
    )
    log.info(
        "dashboard %s: %d queries in %.0f ms, %d charts in %.0f ms",
        dashboard.key,
        len(run.results),
        queried * 1000,
        stats.charts,
        stats.seconds * 1000,
    )
    return Report(
        dashboard=dashboard,
        html=html,
        results=run.results,
        as_of=run.as_of,
        filters=run.filters,
        filename=report_filename(dashboard, run.filters),
        query_seconds=queried,
        chart_seconds=stats.seconds,
        charts=stats.charts,
    )


def write_reports(
    info: ConnectionInfo,
    specs_dir: Path,
    out_dir: Path,
    filters: dict[str, Any] | None = None,
    keys: Sequence[str] | None = None,
    *,
    timings: bool = False,
    notices: Sequence[str] = (),
) -> list[tuple[Path, Report]]:
    """Render the dashboards of `specs_dir` (those in `keys`, default all) and, when every one rendered,
    write them to `out_dir`. Each dashboard takes the given filters it has; a slug none of them has, an
    unknown dashboard or a bad value raises FilterError before any page is written."""
    from orchestration.bi.compiler import compile_specs

    compiled = compile_specs(Path(specs_dir))
    unknown_keys = [k for k in keys or () if k not in compiled.dashboards]
    if unknown_keys:
        raise FilterError(
            f"no dashboard {', '.join(repr(k) for k in unknown_keys)} "
            f"(dashboards: {', '.join(sorted(compiled.dashboards))})"
        )
    selected = [compiled.dashboards[k] for k in (keys or sorted(compiled.dashboards))]
    filters = dict(filters or {})
    slugs = {f.slug for d in selected for f in d.filters}
    stray = [s for s in filters if s not in slugs]
    if stray:
        if len(selected) == 1:
            raise unknown_filters(selected[0], stray)
        valid = "; ".join(f"{d.key}: {', '.join(f.slug for f in d.filters) or 'none'}" for d in selected)
        raise FilterError(f"no dashboard has filter {', '.join(repr(s) for s in stray)} (filters: {valid})")
    reports = []
    for dashboard in selected:
        own = {s: v for s, v in filters.items() if s in {f.slug for f in dashboard.filters}}
        reports.append(build_report(info, compiled.cards, dashboard, own, timings=timings, notices=notices))
    written = [(report.write(out_dir), report) for report in reports]
    _log_renders(info, written)
    return written


def _log_renders(info: ConnectionInfo, written: list[tuple[Path, Report]]) -> None:
    """One raw_audit.access_log row per page written, as the role that read the marts (D153)."""
    from orchestration import access

    with warehouse.connect(info) as conn:
        for path, report in written:
            access.log_access(
                conn,
                "render",
                f"html dashboard {report.dashboard.key} -> {path.name}",
                report.filters,
                sum(len(r.rows) for r in report.results),
            )
