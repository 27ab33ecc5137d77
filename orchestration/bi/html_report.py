"""The HTML report: a dashboard spec rendered to ONE self-contained, offline page for business users.

The page runs the dashboard's compiled cards (`compiled.render_sql` + `compiled.card_values`: the same SQL
Metabase runs) in one READ ONLY transaction, a savepoint per card, with a statement timeout. It needs
nothing at view time: inline CSS, charts as inline SVG (Vega-Lite, `orchestration.bi.charts`), system
fonts, and one small script pinned by its hash in a Content-Security-Policy that blocks every network
request. The script only switches tabs and metric selectors; without it every tab and option is shown.

What a reader sees on each tile: its name, the card's description (plain words), the calendar dates an
as-of tile covers ("This month to date: 1 Apr 2025 (1 day)"), the dashboard filters applied to it (and
those that do not apply), the chart or number, and a "Definition" detail with the metrics' definitions
and KPI ids. The header says the as-of moment (read where the dashboard's `as_of` says), the filters, the
time zone, and any `notices` the caller passes (e.g. when the data was last published).

Filters are checked before any card runs (`FilterError`, one line): unknown slugs list the valid ones,
dates are parsed, text values are matched against the values of the filtered column ignoring case (and
written as the data spells them). A card that fails stops the report (`ReportError`, naming the tile and
the reason); nothing is written. A filtered report goes to its own file (`report_filename`).
Query times are only on the page with `timings=True`.
"""
from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, get_args

from orchestration import publishing, settings, warehouse
from orchestration.bi import charts, formats
from orchestration.bi import freshness as source_freshness
from orchestration.bi.compiled import (CompiledCard, RenderError, Window, card_values, date_bounds, filter_value,
                                       render_sql)
from orchestration.bi.formats import column_format, format_value
from orchestration.bi.specs import DashboardFilter, DashboardSpec, Display, Placement
from orchestration.warehouse import ConnectionInfo, first_line

log = logging.getLogger(__name__)

MAX_ROWS = 5000             # rows fetched per card; a tile says when the query returned more
STATEMENT_TIMEOUT = "60s"   # per card query
GRID_COLUMN_PX = 57         # width of one of the 24 grid columns at the page's full width (1440 px)
GRID_ROW_PX = 40            # height of one grid row, for chart heights
VALUES_LISTED = 25          # distinct values named when a filter value does not exist


class ReportError(RuntimeError):
    """The report cannot be written: a card's query failed or its rows cannot be drawn (names the tile)."""


class FilterError(ValueError):
    """A filter the dashboard does not have, or a value it cannot take; the message says what it can take."""


# ---------------------------------------------------------------- results


@dataclass
class CardResult:
    """One placed card (or one option of a metric selector) after its query ran."""

    placement: Placement
    card: CompiledCard
    option: str | None
    columns: list[str]
    rows: list[tuple]
    query_ms: float
    truncated: bool
    values: dict[str, Any]  # the tag values it ran with

    @property
    def key(self) -> str:
        return self.card.key + (f"[{self.option}]" if self.option else "")


@dataclass(frozen=True)
class WindowDates:
    window: Window
    first: date | None
    last: date | None
    days: int

    def text(self) -> str:
        if self.first is None or self.last is None:
            return f"{self.window.label}: no dates"
        n = f"{self.days} day{'s' if self.days != 1 else ''}"
        return f"{self.window.label}: {formats.format_date_range(self.first, self.last)} ({n})"


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
        lines.append(f"queries {self.query_seconds * 1000:.0f} ms, {self.charts} charts drawn in "
                     f"{self.chart_seconds * 1000:.0f} ms")
        return lines

    def write(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / self.filename
        path.write_text(self.html, encoding="utf-8")
        return path


# ---------------------------------------------------------------- filter values


def parse_filter_args(items: Sequence[str]) -> dict[str, list[str]]:
    """`--filter` arguments (`slug=value`, `slug=a,b`, repeated slugs add values) as slug -> values."""
    out: dict[str, list[str]] = {}
    for item in items:
        slug, sep, value = item.partition("=")
        slug = slug.strip()
        if not sep or not slug:
            raise FilterError(f"--filter takes SLUG=VALUE: one of the dashboard's filter slugs and a value (got {item!r})")
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:
            raise FilterError(f"--filter {slug}= has no value")
        out.setdefault(slug, []).extend(values)
    return out


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None and str(v) != ""]
    return [str(value)]


def filter_help(f: DashboardFilter) -> str:
    """What a filter takes, for messages and `--help`."""
    if f.type.startswith("date/"):
        return f"{f.slug} (a date: 2025-03-01~2025-03-31, 2025-03-01, 2025-03, Q1-2025, past30days, thismonth)"
    if f.type.startswith("number/"):
        return f"{f.slug} (a number{', or min,max' if f.type == 'number/between' else ''})"
    if f.type in ("string/=", "string/!="):
        return f"{f.slug} (one or more values, e.g. {f.slug}=A,B; any case)"
    return f"{f.slug} (text)"


def _unknown_filters(dashboard: DashboardSpec, unknown: Sequence[str]) -> FilterError:
    valid = "; ".join(filter_help(f) for f in dashboard.filters) or "none"
    return FilterError(f"dashboard {dashboard.key!r} has no filter {', '.join(repr(u) for u in unknown)}; "
                       f"its filters: {valid}")


def _fed_tags(dashboard: DashboardSpec, cards: dict[str, CompiledCard], slug: str):
    for p in dashboard.cards:
        if p.card and slug in p.mappings:
            yield cards[p.card].tag(p.mappings[slug])


