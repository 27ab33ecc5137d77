"""The page: one self-contained, offline HTML file for a dashboard whose cards have run (`run.DashboardRun`).

It needs nothing at view time: the CSS and the one small script (static/report.css, static/report.js, inlined
here), charts as inline SVG, system fonts, and a Content-Security-Policy that pins the script by its hash and
blocks every network request. The script only switches tabs and metric selectors; without it every tab and
option is shown.

The header says, once for every tile: the dashboard's description, any `notices` (e.g. when the data was last
published), the as-of moment (read where the dashboard's `as_of` says) and what counts from it, the filters
applied and those not set, what each filter narrows (its description), the reporting time zone, and when the
page was made. The tiles (`tiles.py`) then need to say only what is theirs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from orchestration import settings
from orchestration.bi import charts, formats
from orchestration.bi.compiled import filter_value
from orchestration.bi.run import CardResult, DashboardRun
from orchestration.bi.specs import DashboardSpec, Placement
from orchestration.bi.tiles import TileContext, card_tile, e, filter_text, text_tile


@cache
def static(name: str) -> str:
    """A file of static/ (shipped as package data), as text."""
    return resources.files("orchestration.bi").joinpath("static", name).read_text(encoding="utf-8")


def script_hash() -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(static("report.js").encode()).digest()).decode()


def filters_text(
    dashboard: DashboardSpec, run: DashboardRun, selectors: frozenset[str] = frozenset()
) -> tuple[str, str]:
    """(applied filters, filters not set) as text; date filters also say the dates they mean. The filters that
    pick a selector's metric (`selectors`) are left out: each such tile has its dropdown."""
    applied, unused = [], []
    for f in dashboard.filters:
        if f.slug in selectors:
            continue
        value, is_default = filter_value(f, run.filters)
        if value is None:
            unused.append(f.name)
            continue
        applied.append(f"{f.name} = {filter_text(f, value, run.today)}{' (default)' if is_default else ''}")
    return ("; ".join(applied) if applied else "none — all data"), ", ".join(unused)


def _timings_table(results: list[CardResult], chart_seconds: float, charts_drawn: int) -> str:
    rows = "".join(
        f'<tr data-card="{e(r.key)}"><td>{e(r.card.name)}{e(f" [{r.option}]" if r.option else "")}</td>'
        f'<td class="num">{len(r.rows)}</td><td class="num">{r.query_ms:.1f}</td></tr>'
        for r in results
    )
    total = sum(r.query_ms for r in results)
    return (
        f'<table class="timings"><caption>Query times</caption><thead><tr><th>Tile</th><th class="num">Rows</th>'
        f'<th class="num">ms</th></tr></thead><tbody>{rows}</tbody><tfoot><tr><td>All queries</td><td></td>'
        f'<td class="num">{total:.1f}</td></tr><tr><td>{charts_drawn} charts drawn</td><td></td>'
        f'<td class="num">{chart_seconds * 1000:.1f}</td></tr></tfoot></table>'
    )


def _grid(placements: list[Placement], by_placement: dict[int, list[CardResult]], ctx: TileContext) -> str:
    parts = [text_tile(p, ctx) if p.text is not None else card_tile(by_placement[id(p)], ctx) for p in placements]
    return f'<div class="grid">{"".join(parts)}</div>'


def _main(dashboard: DashboardSpec, run: DashboardRun, ctx: TileContext) -> str:
    by_placement: dict[int, list[CardResult]] = {}
    for r in run.results:
        by_placement.setdefault(id(r.placement), []).append(r)
    if not dashboard.tabs:
        return _grid(dashboard.placements(), by_placement, ctx)
    nav = "".join(
        f'<button type="button" role="tab" id="tab-button-{e(t.key)}" data-tab="{e(t.key)}" '
        f'aria-controls="tab-{e(t.key)}">{e(t.name)}</button>'
        for t in dashboard.tabs
    )
    panels = "".join(
        f'<section class="tab-panel" role="tabpanel" id="tab-{e(t.key)}" aria-labelledby="tab-button-{e(t.key)}">'
        f'<h2 class="tab-title">{e(t.name)}</h2>{_grid(dashboard.placements(t.key), by_placement, ctx)}</section>'
        for t in dashboard.tabs
    )
    return f'<nav class="tabs" role="tablist" aria-label="Dashboard tabs">{nav}</nav>{panels}'


