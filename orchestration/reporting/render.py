"""A report rendered: its dashboards' pages (the HTML report, same SQL as Metabase), the key numbers read from
those pages' results, an e-mail body written for the reader, and the pages printed to one PDF by headless
Chromium (the same HTML the dashboards use)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from orchestration.bi import formats, html_report, tiles
from orchestration.bi.compiler import CompiledSpecs
from orchestration.bi.run import CardResult, FilterError, ReportError
from orchestration.reporting.calendar import Period
from orchestration.reporting.specs import ReportSpec


class RenderError(RuntimeError):
    """A report that could not be rendered or printed; one line."""


@dataclass(frozen=True)
class Highlight:
    label: str
    text: str  # formatted as on the tile
    value: Any


@dataclass
class Rendered:
    spec: ReportSpec
    period: Period
    scope: dict[str, list[str]]
    pages: list[html_report.Report]
    highlights: list[Highlight]

    def scope_text(self) -> str:
        return "; ".join(f"{slug}: {', '.join(values)}" for slug, values in self.scope.items())


def page_filters(
    spec: ReportSpec, page_filters: dict[str, Any], period: Period, scope: dict[str, list[str]]
) -> dict[str, list[str]]:
    span = f"{period.first.isoformat()}~{period.last.isoformat()}"
    out = {
        slug: [span] if value == "period" else ([value] if isinstance(value, str) else list(value))
        for slug, value in page_filters.items()
    }
    out.update({slug: list(values) for slug, values in scope.items() if slug == spec.scope})
    return out


def render(
    info, compiled: CompiledSpecs, spec: ReportSpec, period: Period, scope: dict[str, list[str]], notices: list[str]
) -> Rendered:
    pages = []
    for page in spec.pages:
        try:
            pages.append(
                html_report.build_report(
                    info,
                    compiled.cards,
                    compiled.dashboards[page.dashboard],
                    page_filters(spec, page.filters, period, scope),
                    notices=notices,
                )
            )
        except (ReportError, FilterError) as exc:
            raise RenderError(f"report {spec.key}, page {page.dashboard}: {exc}") from None
    highlights = []
    for h in spec.highlights:
        result = next(r for p in pages for r in p.results if r.card.key == h.card)
        if result.card.statuses:
            summary = status_summary(result)
            highlights.append(Highlight(h.label or result.card.name, summary or "no data", summary or None))
            continue
        column = tiles._scalar_column(result)
        value = result.rows[0][column] if result.rows else None
        fmt = tiles.value_format(result, result.columns[column], scalar=True)
        prefix, number, suffix = formats.format_parts(value, fmt) if value is not None else ("", "", "")
        # A word unit ("leads", "open incidents") is the label's business in a sentence; a symbol ("%", "h") stays.
        words_only = suffix.replace(" ", "").isalpha()  # "leads", "open incidents"
        text = "no data" if value is None else prefix + number + ("" if words_only else suffix)
        highlights.append(Highlight(h.label or result.card.name, text, value))
    return Rendered(spec, period, scope, pages, highlights)


TONE_ORDER = ("bad", "warning", "unknown", "good")  # the reader learns what is wrong first


def status_summary(result: CardResult) -> str:
    """A status table in words: each status with the rows (named by their first other text column) in it, the
    worst first, e.g. "Down: SMS Gateway; No heartbeat: Apollo Enrichment, Email Service; Healthy: CRM Sync"."""
    card = result.card
    status = next(c for c in result.columns if c in card.statuses)
    measures = set(card.measure_columns)
    name = next((c for c in result.columns if c != status and c not in measures), status)
    tones = card.statuses[status]
    by_status: dict[str, list[str]] = {}
    for row in result.rows:
        value = row[result.columns.index(status)]
        label = formats.format_value(value) if value is not None else "(none)"
        by_status.setdefault(label, []).append(formats.format_value(row[result.columns.index(name)]))
    rank = {value: (TONE_ORDER.index(tone), i) for i, (value, tone) in enumerate(tones.items())}
    ordered = sorted(by_status, key=lambda v: rank.get(v, (len(TONE_ORDER), 0)))
    return "; ".join(f"{v}: {', '.join(by_status[v])}" for v in ordered)


def subject(rendered: Rendered) -> str:
    scope = f" ({rendered.scope_text()})" if rendered.scope else ""
    return f"{rendered.spec.name}: {rendered.period.label}{scope}"


def body_html(rendered: Rendered, *, late_note: str | None, alerts: list[str], zone: str) -> str:
    """The e-mail body: what the report covers, the key numbers as sentences, the alerts, and where the pages are."""
    e = html.escape
    as_of = rendered.pages[0].as_of_text if rendered.pages else "unknown"
    items = "".join(f"<li>{e(h.label)}: <strong>{e(h.text)}</strong></li>" for h in rendered.highlights)
    parts = [
        f"<h1>{e(rendered.spec.name)}</h1>",
        f"<p>{e(rendered.spec.description)} Period: <strong>{e(rendered.period.label)}</strong> "
        f"({e(rendered.period.first.isoformat())} to {e(rendered.period.last.isoformat())}, dates in {e(zone)}). "
        f"Data as of {e(as_of)}.</p>",
    ]
    if late_note:
        parts.append(f"<p><strong>{e(late_note)}</strong></p>")
    if rendered.scope:
        parts.append(f"<p>Scope: {e(rendered.scope_text())}.</p>")
    if items:
        parts.append(f"<h2>Key numbers</h2><ul>{items}</ul>")
    if rendered.spec.alerts:
        listed = "".join(f"<li>{e(a)}</li>" for a in alerts) or "<li>No alert is firing.</li>"
        parts.append(f"<h2>Active alerts</h2><ul>{listed}</ul>")
    pages = ", ".join(p.dashboard.name for p in rendered.pages)
    parts.append(f"<p>The attached PDF holds the full pages: {e(pages)}.</p>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def body_text(rendered: Rendered, *, late_note: str | None, alerts: list[str]) -> str:
    lines = [rendered.spec.name, f"Period: {rendered.period.label}"]
    if late_note:
        lines.append(late_note)
    if rendered.scope:
        lines.append(f"Scope: {rendered.scope_text()}")
    lines += [f"- {h.label}: {h.text}" for h in rendered.highlights]
    if rendered.spec.alerts:
        lines += ["Active alerts:"] + ([f"- {a}" for a in alerts] or ["- none"])
    return "\n".join(lines) + "\n"


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(rendered: Rendered, timeout: float = 120) -> bytes:
    """The pages printed by headless Chromium into one PDF, in order. The pages' script is left out, so every tab
    and selector option is on paper (a page shows them all without its script)."""
    binary = chromium()
    if binary is None:
        raise RenderError("no PDF: chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="report_pdf_") as tmp:
        folder = Path(tmp)
        joined = folder / "report.html"
        joined.write_text(_joined_html(rendered), encoding="utf-8")
        out = folder / "report.pdf"
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={folder / 'profile'}",
            f"--print-to-pdf={out}",
            joined.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RenderError(f"no PDF: chromium did not finish printing in {timeout:.0f} s") from None
        if not out.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RenderError(f"no PDF: chromium exited {proc.returncode}: {last}")
        return out.read_bytes()


def _joined_html(rendered: Rendered) -> str:
    """One document: the first page as it is, each further page's <main> after a page break (the pages share
    one stylesheet and one CSP, both from html_report)."""
    first = rendered.pages[0].html
    extra = []
    for page in rendered.pages[1:]:
        start, end = page.html.find("<body"), page.html.rfind("</body>")
        body = page.html[page.html.find(">", start) + 1 : end]
        extra.append(f'<div style="break-before: page">{body}</div>')
    at = first.rfind("</body>")
    return re.sub(r"<script>.*?</script>", "", first[:at] + "".join(extra) + first[at:], flags=re.DOTALL)


def local_text(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M} {local.tzname()}"