def _match_values(conn, dashboard: DashboardSpec, cards: dict[str, CompiledCard], f: DashboardFilter,
                  values: list[str]) -> list[str]:
    """Each value as the data (or the selector's options) spell it, ignoring case; FilterError otherwise."""
    from psycopg import sql

    tags = list(_fed_tags(dashboard, cards, f.slug))
    known: dict[str, list[str]] = {}  # lower-case -> spellings
    listing: list[str] = []
    fields = {t.field for t in tags if t.kind == "dimension" and t.field}
    for t in tags:
        if t.kind == "text":
            for option in t.options:
                known.setdefault(option.lower(), []).append(option)
                listing.append(option)
    lowered = [v.lower() for v in values]
    for ref in sorted(fields, key=lambda r: r.qualified):
        table = sql.Identifier(ref.schema_name, ref.table)
        column = sql.Identifier(ref.column)
        with conn.transaction():
            found = conn.execute(sql.SQL("select distinct {c}::text from {t} where lower({c}::text) = any(%s)")
                                 .format(c=column, t=table), [lowered]).fetchall()
        for (value,) in found:
            known.setdefault(value.lower(), []).append(value)
        if any(v not in known for v in lowered):
            with conn.transaction():
                listing += [v for (v,) in conn.execute(
                    sql.SQL("select distinct {c}::text from {t} where {c} is not null order by 1 limit %s")
                    .format(c=column, t=table), [VALUES_LISTED + 1]).fetchall()]
    missing = [v for v, low in zip(values, lowered) if low not in known]
    if missing:
        shown = sorted(dict.fromkeys(listing))
        more = ", …" if len(shown) > VALUES_LISTED else ""
        raise FilterError(f"{f.slug}: no {', '.join(repr(m) for m in missing)} in {f.name} (its values: "
                          f"{', '.join(shown[:VALUES_LISTED]) or 'none'}{more})")
    return list(dict.fromkeys(s for low in lowered for s in known[low]))


def validate_filters(conn, dashboard: DashboardSpec, cards: dict[str, CompiledCard],
                     raw: dict[str, Any] | None, today: date) -> dict[str, Any]:
    """The given filter values checked and normalised (slug -> value or list of values)."""
    raw = dict(raw or {})
    known = {f.slug: f for f in dashboard.filters}
    unknown = [s for s in raw if s not in known]
    if unknown:
        raise _unknown_filters(dashboard, unknown)
    out: dict[str, Any] = {}
    for slug, given in raw.items():
        f, values = known[slug], _as_list(given)
        if not values:
            continue
        if f.type.startswith("date/"):
            if len(values) != 1:
                raise FilterError(f"{slug}: takes one date value (a range is one value: 2025-03-01~2025-03-31)")
            try:
                first, last = date_bounds(values[0], today)
            except RenderError as exc:
                raise FilterError(f"{slug}: {exc}") from None
            if first and last and first > last:
                raise FilterError(f"{slug}: {values[0]!r} starts after it ends")
            out[slug] = values[0]
        elif f.type.startswith("number/"):
            try:
                out[slug] = [Decimal(v) for v in values]
            except ArithmeticError:
                raise FilterError(f"{slug}: {', '.join(values)} is not a number") from None
        elif f.type in ("string/=", "string/!="):
            out[slug] = _match_values(conn, dashboard, cards, f, values)
        else:
            out[slug] = values
    return out


def report_filename(dashboard: DashboardSpec, filters: dict[str, Any]) -> str:
    """`<key>.html` without filters; `<key>--source-website--created-2025-03-01_2025-03-31.html` with them
    (filters in the dashboard's order), so a filtered report never overwrites the default one."""
    parts = []
    for f in dashboard.filters:
        values = _as_list(filters.get(f.slug))
        if values:
            text = "_".join(sorted(values)).lower()
            parts.append(f"{f.slug}-" + re.sub(r"[^a-z0-9.-]+", "_", text).strip("_"))
    stem = "--".join([dashboard.key, *parts])
    if len(stem) > 120:
        digest = hashlib.sha256(stem.encode()).hexdigest()[:10]
        stem = f"{stem[:100]}--{digest}"
    return f"{stem}.html"


# ---------------------------------------------------------------- queries


@contextmanager
def read_only(info: ConnectionInfo) -> Iterator[Any]:
    """One connection in one READ ONLY transaction with the per-statement timeout."""
    with warehouse.connect(info) as conn:
        conn.read_only = True
        with conn.transaction():
            conn.execute("select set_config('statement_timeout', %s, true)", [STATEMENT_TIMEOUT])
            yield conn


def read_as_of(conn, dashboard: DashboardSpec) -> datetime | None:
    """The dashboard's as-of moment, from the table and column its spec names (one row)."""
    import psycopg
    from psycopg import sql

    if dashboard.as_of is None:
        return None
    schema, table = dashboard.as_of.table.split(".")
    query = sql.SQL("select {c} from {t} limit 2").format(c=sql.Identifier(dashboard.as_of.column),
                                                          t=sql.Identifier(schema, table))
    try:
        with conn.transaction():
            rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:
        raise ReportError(f"dashboard {dashboard.key!r}: cannot read its as-of moment from "
                          f"{dashboard.as_of.table}.{dashboard.as_of.column}: {first_line(exc)}") from None
    if len(rows) != 1 or not isinstance(rows[0][0], datetime):
        raise ReportError(f"dashboard {dashboard.key!r}: {dashboard.as_of.table} must hold one row with a "
                          f"timestamp in {dashboard.as_of.column} (found {len(rows)} row(s))")
    return rows[0][0]


def as_of_date(as_of: datetime | None) -> date:
    """The as-of moment's date in the reporting time zone (relative date filters count from it)."""
    return (as_of or datetime.now(timezone.utc)).astimezone(formats.tz()).date()


def _selector_options(card: CompiledCard) -> list[tuple[str | None, str | None]]:
    """(tag, option) pairs to run: each option of a metric selector, or the card once."""
    tag = card.selector
    return [(tag.name, option) for option in tag.options] if tag else [(None, None)]