def _header(
    dashboard: DashboardSpec,
    run: DashboardRun,
    ctx: TileContext,
    notices: Sequence[str],
    generated_at: datetime,
    published: str,
) -> str:
    applied, unused = filters_text(dashboard, run, ctx.selector_filters)
    unused_html = f' <span class="unused">(not set: {e(unused)})</span>' if unused else ""
    source = (
        f"{dashboard.as_of.table}.{dashboard.as_of.column}"
        if dashboard.as_of
        else "the dashboard names no as-of source"
    )
    description = f'<p class="description">{e(ctx.words(dashboard.description))}</p>' if dashboard.description else ""
    notice_html = (
        '<ul class="notices" id="notices">' + "".join(f"<li>{e(n)}</li>" for n in notices) + "</ul>" if notices else ""
    )
    notes = "".join(
        f"<li><b>{e(f.name)}</b>: {e(ctx.words(f.description))}</li>"
        for f in dashboard.filters
        if f.description.strip()
    )
    rule = (
        "Every tile counts the data up to the as-of moment"
        + ("; tiles about today, this week or this month end there" if run.windows else "")
        + (f". Dates and hours are calendar dates and hours in {ctx.timezone}.")
    )
    return (
        f'<header class="page-header"><h1>{e(dashboard.name)}</h1>{description}{notice_html}<dl class="meta">'
        f'<div><dt>As of</dt><dd id="as-of" title="read from {e(source)}">{e(ctx.as_of_text)}</dd></div>'
        f'<div><dt>Filters</dt><dd id="filters">{e(applied)}{unused_html}</dd></div>'
        f'<div><dt>Time zone</dt><dd id="timezone">{e(ctx.timezone)}</dd></div>'
        f'<div><dt>Generated</dt><dd id="generated-at"><time datetime="{e(generated_at.isoformat())}">'
        f"{e(formats.format_instant(generated_at))}</time></dd></div>"
        + (f'<div><dt>Data</dt><dd id="publication">{e(published)}</dd></div>' if published else "")
        + "</dl>"
        f'<p class="rule" id="as-of-rule">{e(rule)}</p>'
        + (f'<ul class="filter-notes" id="filter-notes">{notes}</ul>' if notes else "")
        + "</header>"
    )


def render_page(
    dashboard: DashboardSpec,
    run: DashboardRun,
    *,
    timings: bool = False,
    notices: Sequence[str] = (),
    generated_at: datetime | None = None,
    stats: charts.RenderStats | None = None,
    published: str = "",
) -> str:
    """The page for a dashboard run (see `html_report.build_report`)."""
    stats = stats if stats is not None else charts.RenderStats()
    selector_filters = frozenset(
        slug
        for r in run.results
        if r.card.selector is not None
        for slug, tag in r.placement.mappings.items()
        if tag == r.card.selector.name
    )
    ctx = TileContext(
        dashboard=dashboard,
        filters=run.filters,
        windows=run.windows,
        today=run.today,
        as_of_text=formats.format_instant(run.as_of) if run.as_of else "unknown",
        timezone=settings.reporting_timezone(),
        timings=timings,
        selector_filters=selector_filters,
    )
    main = _main(dashboard, run, ctx)
    svgs = charts.render_svgs(ctx.specs, stats)
    for (chart_id, _), svg in zip(ctx.specs, svgs, strict=True):
        main = main.replace(f"<!--{chart_id}-->", f'<figure class="chart" id="{chart_id}">{svg}</figure>', 1)
    header = _header(dashboard, run, ctx, notices, generated_at or datetime.now(UTC), published)
    csp = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src '{script_hash()}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    footer = f"<footer>{_timings_table(run.results, stats.seconds, stats.charts)}</footer>" if timings else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="lead-analytics orchestration.bi.page">'
        f"<title>{e(dashboard.name)}</title><style>{static('report.css')}</style></head>"
        f'<body data-dashboard="{e(dashboard.key)}"><div class="page">{header}'
        f"<main>{main}</main>{footer}"
        f"</div><script>{static('report.js')}</script></body></html>\n"
    )