def run_card(conn, dashboard: DashboardSpec, placement: Placement, card: CompiledCard,
             filter_values: dict[str, Any], today: date) -> list[CardResult]:
    """Run one placed card (each option of a selector), in a savepoint; ReportError when it fails."""
    import psycopg

    results = []
    for tag, option in _selector_options(card):
        values = card_values(dashboard, placement, filter_values)
        if tag:
            values[tag] = option
        try:
            query, params = render_sql(card, values, today=today)
        except RenderError as exc:
            raise ReportError(f"tile {card.name!r} ({card.key}): {exc}") from None
        started = time.perf_counter()
        try:
            with conn.transaction():
                cursor = conn.execute(query, params)
                columns = [d.name for d in cursor.description or []]
                rows = cursor.fetchmany(MAX_ROWS + 1)
        except psycopg.Error as exc:
            raise ReportError(f"tile {card.name!r} ({card.key}) failed: {first_line(exc)}") from None
        ms = (time.perf_counter() - started) * 1000
        log.info("dashboard %s, card %s%s: %d row(s) in %.1f ms", dashboard.key, card.key,
                 f" [{option}]" if option else "", len(rows), ms)
        results.append(CardResult(placement, card, option, columns, [tuple(r) for r in rows[:MAX_ROWS]], ms,
                                  len(rows) > MAX_ROWS, values))
    return results


def window_dates(conn, windows: Sequence[Window]) -> dict[Window, WindowDates]:
    """First and last date and number of dates of each calendar window."""
    from psycopg import sql

    out = {}
    for w in dict.fromkeys(windows):
        schema, table = w.table.split(".")
        query = sql.SQL("select min({d}), max({d}), count(*) from {t} where {f}").format(
            d=sql.Identifier(w.date_column), t=sql.Identifier(schema, table), f=sql.Identifier(w.flag_column))
        with conn.transaction():
            first, last, days = conn.execute(query).fetchone()
        out[w] = WindowDates(w, first, last, int(days))
    return out


def run_placements(info: ConnectionInfo, cards: dict[str, CompiledCard], dashboard: DashboardSpec,
                   placements: Sequence[Placement] | None = None, filters: dict[str, Any] | None = None,
                   ) -> tuple[list[CardResult], datetime | None, dict[str, Any], dict[Window, WindowDates]]:
    """Run the dashboard's placed cards (default all, in reading order) with validated filters:
    (results, as-of moment, validated filter values, calendar windows of the cards)."""
    placements = [p for p in (placements if placements is not None else reading_order(dashboard)) if p.card]
    with read_only(info) as conn:
        as_of = read_as_of(conn, dashboard)
        today = as_of_date(as_of)
        filter_values = validate_filters(conn, dashboard, cards, filters, today)
        results = []
        for p in placements:
            results += run_card(conn, dashboard, p, cards[p.card], filter_values, today)
        windows = window_dates(conn, [w for p in placements for m in cards[p.card].metrics for w in m.windows])
    return results, as_of, filter_values, windows


def reading_order(dashboard: DashboardSpec) -> list[Placement]:
    if not dashboard.tabs:
        return dashboard.placements()
    return [p for t in dashboard.tabs for p in dashboard.placements(t.key)]


# ---------------------------------------------------------------- tile bodies


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _markdown(text: str) -> str:
    """Markdown-ish text as HTML; raw HTML in it is escaped, unsafe links are not linked."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text)


def _listed(settings_value: Any, columns: Sequence[str]) -> list[str]:
    names = settings_value if isinstance(settings_value, (list, tuple)) else [settings_value] if settings_value else []
    return [n for n in names if n in columns]


def _value_format(result: CardResult, column: str, scalar: bool = False) -> formats.ColumnFormat:
    """A column's number format; a selector's `value` column formats like the metric chosen."""
    card = result.card
    if column == "value" and result.option:
        return column_format(card, card.selector.options[result.option], scalar)
    return column_format(card, column, scalar)


def _title(result: CardResult, column: str) -> str:
    if column == "value" and result.option:
        return result.option
    return result.card.labels.get(column, column)


def chart_roles(result: CardResult) -> tuple[list[charts.Dim], list[charts.Measure]]:
    """Dimensions and measures of a result as the chart draws them (Metabase's graph.dimensions /
    graph.metrics, or pie.dimension / pie.metric, or funnel.dimension / funnel.metric, pick among the
    columns when set)."""
    card, columns = result.card, result.columns
    vs = card.visualization_settings
    prefix = card.display if card.display in ("pie", "funnel") else "graph"
    suffix = ("dimension", "metric") if prefix != "graph" else ("dimensions", "metrics")
    measure_cols = [c for c in card.measure_columns if c in columns]
    dim_cols = [c for c in columns if c not in measure_cols]
    dim_cols = _listed(vs.get(f"{prefix}.{suffix[0]}"), columns) or dim_cols
    measure_cols = _listed(vs.get(f"{prefix}.{suffix[1]}"), columns) or measure_cols
    index = {c: i for i, c in enumerate(columns)}
    dims = [charts.Dim(c, _title(result, c), tuple(r[index[c]] for r in result.rows)) for c in dim_cols]
    measures = []
    for c in measure_cols:
        fmt = _value_format(result, c)
        raw = [r[index[c]] for r in result.rows]
        measures.append(charts.Measure(
            c, _title(result, c), tuple(float(v) if formats.is_number(v) else None for v in raw),
            tuple(format_value(v, fmt) for v in raw), fmt.d3(), card.series.get(c, "bar")))
    return dims, measures


def _scalar_column(result: CardResult) -> int:
    wanted = result.card.visualization_settings.get("scalar.field")
    return result.columns.index(wanted) if wanted in result.columns else 0


def _big_number(result: CardResult, column: int, value: Any) -> str:
    prefix, text, suffix = formats.format_parts(value, _value_format(result, result.columns[column], scalar=True))
    prefix = f'<span class="affix">{_e(prefix)}</span>' if prefix else ""
    suffix = f'<span class="affix">{_e(suffix)}</span>' if suffix else ""
    return f'<div class="value" data-column="{_e(result.columns[column])}">{prefix}{_e(text)}{suffix}</div>'


def _scalar(result: CardResult, ctx: "_Context") -> str:
    if not result.rows:
        return '<div class="no-data">No data</div>'
    column = _scalar_column(result)
    return f'<div class="scalar">{_big_number(result, column, result.rows[0][column])}</div>'


def _grain(column: str, periods: Sequence[date]) -> str | None:
    if column in formats.GRAINS:
        return column
    if len(periods) >= 2:
        gap = (periods[-1] - periods[-2]).days
        return {1: "day", 7: "week"}.get(gap) or ("month" if 28 <= gap <= 31 else "quarter" if 89 <= gap <= 92
                                                  else "year" if gap in (365, 366) else None)
    return None


def _change(value: Any, previous: Any) -> tuple[str, str]:
    """(arrow and percentage, css class) of the change from previous to value."""
    if not (formats.is_number(value) and formats.is_number(previous)):
        return "", "flat"
    if previous == 0:
        return ("new", "up") if value else ("no change", "flat")
    change = (Decimal(str(value)) - Decimal(str(previous))) / abs(Decimal(str(previous)))
    if change == 0:
        return "no change", "flat"
    return f"{'▲' if change > 0 else '▼'} {abs(change) * 100:,.1f}%", "up" if change > 0 else "down"


def _smartscalar(result: CardResult, ctx: "_Context") -> str:
    """The number of the period the as-of date falls in (the last row up to it), its change against the
    period before, and how much of the period has passed by the as-of moment."""
    if not result.rows:
        return '<div class="no-data">No data</div>'
    measures = [result.columns.index(c) for c in result.card.measure_columns if c in result.columns]
    dims = [i for i in range(len(result.columns)) if i not in measures]
    if not dims or not measures or formats.as_period(result.rows[-1][dims[0]]) is None:
        return _scalar(result, ctx)
    vs = result.card.visualization_settings
    d = dims[0]
    m = result.columns.index(vs["scalar.field"]) if vs.get("scalar.field") in result.columns else measures[0]
    # Metabase's "compare to another column" (scalar.comparisons): e.g. the same days of the month before
    other = next((c for c in vs.get("scalar.comparisons") or ()
                  if c.get("type") == "anotherColumn" and c.get("column") in result.columns), None)
    rows = [(formats.as_period(r[d]), r) for r in result.rows if formats.as_period(r[d]) is not None]
    starts = [p if isinstance(p, date) and not isinstance(p, datetime) else p.date() for p, _ in rows]
    upto = [i for i, s in enumerate(starts) if s <= ctx.today] or [len(rows) - 1]
    current = upto[-1]
    grain = _grain(result.columns[d], starts)
    start = starts[current]
    name = formats.period_name(start, grain)
    caption = name[:1].upper() + name[1:]
    if grain in ("day", "week", "month", "quarter", "year"):
        end = formats.period_end(start, grain)
        if start <= ctx.today < end:
            passed, total = (ctx.today - start).days + 1, (end - start).days + 1
            caption += (f", so far: {formats.format_date_range(start, ctx.today)} "
                        f"({passed} of {total} days, as of {ctx.as_of_text})")
    value = rows[current][1][m]
    compare = ""
    fmt = _value_format(result, result.columns[m], scalar=True)
    if other is not None:
        previous = rows[current][1][result.columns.index(other["column"])]
        against = other.get("label") or _title(result, other["column"])
    elif current > 0:
        previous = rows[current - 1][1][m]
        against = formats.period_name(starts[current - 1], grain)
    if other is not None or current > 0:
        arrow, cls = _change(value, previous)
        compare = (f'<div class="compare {cls}"><span class="change">{_e(arrow)}</span> vs '
                   f'{_e(against)}: {_e(format_value(previous, fmt))}</div>')
    return (f'<div class="scalar smart">{_big_number(result, m, value)}'
            f'<div class="caption">{_e(caption)}</div>{compare}</div>')


def _numeric(result: CardResult, index: int) -> bool:
    values = [r[index] for r in result.rows if r[index] is not None]
    return bool(values) and all(formats.is_number(v) for v in values)


def _cell(result: CardResult, index: int, value: Any) -> str:
    column = result.columns[index]
    if column in result.card.measure_columns:
        return format_value(value, _value_format(result, column))
    return formats.format_dimension(value) if formats.as_period(value) else format_value(value)


def _table(result: CardResult, ctx: "_Context") -> str:
    if not result.rows:
        return '<div class="no-data">No data</div>'
    numeric = [_numeric(result, i) for i in range(len(result.columns))]
    head = "".join(f'<th scope="col"{" class=num" if numeric[i] else ""}>{_e(_title(result, c))}</th>'
                   for i, c in enumerate(result.columns))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if numeric[i] else ""}>{_e(_cell(result, i, v))}</td>'
                                    for i, v in enumerate(row)) + "</tr>" for row in result.rows)
    return f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


@dataclass
class _Node:
    label: str
    sums: list[Decimal | None]
    children: dict[str, "_Node"] = field(default_factory=dict)


def _add(sums: list[Decimal | None], values: Sequence[Any]) -> None:
    for i, v in enumerate(values):
        if formats.is_number(v):
            sums[i] = (sums[i] or Decimal(0)) + Decimal(str(v))


def _rollup(result: CardResult, ctx: "_Context") -> str:
    """Leading text columns nest (expandable `<details>`), numeric columns are summed at every level from
    the rows themselves, so every level adds up exactly to its children."""
    if not result.rows:
        return '<div class="no-data">No data</div>'
    measures = [i for i, c in enumerate(result.columns) if c in result.card.measure_columns]
    levels = [i for i in range(len(result.columns)) if i not in measures]
    rates = [_title(result, result.columns[i]) for i in measures if _value_format(result, result.columns[i]).percent]
    if rates:
        raise ReportError(f"tile {result.card.name!r} ({result.card.key}): a roll-up sums its columns at every level, "
                          f"and {', '.join(rates)} is a percentage, which does not add up; show it in a table")
    root = _Node("Total", [None] * len(measures))
    for row in result.rows:
        values = [row[i] for i in measures]
        _add(root.sums, values)
        node = root
        for i in levels:
            label = format_value(row[i]) if row[i] is not None else "(none)"
            node = node.children.setdefault(label, _Node(label, [None] * len(measures)))
            _add(node.sums, values)
    fmts = [_value_format(result, result.columns[i]) for i in measures]

    def numbers(node: _Node) -> str:
        return "".join(f'<span class="num" data-column="{_e(result.columns[i])}">'
                       f'{_e(format_value(s, f))}</span>' for i, s, f in zip(measures, node.sums, fmts))

    def render(node: _Node, depth: int) -> str:
        out = []
        for child in node.children.values():
            line = f'<span class="name">{_e(child.label)}</span>{numbers(child)}'
            if child.children:
                out.append(f'<details class="level" data-depth="{depth}"><summary class="line" style="--depth:{depth}">'
                           f'{line}</summary>{render(child, depth + 1)}</details>')
            else:
                out.append(f'<div class="line leaf" data-depth="{depth}" style="--depth:{depth}">{line}</div>')
        return "".join(out)

    head = (f'<div class="line head"><span class="name">{_e(" › ".join(_title(result, result.columns[i]) for i in levels))}'
            f'</span>' + "".join(f'<span class="num">{_e(_title(result, result.columns[i]))}</span>' for i in measures)
            + "</div>")
    total = f'<div class="line total"><span class="name">Total</span>{numbers(root)}</div>'
    return f'<div class="rollup" role="tree">{head}{render(root, 0)}{total}</div>'


def _chart(result: CardResult, ctx: "_Context") -> str:
    if not result.rows:
        return '<div class="no-data">No data</div>'
    dims, measures = chart_roles(result)
    p = result.placement
    width = max(220, p.size_x * GRID_COLUMN_PX - 40)
    height = max(140, p.size_y * GRID_ROW_PX - 40)
    try:
        spec = charts.chart_spec(result.card.display, result.card.name, dims, measures, width, height)  # type: ignore[arg-type]
    except charts.NothingToDraw as exc:  # a quiet period, not a broken card
        return f'<div class="no-data">No data: {_e(exc)}</div>'
    except charts.ChartError as exc:
        raise ReportError(f"tile {result.card.name!r} ({result.card.key}) cannot be drawn as "
                          f"{result.card.display}: {exc}") from None
    return ctx.chart(spec)


_BODIES: dict[str, Callable[[CardResult, "_Context"], str]] = {
    "scalar": _scalar, "smartscalar": _smartscalar, "table": _table, "rollup": _rollup,
    **{display: _chart for display in charts.CHART_DISPLAYS},
}
if set(_BODIES) != set(get_args(Display)):  # every display a spec may name has a renderer, and no other
    raise AssertionError(f"html_report renders {sorted(_BODIES)}, specs allow {sorted(get_args(Display))}")


@dataclass
class _Context:
    today: date
    as_of_text: str
    specs: list[tuple[str, dict]] = field(default_factory=list)

    def chart(self, spec: dict) -> str:
        chart_id = f"chart{len(self.specs)}"
        self.specs.append((chart_id, spec))
        return f"<!--{chart_id}-->"


# ---------------------------------------------------------------- page


def _filter_text(f: DashboardFilter, value: Any, today: date, dates_only: bool = False) -> str:
    """A filter's value as people read it: list values joined; a date value with the dates it means
    ("past12months (1 Dec 2025 – 30 Nov 2026)", or with `dates_only` just the dates)."""
    text = ", ".join(format_value(v) for v in _as_list(value)) if isinstance(value, (list, tuple)) else str(value)
    if f.type.startswith("date/"):
        first, last = date_bounds(str(value), today)
        if first and last:
            dates = formats.format_date_range(first, last)
        elif first or last:
            dates = "from " + formats.format_day(first) if first else "until " + formats.format_day(last)
        else:
            return text
        return dates if dates_only else f"{text} ({dates})"
    return text


def _tile_filters(dashboard: DashboardSpec, placement: Placement, filter_values: dict[str, Any], today: date) -> str:
    """Which filters narrowed this tile, and which set filters do not apply to it."""
    applied, ignored = [], []
    for f in dashboard.filters:
        value, _ = filter_value(f, filter_values)
        if value is None:
            continue
        text = _filter_text(f, value, today, dates_only=True)
        if f.slug in placement.mappings:
            applied.append(f'<span class="applied">{_e(f.name)}: {_e(text)}</span>')
        else:
            ignored.append(f.name)
    if ignored:
        applied.append(f'<span class="ignored">{_e(", ".join(ignored))}: does not apply to this tile</span>')
    return f'<p class="tile-filters">{" · ".join(applied)}</p>' if applied else ""


def _definition(card: CompiledCard) -> str:
    items = "".join(f'<dt>{_e(m.label)} <code>{_e(m.name)}</code></dt><dd>{_markdown(m.description)}</dd>'
                    for m in card.metrics)
    kpis = ", ".join(card.kpis)
    return (f'<details class="definition"><summary>Definition</summary><dl>{items}</dl>'
            f'<p class="kpis">KPI inventory: {_e(kpis)} · card <code>{_e(card.key)}</code></p></details>')


def _card_html(results: list[CardResult], dashboard: DashboardSpec, filter_values: dict[str, Any],
               windows: dict[Window, WindowDates], ctx: _Context, timings: bool) -> str:
    first = results[0]
    card, p = first.card, first.placement
    body_of = _BODIES[card.display]
    seen: list[Window] = []
    for m in card.metrics:
        seen += [w for w in m.windows if w not in seen]
    period = "".join(f'<p class="window">{_e(windows[w].text())}</p>' for w in seen if w in windows)
    notes = ""
    if any(r.truncated for r in results):
        notes = f'<p class="note">Showing the first {MAX_ROWS:,} rows; the query returned more.</p>'
    if first.option is None:
        body = body_of(first, ctx)
        control = ""
    else:
        tag = card.selector
        choices = "".join(f'<option value="{i}"{" selected" if r.option == tag.default else ""}>{_e(r.option)}</option>'
                          for i, r in enumerate(results))
        control = (f'<label class="selector" hidden>{_e(tag.display_name)} '
                   f'<select data-selector="{_e(card.key)}">{choices}</select></label>')
        body = "".join(f'<div class="option" data-option="{i}" data-option-label="{_e(r.option)}">'
                       f'<h3 class="option-title">{_e(r.option)}</h3>{body_of(r, ctx)}</div>'
                       for i, r in enumerate(results))
    ms = sum(r.query_ms for r in results)
    timing_attr = f' data-query-ms="{ms:.1f}"' if timings else ""
    style = f"grid-column:{p.col + 1} / span {p.size_x};grid-row:{p.row + 1} / span {p.size_y}"
    description = f'<p class="desc">{_e(card.description)}</p>' if card.description else ""
    return (f'<section class="card" data-card="{_e(card.key)}" data-display="{_e(card.display)}" '
            f'data-rows="{len(first.rows)}"{timing_attr} style="{style}">'
            f'<header><h2>{_e(card.name)}</h2>{control}</header>{description}{period}'
            f'<div class="body">{body}</div>{notes}{_tile_filters(dashboard, p, filter_values, ctx.today)}'
            f'{_definition(card)}</section>')


def _text_html(p: Placement) -> str:
    style = f"grid-column:{p.col + 1} / span {p.size_x};grid-row:{p.row + 1} / span {p.size_y}"
    return f'<section class="text-block" style="{style}">{_markdown(p.text or "")}</section>'


def _grid(placements: list[Placement], by_placement: dict[int, list[CardResult]], dashboard: DashboardSpec,
          filter_values: dict[str, Any], windows: dict[Window, WindowDates], ctx: _Context, timings: bool) -> str:
    parts = []
    for p in placements:
        if p.text is not None:
            parts.append(_text_html(p))
        else:
            parts.append(_card_html(by_placement[id(p)], dashboard, filter_values, windows, ctx, timings))
    return f'<div class="grid">{"".join(parts)}</div>'


_SCRIPT = """\
(function () {
  var body = document.body;
  body.classList.add('js');
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role=tab]'));
  function show(key) {
    tabs.forEach(function (tab) {
      var on = tab.dataset.tab === key;
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      document.getElementById('tab-' + tab.dataset.tab).hidden = !on;
    });
    body.dataset.tab = key;
  }
  tabs.forEach(function (tab) {
    tab.addEventListener('click', function () { show(tab.dataset.tab); history.replaceState(null, '', '#tab-' + tab.dataset.tab); });
  });
  if (tabs.length) {
    var wanted = location.hash.replace('#tab-', '');
    show(tabs.some(function (t) { return t.dataset.tab === wanted; }) ? wanted : tabs[0].dataset.tab);
  }
  document.querySelectorAll('select[data-selector]').forEach(function (select) {
    var card = select.closest('section.card');
    function pick() {
      card.querySelectorAll('.option').forEach(function (o) { o.hidden = o.dataset.option !== select.value; });
      card.dataset.selected = select.options[select.selectedIndex].text;
    }
    select.closest('label').hidden = false;
    select.addEventListener('change', pick);
    pick();
  });
  body.dataset.ready = 'true';
})();
"""

_CSS = """\
:root{--bg:#f3f4f6;--card:#fff;--ink:#1f2933;--muted:#616e7c;--line:#e1e5ea;--grid:#edf0f3;--up:#1b7f4b;--down:#b42318;
 --accent:#3b6ea8}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
.page{max-width:1440px;margin:0 auto;padding:24px 24px 32px}
.page-header{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px}
h1{font-size:22px;line-height:1.25;margin:0;font-weight:650;letter-spacing:-.01em}
.page-header .description{margin:4px 0 0;color:var(--muted);max-width:100ch}
.notices{list-style:none;margin:12px 0 0;padding:0}
.notices li{background:#fffbeb;border:1px solid #fde68a;border-radius:6px;padding:6px 10px;margin-top:6px;font-size:13px}
.meta{display:flex;flex-wrap:wrap;gap:10px 32px;margin:14px 0 0;padding:12px 0 0;border-top:1px solid var(--grid)}
.meta dt{font-size:11px;text-transform:uppercase;letter-spacing:.07em;color:var(--muted)}
.meta dd{margin:1px 0 0;font-weight:500}.meta dd.stale{color:#a4262c}
.meta .unused{color:var(--muted);font-weight:400}
.tabs{display:none;gap:4px;margin:18px 0 0;border-bottom:1px solid var(--line)}
.js .tabs{display:flex}
.tabs button{font:inherit;font-weight:600;color:var(--muted);background:none;border:0;border-bottom:3px solid transparent;
 padding:8px 14px;cursor:pointer}
.tabs button[aria-selected=true]{color:var(--ink);border-bottom-color:var(--accent)}
.tab-title{font-size:17px;margin:22px 0 0}
.js .tab-title{display:none}
.grid{display:grid;grid-template-columns:repeat(24,minmax(0,1fr));grid-auto-rows:minmax(40px,auto);gap:14px;margin-top:18px}
.card,.text-block{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px 10px;
 display:flex;flex-direction:column;min-width:0;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.text-block{background:transparent;border:0;box-shadow:none;padding:4px 2px}
.text-block p{margin:0 0 6px}
.card header{display:flex;gap:10px;align-items:baseline;justify-content:space-between;flex-wrap:wrap}
.card h2{font-size:14px;font-weight:650;margin:0;line-height:1.3}
.card .desc{font-size:12.5px;color:var(--muted);margin:4px 0 0}
.card .window{font-size:12px;margin:4px 0 0;color:#334e68;font-weight:500}
.card .body{flex:1;display:flex;flex-direction:column;justify-content:center;min-height:0;margin-top:10px}
.tile-filters{font-size:11.5px;color:var(--muted);margin:8px 0 0}
.tile-filters .ignored{font-style:italic}
.definition{font-size:12px;color:var(--muted);margin-top:6px}
.definition summary{cursor:pointer;color:var(--accent)}
.definition dl{margin:6px 0 0}.definition dt{font-weight:600;color:var(--ink)}.definition dd{margin:0 0 6px}
.definition dd p{margin:2px 0}
.selector{font-size:12px;color:var(--muted)}
.selector select{font:inherit;margin-left:4px}
.option-title{font-size:12px;margin:6px 0 2px;color:var(--muted)}
.js .option-title{display:none}
.scalar .value{font-size:clamp(28px,3vw,42px);font-weight:650;letter-spacing:-.02em;line-height:1.1;
 font-variant-numeric:tabular-nums;color:#102a43}
.scalar .affix{font-size:.45em;font-weight:500;letter-spacing:0;color:var(--muted)}
.scalar .caption,.scalar .compare{font-size:12px;color:var(--muted);margin-top:4px}
.compare.up .change{color:var(--up)}.compare.down .change{color:var(--down)}
figure.chart{margin:0}
figure.chart svg{display:block;max-width:100%;height:auto}
.table-wrap{overflow:auto;max-height:420px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th{font-weight:600;text-align:left;color:var(--muted);border-bottom:1px solid var(--line);padding:5px 8px;
 position:sticky;top:0;background:var(--card)}
td{border-bottom:1px solid var(--grid);padding:5px 8px}
.num{text-align:right;font-variant-numeric:tabular-nums}
.rollup{font-size:12.5px}
.rollup .line{display:flex;gap:12px;padding:5px 8px 5px calc(8px + var(--depth,0) * 18px);border-bottom:1px solid var(--grid)}
.rollup .line .name{flex:1}.rollup .line .num{min-width:6em}
.rollup .head{font-weight:600;color:var(--muted);border-bottom:1px solid var(--line)}
.rollup .total{font-weight:650;border-top:1px solid var(--line)}
.rollup summary{cursor:pointer;list-style:none}
.rollup summary::before{content:"▸";width:1em;display:inline-block;color:var(--muted)}
.rollup details[open]>summary::before{content:"▾"}
.rollup summary::-webkit-details-marker{display:none}
.rollup .leaf .name{padding-left:1em}
.no-data{color:var(--muted);font-size:15px;text-align:center;padding:10px 0}
.note{font-size:11px;color:var(--muted);margin:6px 0 0}
footer{margin-top:22px;color:var(--muted);font-size:12px}
footer table{max-width:760px;background:var(--card)}
@media (max-width:900px){.page{padding:14px}.grid{grid-template-columns:1fr}
 .card,.text-block{grid-column:1 / -1 !important;grid-row:auto !important}}
@media print{body{background:#fff}.card,.page-header{box-shadow:none;break-inside:avoid}.tabs{display:none}
 .tab-panel[hidden]{display:block}.tab-title{display:block}}
"""


def _script_hash() -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()


def _filters_text(dashboard: DashboardSpec, filter_values: dict[str, Any], today: date) -> tuple[str, str]:
    """(applied filters, filters not set) as text; date filters also say the dates they mean."""
    applied, unused = [], []
    for f in dashboard.filters:
        value, is_default = filter_value(f, filter_values)
        if value is None:
            unused.append(f.name)
            continue
        applied.append(f"{f.name} = {_filter_text(f, value, today)}{' (default)' if is_default else ''}")
    return ("; ".join(applied) if applied else "none — all data"), ", ".join(unused)


def _timings_table(results: list[CardResult], chart_seconds: float, charts_drawn: int) -> str:
    rows = "".join(f'<tr data-card="{_e(r.key)}"><td>{_e(r.card.name)}{_e(f" [{r.option}]" if r.option else "")}</td>'
                   f'<td class="num">{len(r.rows)}</td><td class="num">{r.query_ms:.1f}</td></tr>' for r in results)
    total = sum(r.query_ms for r in results)
    return (f'<table class="timings"><caption>Query times</caption><thead><tr><th>Tile</th><th class="num">Rows</th>'
            f'<th class="num">ms</th></tr></thead><tbody>{rows}</tbody><tfoot><tr><td>All queries</td><td></td>'
            f'<td class="num">{total:.1f}</td></tr><tr><td>{charts_drawn} charts drawn</td><td></td>'
            f'<td class="num">{chart_seconds * 1000:.1f}</td></tr></tfoot></table>')


def render_page(dashboard: DashboardSpec, results: list[CardResult], as_of: datetime | None,
                filter_values: dict[str, Any], windows: dict[Window, WindowDates], *, timings: bool = False,
                notices: Sequence[str] = (), generated_at: datetime | None = None,
                stats: charts.RenderStats | None = None, published: str = "", freshness: str = "") -> str:
    """The page for results already run (see `build_report`)."""
    stats = stats if stats is not None else charts.RenderStats()
    tz_name = settings.reporting_timezone()
    today = as_of_date(as_of)
    as_of_text = formats.format_instant(as_of) if as_of else "unknown"
    ctx = _Context(today=today, as_of_text=as_of_text)
    by_placement: dict[int, list[CardResult]] = {}
    for r in results:
        by_placement.setdefault(id(r.placement), []).append(r)
    if dashboard.tabs:
        nav = "".join(f'<button type="button" role="tab" id="tab-button-{_e(t.key)}" data-tab="{_e(t.key)}" '
                      f'aria-controls="tab-{_e(t.key)}">{_e(t.name)}</button>' for t in dashboard.tabs)
        panels = "".join(
            f'<section class="tab-panel" role="tabpanel" id="tab-{_e(t.key)}" aria-labelledby="tab-button-{_e(t.key)}">'
            f'<h2 class="tab-title">{_e(t.name)}</h2>'
            f'{_grid(dashboard.placements(t.key), by_placement, dashboard, filter_values, windows, ctx, timings)}</section>'
            for t in dashboard.tabs)
        main = f'<nav class="tabs" role="tablist" aria-label="Dashboard tabs">{nav}</nav>{panels}'
    else:
        main = _grid(dashboard.placements(), by_placement, dashboard, filter_values, windows, ctx, timings)
    svgs = charts.render_svgs(ctx.specs, stats)
    for (chart_id, spec), svg in zip(ctx.specs, svgs):
        main = main.replace(f"<!--{chart_id}-->", f'<figure class="chart" id="{chart_id}">{svg}</figure>', 1)

    applied, unused = _filters_text(dashboard, filter_values, today)
    unused_html = f' <span class="unused">(not set: {_e(unused)})</span>' if unused else ""
    generated_at = generated_at or datetime.now(timezone.utc)
    source = (f"{dashboard.as_of.table}.{dashboard.as_of.column}" if dashboard.as_of
              else "the dashboard names no as-of source")
    description = f'<p class="description">{_e(dashboard.description)}</p>' if dashboard.description else ""
    notice_html = ('<ul class="notices" id="notices">' + "".join(f"<li>{_e(n)}</li>" for n in notices) + "</ul>"
                   if notices else "")
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{_script_hash()}'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    footer = (f"<footer>{_timings_table(results, stats.seconds, stats.charts)}</footer>" if timings else "")
    stale = ' class="stale"' if "WARNING" in freshness else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="lead-analytics orchestration.bi.html_report">'
        f"<title>{_e(dashboard.name)}</title><style>{_CSS}</style></head>"
        f'<body data-dashboard="{_e(dashboard.key)}"><div class="page">'
        f'<header class="page-header"><h1>{_e(dashboard.name)}</h1>{description}{notice_html}<dl class="meta">'
        f'<div><dt>As of</dt><dd id="as-of" title="read from {_e(source)}">{_e(as_of_text)}</dd></div>'
        + (f'<div><dt>Data</dt><dd id="publication">{_e(published)}</dd></div>' if published else "")
        + (f'<div><dt>Sources</dt><dd id="freshness"{stale}>{_e(freshness)}</dd></div>' if freshness else "") +
        f'<div><dt>Filters</dt><dd id="filters">{_e(applied)}{unused_html}</dd></div>'
        f'<div><dt>Time zone</dt><dd id="timezone">{_e(tz_name)}</dd></div>'
        f'<div><dt>Generated</dt><dd id="generated-at"><time datetime="{_e(generated_at.isoformat())}">'
        f"{_e(formats.format_instant(generated_at))}</time></dd></div></dl></header>"
        f"<main>{main}</main>{footer}"
        f"</div><script>{_SCRIPT}</script></body></html>\n"
    )


# ---------------------------------------------------------------- public API


def build_report(info: ConnectionInfo, cards: dict[str, CompiledCard], dashboard: DashboardSpec,
                 filters: dict[str, Any] | None = None, *, timings: bool = False, notices: Sequence[str] = (),
                 generated_at: datetime | None = None) -> Report:
    """Run the dashboard's cards and render its page. FilterError for bad filters, ReportError when a card
    fails or cannot be drawn; nothing is written here."""
    started = time.perf_counter()
    results, as_of, filter_values, windows = run_placements(info, cards, dashboard, None, filters)
    queried = time.perf_counter() - started
    stats = charts.RenderStats()
    page = render_page(dashboard, results, as_of, filter_values, windows, timings=timings, notices=notices,
                       generated_at=generated_at, stats=stats, published=publishing.publication_line(info),
                       freshness=source_freshness.dashboard_freshness(
                           info, {rel for r in results for rel in r.card.relations}, settings.reporting_timezone()))
    log.info("dashboard %s: %d queries in %.0f ms, %d charts in %.0f ms", dashboard.key, len(results),
             queried * 1000, stats.charts, stats.seconds * 1000)
    return Report(dashboard=dashboard, html=page, results=results, as_of=as_of, filters=filter_values,
                  filename=report_filename(dashboard, filter_values), query_seconds=queried,
                  chart_seconds=stats.seconds, charts=stats.charts)


def write_reports(info: ConnectionInfo, specs_dir: Path, out_dir: Path, filters: dict[str, Any] | None = None,
                  keys: Sequence[str] | None = None, *, timings: bool = False, notices: Sequence[str] = (),
                  ) -> list[tuple[Path, Report]]:
    """Render the dashboards of `specs_dir` (those in `keys`, default all) and, when every one rendered,
    write them to `out_dir`. Each dashboard takes the given filters it has; a slug none of them has, an
    unknown dashboard or a bad value raises FilterError before any page is written."""
    from orchestration.bi.compiler import compile_specs

    compiled = compile_specs(Path(specs_dir))
    unknown_keys = [k for k in keys or () if k not in compiled.dashboards]
    if unknown_keys:
        raise FilterError(f"no dashboard {', '.join(repr(k) for k in unknown_keys)} "
                          f"(dashboards: {', '.join(sorted(compiled.dashboards))})")
    selected = [compiled.dashboards[k] for k in (keys or sorted(compiled.dashboards))]
    filters = dict(filters or {})
    slugs = {f.slug for d in selected for f in d.filters}
    stray = [s for s in filters if s not in slugs]
    if stray:
        if len(selected) == 1:
            raise _unknown_filters(selected[0], stray)
        valid = "; ".join(f"{d.key}: {', '.join(f.slug for f in d.filters) or 'none'}" for d in selected)
        raise FilterError(f"no dashboard has filter {', '.join(repr(s) for s in stray)} (filters: {valid})")
    reports = []
    for dashboard in selected:
        own = {s: v for s, v in filters.items() if s in {f.slug for f in dashboard.filters}}
        reports.append(build_report(info, compiled.cards, dashboard, own, timings=timings, notices=notices))
    return [(report.write(out_dir), report) for report in reports]
