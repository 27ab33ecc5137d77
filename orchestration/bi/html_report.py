"""Render a Metabase dashboard spec (`metabase/dashboards/*.yml`) to ONE self-contained HTML file.

The page is built from the same `Dashboard`/`Card` objects the provisioner sends to Metabase, so
the HTML report and Metabase show the same questions. It needs nothing at view time: inline CSS,
inline SVG charts, one small inline script (hash-pinned by a Content-Security-Policy that also
blocks every network request), system fonts only.

Public API::

    render_dashboard(info, dashboard, cards, filter_values=None, as_of=None, generated_at=None) -> str
    build_dashboard(...)  -> RenderedDashboard   # the HTML plus each card's rows, query time and error
    write_dashboard(info, dashboard, cards, out_dir, filter_values=None, as_of=None) -> Path
    write_all(info, specs_dir, out_dir, filter_values=None) -> list[Path]

Queries: every dashcard's SQL is rendered with `card_values` + `render_sql` and run on one
connection inside one READ ONLY transaction, each card in its own savepoint (a failing card does
not abort the others), with a per-statement timeout. Each query is timed (execute + fetch, ms);
the times are on every card element (`data-query-ms`), in the footer table, in
`RenderedDashboard.timings_ms()` and logged at INFO.

Failures: a card whose SQL fails (or cannot be rendered) shows a one-line error in its tile and the
page is still produced. `render_dashboard`/`build_dashboard` never raise for a card failure (check
`RenderedDashboard.failures`); `write_dashboard` and `write_all` write the file(s) first and then
raise `DashboardRenderError` listing the failed cards (pass `strict=False` to only get the paths).
Unknown filter slugs raise `ValueError` before anything runs.

Rendering by `card.display` (first column = dimension, following numeric columns = series, at
most two; Metabase's `graph.dimensions`/`graph.metrics` settings win when they name result
columns):

* `scalar` — the first column of the first row (or `scalar.field`), as a big number;
* `smartscalar` — like Metabase: when the first column is a date and there are >= 2 rows, the last
  row's value and the change against the row before; otherwise like `scalar`;
* `bar` (vertical) / `row` (horizontal) — one `<rect class="bar">` per row and series, its value
  written next to it (omitted for zero bars on column charts with more than DENSE_BARS bars; the
  bar's tooltip always has it);
* `line` / `area` — one `<polyline class="line">` per series, one `<circle class="point">` per
  row and series;
* `pie` — a donut, one `<path class="slice">` per row (first series, or `pie.dimension`/`pie.metric`),
  legend with shares;
* `table` and everything else (and charts with no numeric column) — an HTML table
  (at most MAX_ROWS rows are fetched; the tile says when more exist).

An empty result shows "No data".

Number formatting (kept simple on purpose): integers and integral decimals get thousands
separators (`1,234`); other numbers two decimals (`0.67`); a column is a *percentage* (value × 100,
one decimal, `31.6%`) when its name ends with `_rate` or when the card's visualization settings say
`number_style: percent` for it (Metabase's `column_settings: {'["name","col"]': {...}}`, which may
also set `decimals`, `prefix`, `suffix`). Scalars also take `scalar.prefix`/`scalar.suffix`.
Timestamps are shown in the reporting time zone (`settings.reporting_timezone()`).

As-of: the caller's `as_of` text is printed as given. Without it, the page states the as-of moment
the marts were built for (`marts.rpt_bot_leads__kpis.as_of_at`, in the reporting time zone, labelled
as coming from there); if that cannot be read the page says the as-of moment is unknown, rather
than guessing.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from orchestration import settings, warehouse
from orchestration.bi.specs import Card, Dashboard, DashboardCard, RenderError, card_values, load_specs, render_sql
from orchestration.warehouse import ConnectionInfo

log = logging.getLogger(__name__)

MAX_ROWS = 500                 # rows fetched per card (charts draw all of them, tables show them all)
STATEMENT_TIMEOUT = "60s"      # per card query
AS_OF_SQL = "select as_of_at from marts.rpt_bot_leads__kpis limit 1"
AS_OF_SOURCE = "marts.rpt_bot_leads__kpis.as_of_at"

GRID_UNIT = 56                 # px per grid column/row at a 1400 px window; SVG viewBoxes use it too
PALETTE = ("#3b6ea8", "#e39c39", "#5a9e6f", "#c0504d", "#8064a2", "#4aa3b5", "#9c8a5a", "#7b8794")
DENSE_BARS = 12               # column charts with more bars than this get no value label on zero bars
CHAR_W = 6.3                   # approximate width of one 11 px character, for label layout


# ---------------------------------------------------------------- results


@dataclass
class CardResult:
    """One dashcard after its query ran (or failed)."""

    dashcard: DashboardCard
    card: Card | None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    query_ms: float | None = None
    error: str | None = None
    truncated: bool = False
    params: dict[str, Any] = field(default_factory=dict)  # the values the SQL ran with

    @property
    def key(self) -> str:
        return self.dashcard.card

    @property
    def name(self) -> str:
        return self.card.name if self.card else self.key

    @property
    def status(self) -> str:
        return "error" if self.error else ("empty" if not self.rows else "ok")


@dataclass
class RenderedDashboard:
    """A rendered page and what went into it."""

    dashboard: Dashboard
    html: str
    results: list[CardResult]
    as_of: str

    @property
    def failures(self) -> list[CardResult]:
        return [r for r in self.results if r.error]

    def timings_ms(self) -> dict[str, float | None]:
        return {r.key: r.query_ms for r in self.results}

    def summary_lines(self) -> list[str]:
        """One line per card: key, rows, query time or error (for a closing note)."""
        lines = []
        for r in self.results:
            ms = f"{r.query_ms:.1f} ms" if r.query_ms is not None else "not run"
            what = f"ERROR {r.error}" if r.error else f"{len(r.rows)} row(s)"
            lines.append(f"{r.key}: {what}, {ms}")
        return lines

    def write(self, out_dir: Path) -> Path:
        """Write `<out_dir>/<dashboard key>.html` (creating the directory); returns the path."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.dashboard.key}.html"
        path.write_text(self.html, encoding="utf-8")
        return path


class DashboardRenderError(RuntimeError):
    """Raised by write_dashboard/write_all after writing, when cards failed; the pages exist."""

    def __init__(self, failures: list[tuple[Path, CardResult]]):
        self.failures = failures
        self.paths = sorted({p for p, _ in failures})
        detail = "; ".join(f"{p.name}: {r.key}: {r.error}" for p, r in failures)
        super().__init__(f"{len(failures)} dashboard card(s) failed ({detail})")


# ---------------------------------------------------------------- public API


def render_dashboard(info: ConnectionInfo, dashboard: Dashboard, cards: dict[str, Card],
                     filter_values: dict[str, Any] | None = None, as_of: str | None = None,
                     generated_at: datetime | None = None) -> str:
    """The dashboard as one self-contained HTML page (card failures are shown, not raised)."""
    return build_dashboard(info, dashboard, cards, filter_values, as_of, generated_at).html


def build_dashboard(info: ConnectionInfo, dashboard: Dashboard, cards: dict[str, Card],
                    filter_values: dict[str, Any] | None = None, as_of: str | None = None,
                    generated_at: datetime | None = None) -> RenderedDashboard:
    """Run every card's query and render the page; the result keeps rows, times and errors."""
    filter_values = dict(filter_values or {})
    _check_filter_slugs(dashboard, filter_values)
    results, recorded_as_of = run_queries(info, dashboard, cards, filter_values)
    as_of_text = as_of if as_of else _as_of_from_marts(recorded_as_of)
    page = _page(dashboard, results, filter_values, as_of_text, generated_at or datetime.now(timezone.utc))
    return RenderedDashboard(dashboard=dashboard, html=page, results=results, as_of=as_of_text)


def write_dashboard(info: ConnectionInfo, dashboard: Dashboard, cards: dict[str, Card], out_dir: Path,
                    filter_values: dict[str, Any] | None = None, as_of: str | None = None,
                    strict: bool = True) -> Path:
    """Write `<out_dir>/<dashboard.key>.html` and return its path.

    With strict (the default) a failed card raises DashboardRenderError *after* the file is written.
    """
    rendered = build_dashboard(info, dashboard, cards, filter_values, as_of)
    path = rendered.write(out_dir)
    if strict and rendered.failures:
        raise DashboardRenderError([(path, r) for r in rendered.failures])
    return path


def write_all(info: ConnectionInfo, specs_dir: Path, out_dir: Path,
              filter_values: dict[str, Any] | None = None, as_of: str | None = None,
              strict: bool = True, keys: Sequence[str] | None = None) -> list[Path]:
    """Write every dashboard of `<specs_dir>/dashboards` (or those in `keys`) to `<out_dir>/<key>.html`.

    `filter_values` are by filter slug; each dashboard gets the ones it has (a slug no dashboard
    has raises ValueError). All pages are written before DashboardRenderError is raised.
    """
    written = build_all(info, specs_dir, out_dir, filter_values, as_of, keys)
    failures = [(path, r) for path, rendered in written for r in rendered.failures]
    if strict and failures:
        raise DashboardRenderError(failures)
    return [path for path, _ in written]


def build_all(info: ConnectionInfo, specs_dir: Path, out_dir: Path,
              filter_values: dict[str, Any] | None = None, as_of: str | None = None,
              keys: Sequence[str] | None = None) -> list[tuple[Path, RenderedDashboard]]:
    """Render and write each dashboard (sorted by key; only `keys` when given); never raises for a
    failed card: the caller reads `RenderedDashboard.failures` and `.timings_ms()`."""
    specs = load_specs(Path(specs_dir))
    filter_values = dict(filter_values or {})
    unknown_keys = sorted(set(keys or ()) - set(specs.dashboards))
    if unknown_keys:
        raise ValueError(f"no dashboard {', '.join(unknown_keys)} (dashboards: {', '.join(sorted(specs.dashboards))})")
    known = {f.slug for d in specs.dashboards.values() for f in d.filters}
    unknown = sorted(set(filter_values) - known)
    if unknown:
        raise ValueError(f"no dashboard has filter(s) {', '.join(unknown)}")
    written: list[tuple[Path, RenderedDashboard]] = []
    for key, dashboard in sorted(specs.dashboards.items()):
        if keys and key not in keys:
            continue
        own = {slug: v for slug, v in filter_values.items() if slug in {f.slug for f in dashboard.filters}}
        rendered = build_dashboard(info, dashboard, specs.cards, own, as_of)
        written.append((rendered.write(out_dir), rendered))
    return written


# ---------------------------------------------------------------- queries


def _check_filter_slugs(dashboard: Dashboard, filter_values: dict[str, Any]) -> None:
    known = [f.slug for f in dashboard.filters]
    unknown = sorted(set(filter_values) - set(known))
    if unknown:
        raise ValueError(f"dashboard {dashboard.key!r} has no filter(s) {', '.join(unknown)} "
                         f"(its filters: {', '.join(known) or 'none'})")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_queries(info: ConnectionInfo, dashboard: Dashboard, cards: dict[str, Card],
                filter_values: dict[str, Any]) -> tuple[list[CardResult], datetime | None]:
    """Run every dashcard (grid order) in one read-only transaction; also read the marts' as-of."""
    import psycopg

    ordered = sorted(dashboard.cards, key=lambda dc: (dc.row, dc.col))
    results: list[CardResult] = []
    recorded_as_of: datetime | None = None
    with warehouse.connect(info) as conn:
        conn.read_only = True
        with conn.transaction():
            conn.execute("select set_config('statement_timeout', %s, true)", [STATEMENT_TIMEOUT])
            for dashcard in ordered:
                result = _run_card(conn, dashboard, dashcard, cards.get(dashcard.card), filter_values)
                log.info("dashboard %s, card %s: %s", dashboard.key, result.key,
                         result.error or f"{len(result.rows)} row(s) in {result.query_ms:.1f} ms")
                results.append(result)
            try:
                with conn.transaction():
                    row = conn.execute(AS_OF_SQL).fetchone()
                    recorded_as_of = row[0] if row else None
            except psycopg.Error:
                recorded_as_of = None
    return results, recorded_as_of


def _run_card(conn, dashboard: Dashboard, dashcard: DashboardCard, card: Card | None,
              filter_values: dict[str, Any]) -> CardResult:
    import psycopg

    result = CardResult(dashcard=dashcard, card=card)
    if card is None:
        result.error = f"unknown card {dashcard.card!r}"
        return result
    try:
        sql, params = render_sql(card, card_values(dashboard, dashcard, filter_values))
    except (RenderError, KeyError) as exc:
        result.error = _one_line(exc)
        return result
    result.params = params
    started = time.perf_counter()
    try:
        with conn.transaction():  # a savepoint: a failing card leaves the others running
            cursor = conn.execute(sql, params)
            if cursor.description is None:
                raise RenderError("the query returned no result set")
            result.columns = [d.name for d in cursor.description]
            rows = cursor.fetchmany(MAX_ROWS + 1)
    except (psycopg.Error, RenderError) as exc:
        result.error = _one_line(exc)
        rows = []
    result.query_ms = (time.perf_counter() - started) * 1000
    result.truncated = len(rows) > MAX_ROWS
    result.rows = [tuple(r) for r in rows[:MAX_ROWS]]
    return result


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.reporting_timezone())


def _as_of_from_marts(recorded: datetime | None) -> str:
    if recorded is None:
        return f"unknown (not given, and {AS_OF_SOURCE} could not be read)"
    return f"{_format_datetime(recorded)} (from {AS_OF_SOURCE})"


# ---------------------------------------------------------------- formatting


@dataclass(frozen=True)
class ColumnFormat:
    percent: bool = False
    decimals: int | None = None
    prefix: str = ""
    suffix: str = ""


def _column_settings(card: Card, column: str) -> dict:
    """Metabase `column_settings` entry of a column (keys like '["name","col"]'), or {}."""
    for key, value in (card.visualization_settings.get("column_settings") or {}).items():
        try:
            ref = json.loads(key) if isinstance(key, str) else list(key)
        except ValueError:
            continue
        if isinstance(ref, list) and len(ref) >= 2 and ref[0] == "name" and ref[1] == column:
            return value if isinstance(value, dict) else {}
    return {}


def column_format(card: Card | None, column: str, scalar: bool = False) -> ColumnFormat:
    """How a column's numbers are shown: percent by `_rate` suffix or `number_style: percent`."""
    cs = _column_settings(card, column) if card else {}
    vs = card.visualization_settings if card else {}
    decimals = cs.get("decimals")
    return ColumnFormat(
        percent=column.endswith("_rate") or cs.get("number_style") == "percent",
        decimals=decimals if isinstance(decimals, int) and not isinstance(decimals, bool) else None,
        prefix=str(cs.get("prefix") or (vs.get("scalar.prefix") if scalar else "") or ""),
        suffix=str(cs.get("suffix") or (vs.get("scalar.suffix") if scalar else "") or ""),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _format_datetime(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(_tz())
        return value.strftime("%Y-%m-%d %H:%M %Z")
    return value.strftime("%Y-%m-%d %H:%M")


def format_parts(value: Any, fmt: ColumnFormat = ColumnFormat()) -> tuple[str, str, str]:
    """(prefix, value, suffix) as text; prefix and suffix are set for numbers only."""
    if value is None:
        return "", "—", ""
    if isinstance(value, bool):
        return "", ("Yes" if value else "No"), ""
    if _is_number(value):
        number = Decimal(str(value))
        if not number.is_finite():
            return "", str(value), ""
        if fmt.percent:
            text = f"{number * 100:,.{1 if fmt.decimals is None else fmt.decimals}f}%"
        elif fmt.decimals is not None:
            text = f"{number:,.{fmt.decimals}f}"
        elif number == number.to_integral_value():
            text = f"{int(number):,}"
        else:
            text = f"{number:,.2f}"
        return fmt.prefix, text, fmt.suffix
    if isinstance(value, datetime):
        return "", _format_datetime(value), ""
    if isinstance(value, date):
        return "", value.isoformat(), ""
    return "", str(value), ""


def format_value(value: Any, fmt: ColumnFormat = ColumnFormat()) -> str:
    """A cell or tile value as text (see the module docstring for the rules)."""
    return "".join(format_parts(value, fmt))


def _label(value: Any) -> str:
    """A dimension value as a chart label."""
    return "(none)" if value is None else format_value(value)


def humanize(column: str) -> str:
    """`leads_created` → `Leads created`."""
    text = column.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else column


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(x: float) -> str:
    return f"{x:.1f}"


def _fitted(text: str, max_chars: int) -> str:
    """Escaped label cut to max_chars with an ellipsis; the full text becomes a tooltip."""
    max_chars = max(3, max_chars)
    if len(text) <= max_chars:
        return _e(text)
    return f"{_e(text[: max_chars - 1])}…<title>{_e(text)}</title>"


# ---------------------------------------------------------------- card bodies


def _card_body(result: CardResult, width: float, height: float) -> str:
    """Inner HTML of a tile: error, no data, scalar, chart or table."""
    if result.error:
        return f'<div class="error" role="alert">Query failed: {_e(result.error)}</div>'
    if not result.rows:
        return '<div class="no-data">No data</div>'
    display = result.card.display if result.card else "table"
    if display in ("scalar", "smartscalar"):
        return _scalar(result, smart=display == "smartscalar")
    chart = _chart_spec(result)
    if chart is not None:
        dim, series = chart
        if display in ("bar", "row"):
            return _bar_chart(result, dim, series, width, height, horizontal=display == "row")
        if display in ("line", "area"):
            return _line_chart(result, dim, series, width, height, area=display == "area")
        if display == "pie":
            return _pie_chart(result, dim, series[0], width, height)
    return _table(result)


def _scalar(result: CardResult, smart: bool) -> str:
    card, columns, rows = result.card, result.columns, result.rows
    field_name = card.visualization_settings.get("scalar.field") if card else None
    index = columns.index(field_name) if field_name in columns else 0
    if smart and len(rows) >= 2 and len(columns) >= 2 and isinstance(rows[-1][0], (date, datetime)):
        index = next((i for i in range(1, len(columns)) if _is_number(rows[-1][i])), 1)
        value, previous = rows[-1][index], rows[-2][index]
        fmt = column_format(card, columns[index], scalar=True)
        compare = (f'<div class="compare">vs {_e(_label(rows[-2][0]))}: {_e(format_value(previous, fmt))}'
                   f'{_e(_change(value, previous))}</div>')
        caption = f'<div class="caption">{_e(_label(rows[-1][0]))}</div>'
    else:
        value = rows[0][index]
        fmt = column_format(card, columns[index], scalar=True)
        compare, caption = "", ""
    prefix, text, suffix = format_parts(value, fmt)
    prefix = f'<span class="affix">{_e(prefix)}</span>' if prefix else ""
    suffix = f'<span class="affix">{_e(suffix)}</span>' if suffix else ""
    return (f'<div class="scalar"><div class="value" data-column="{_e(columns[index])}">'
            f'{prefix}{_e(text)}{suffix}</div>{caption}{compare}</div>')


def _change(value: Any, previous: Any) -> str:
    if not (_is_number(value) and _is_number(previous)) or previous == 0:
        return ""
    change = (Decimal(str(value)) - Decimal(str(previous))) / abs(Decimal(str(previous)))
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "")
    return f" ({arrow}{abs(change) * 100:,.1f}%)"


def _as_list(value: Any) -> list:
    return [] if value is None else (list(value) if isinstance(value, (list, tuple)) else [value])


def _numeric_column(rows: Sequence[tuple], index: int) -> bool:
    values = [r[index] for r in rows if r[index] is not None]
    return bool(values) and all(_is_number(v) for v in values)


def _chart_spec(result: CardResult) -> tuple[int, list[int]] | None:
    """(dimension column, series columns) or None when the rows cannot be charted."""
    columns, rows = result.columns, result.rows
    vs = result.card.visualization_settings if result.card else {}
    pie = result.card is not None and result.card.display == "pie"
    dims = [c for c in _as_list(vs.get("pie.dimension" if pie else "graph.dimensions")) if c in columns]
    metrics = [c for c in _as_list(vs.get("pie.metric" if pie else "graph.metrics")) if c in columns]
    dim = columns.index(dims[0]) if dims else 0
    if metrics:
        series = [columns.index(m) for m in metrics]
    else:
        series = [i for i in range(len(columns)) if i != dim]
    series = [i for i in series if i != dim and _numeric_column(rows, i)][:2]
    return (dim, series) if series else None


def _nice_ticks(lo: float, hi: float, count: int = 4, integral: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 × 10^k; whole steps for counts)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)
    if integral:
        step = max(1.0, step if float(step).is_integer() else math.ceil(step))
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    return [start + i * step for i in range(int(round((end - start) / step)) + 1)]


def _tick_label(value: float, step: float, fmt: ColumnFormat) -> str:
    if fmt.percent:
        decimals = max(0, -math.floor(math.log10(step * 100))) if step * 100 < 1 else 0
        return f"{value * 100:,.{decimals}f}%"
    decimals = 0 if float(step).is_integer() else max(0, -math.floor(math.log10(step)) + 1)
    return f"{value:,.{decimals}f}"


def _integral(rows: Sequence[tuple], series: list[int]) -> bool:
    """Whether every value of the series is a whole number (counts get whole-number ticks)."""
    return all(r[s] is None or Decimal(str(r[s])) == Decimal(str(r[s])).to_integral_value()
               for r in rows for s in series)


def _float(value: Any) -> float:
    return float(value) if _is_number(value) else 0.0


def _legend(result: CardResult, series: list[int]) -> str:
    if len(series) < 2:
        return ""
    items = "".join(f'<li><span class="swatch" style="background:{PALETTE[i]}"></span>'
                    f'{_e(humanize(result.columns[c]))}</li>' for i, c in enumerate(series))
    return f'<ul class="legend">{items}</ul>'


def _svg_open(kind: str, width: float, height: float, label: str) -> str:
    return (f'<svg class="chart chart-{kind}" viewBox="0 0 {_n(width)} {_n(height)}" role="img" '
            f'aria-label="{_e(label)}" preserveAspectRatio="xMidYMid meet">')


def _bar_chart(result: CardResult, dim: int, series: list[int], width: float, height: float,
               horizontal: bool) -> str:
    rows = result.rows
    values = [_float(r[s]) for r in rows for s in series]
    fmts = [column_format(result.card, result.columns[s]) for s in series]
    ticks = _nice_ticks(min(0.0, *values), max(0.0, *values), integral=_integral(rows, series))
    lo, hi = ticks[0], ticks[-1]
    labels = [_label(r[dim]) for r in rows]
    parts: list[str] = []
    if horizontal:
        label_w = min(width * 0.35, max(len(t) for t in labels) * CHAR_W + 10)
        height = max(height, len(rows) * 14 * len(series) + 30)
        left, right, top, bottom = label_w, 46, 4, 20
        plot_w, plot_h = width - left - right, height - top - bottom
        scale = lambda v: left + (v - lo) / (hi - lo) * plot_w  # noqa: E731
        for t in ticks:
            parts.append(f'<line class="grid" x1="{_n(scale(t))}" y1="{top}" x2="{_n(scale(t))}" y2="{_n(top + plot_h)}"/>'
                         f'<text class="tick" x="{_n(scale(t))}" y="{_n(height - 4)}" text-anchor="middle">'
                         f'{_e(_tick_label(t, ticks[1] - ticks[0], fmts[0]))}</text>')
        band = plot_h / len(rows)
        bar_h = min(28.0, band * 0.72 / len(series))
        for i, row in enumerate(rows):
            y0 = top + i * band + (band - bar_h * len(series)) / 2
            parts.append(f'<text class="label" x="{_n(left - 6)}" y="{_n(top + i * band + band / 2 + 4)}" '
                         f'text-anchor="end">{_fitted(labels[i], int(label_w / CHAR_W) - 1)}</text>')
            for j, s in enumerate(series):
                v = _float(row[s])
                x0, x1 = sorted((scale(0), scale(v)))
                y = y0 + j * bar_h
                text = format_value(row[s], fmts[j])
                parts.append(f'<rect class="bar" data-series="{_e(result.columns[s])}" x="{_n(x0)}" y="{_n(y)}" '
                             f'width="{_n(max(x1 - x0, 0.5))}" height="{_n(bar_h - 1)}" rx="2" fill="{PALETTE[j]}">'
                             f'<title>{_e(labels[i])} · {_e(humanize(result.columns[s]))}: {_e(text)}</title></rect>'
                             f'<text class="value" x="{_n(x1 + 4)}" y="{_n(y + bar_h / 2 + 3.5)}">{_e(text)}</text>')
    else:
        band_w = (width - 50) / len(rows)
        longest = max(len(t) for t in labels)
        rotate = longest * CHAR_W > band_w - 4
        bottom = min(90.0, 16 + longest * CHAR_W * 0.72) if rotate else 22
        left = max(len(_tick_label(t, ticks[1] - ticks[0], fmts[0])) for t in ticks) * CHAR_W + 10
        right, top = 6, 16
        plot_w, plot_h = width - left - right, height - top - bottom
        scale = lambda v: top + plot_h - (v - lo) / (hi - lo) * plot_h  # noqa: E731
        for t in ticks:
            parts.append(f'<line class="grid" x1="{_n(left)}" y1="{_n(scale(t))}" x2="{_n(width - right)}" y2="{_n(scale(t))}"/>'
                         f'<text class="tick" x="{_n(left - 6)}" y="{_n(scale(t) + 3.5)}" text-anchor="end">'
                         f'{_e(_tick_label(t, ticks[1] - ticks[0], fmts[0]))}</text>')
        band = plot_w / len(rows)
        bar_w = min(56.0, band * 0.7 / len(series))
        for i, row in enumerate(rows):
            cx = left + i * band + band / 2
            if rotate:
                parts.append(f'<text class="label" x="{_n(cx)}" y="{_n(top + plot_h + 12)}" text-anchor="end" '
                             f'transform="rotate(-40 {_n(cx)} {_n(top + plot_h + 12)})">{_fitted(labels[i], 16)}</text>')
            else:
                parts.append(f'<text class="label" x="{_n(cx)}" y="{_n(top + plot_h + 15)}" text-anchor="middle">'
                             f'{_e(labels[i])}</text>')
            x_start = cx - bar_w * len(series) / 2
            for j, s in enumerate(series):
                v = _float(row[s])
                y0, y1 = sorted((scale(0), scale(v)))
                x = x_start + j * bar_w
                text = format_value(row[s], fmts[j])
                parts.append(f'<rect class="bar" data-series="{_e(result.columns[s])}" x="{_n(x + 0.5)}" y="{_n(y0)}" '
                             f'width="{_n(bar_w - 1)}" height="{_n(max(y1 - y0, 0.5))}" rx="2" fill="{PALETTE[j]}">'
                             f'<title>{_e(labels[i])} · {_e(humanize(result.columns[s]))}: {_e(text)}</title></rect>')
                if v != 0 or len(rows) * len(series) <= DENSE_BARS:  # dense charts: no "0" labels
                    parts.append(f'<text class="value" x="{_n(x + bar_w / 2)}" y="{_n(y0 - 4)}" '
                                 f'text-anchor="middle">{_e(text)}</text>')
        parts.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(scale(0))}" x2="{_n(width - right)}" y2="{_n(scale(0))}"/>')
    kind = "row" if horizontal else "bar"
    svg = _svg_open(kind, width, height, f"{result.name}: {kind} chart") + "".join(parts) + "</svg>"
    return svg + _legend(result, series)


def _line_chart(result: CardResult, dim: int, series: list[int], width: float, height: float,
                area: bool) -> str:
    rows = result.rows
    values = [_float(r[s]) for r in rows for s in series if r[s] is not None] or [0.0]
    fmts = [column_format(result.card, result.columns[s]) for s in series]
    ticks = _nice_ticks(min(0.0, *values), max(values), integral=_integral(rows, series))
    lo, hi = ticks[0], ticks[-1]
    left = max(len(_tick_label(t, ticks[1] - ticks[0], fmts[0])) for t in ticks) * CHAR_W + 10
    labels = [_label(r[dim]) for r in rows]
    pad = min(max(len(t) for t in labels) * CHAR_W / 2 + 4, (width - left) / 6)  # room for edge labels
    right, top, bottom = 8, 14, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    inner = plot_w - 2 * pad
    x_of = ((lambda i: left + plot_w / 2) if len(rows) == 1
            else (lambda i: left + pad + i * inner / (len(rows) - 1)))
    y_of = lambda v: top + plot_h - (v - lo) / (hi - lo) * plot_h  # noqa: E731
    parts: list[str] = []
    for t in ticks:
        parts.append(f'<line class="grid" x1="{_n(left)}" y1="{_n(y_of(t))}" x2="{_n(width - right)}" y2="{_n(y_of(t))}"/>'
                     f'<text class="tick" x="{_n(left - 6)}" y="{_n(y_of(t) + 3.5)}" text-anchor="end">'
                     f'{_e(_tick_label(t, ticks[1] - ticks[0], fmts[0]))}</text>')
    max_labels = max(1, int(plot_w / (max(len(t) for t in labels) * CHAR_W + 12)))
    every = math.ceil(len(rows) / max_labels)
    for i, text in enumerate(labels):
        if i % every == 0 or i == len(rows) - 1 and (len(rows) - 1) % every >= every / 2:
            parts.append(f'<text class="label" x="{_n(x_of(i))}" y="{_n(height - 6)}" text-anchor="middle">{_e(text)}</text>')
    for j, s in enumerate(series):
        points = [(x_of(i), y_of(_float(r[s]))) for i, r in enumerate(rows) if r[s] is not None]
        coords = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        if area and points:
            base = y_of(max(lo, 0.0))
            parts.append(f'<path class="area" d="M{_n(points[0][0])},{_n(base)} L{coords.replace(" ", " L")} '
                         f'L{_n(points[-1][0])},{_n(base)} Z" fill="{PALETTE[j]}" fill-opacity="0.14"/>')
        parts.append(f'<polyline class="line" data-series="{_e(result.columns[s])}" points="{coords}" '
                     f'fill="none" stroke="{PALETTE[j]}" stroke-width="2.2" stroke-linejoin="round"/>')
        for i, r in enumerate(rows):
            if r[s] is None:
                continue
            text = format_value(r[s], fmts[j])
            parts.append(f'<circle class="point" data-series="{_e(result.columns[s])}" cx="{_n(x_of(i))}" '
                         f'cy="{_n(y_of(_float(r[s])))}" r="3.2" fill="#fff" stroke="{PALETTE[j]}" stroke-width="2">'
                         f'<title>{_e(labels[i])} · {_e(humanize(result.columns[s]))}: {_e(text)}</title></circle>')
    parts.append(f'<line class="axis" x1="{_n(left)}" y1="{_n(y_of(max(lo, 0.0)))}" x2="{_n(width - right)}" '
                 f'y2="{_n(y_of(max(lo, 0.0)))}"/>')
    kind = "area" if area else "line"
    svg = _svg_open(kind, width, height, f"{result.name}: {kind} chart") + "".join(parts) + "</svg>"
    return svg + _legend(result, series)


def _slice_path(cx: float, cy: float, r_out: float, r_in: float, a0: float, a1: float) -> str:
    """A donut segment from angle a0 to a1 (radians, 0 = 12 o'clock, clockwise)."""
    def point(angle: float, r: float) -> str:
        return f"{_n(cx + r * math.sin(angle))},{_n(cy - r * math.cos(angle))}"

    if a1 - a0 <= 1e-9:
        return f"M{_n(cx)},{_n(cy)}"
    if a1 - a0 >= 2 * math.pi - 1e-6:  # a full ring: two half arcs each way
        return (f"M{point(0, r_out)} A{_n(r_out)},{_n(r_out)} 0 1 1 {point(math.pi, r_out)} "
                f"A{_n(r_out)},{_n(r_out)} 0 1 1 {point(0, r_out)} Z "
                f"M{point(0, r_in)} A{_n(r_in)},{_n(r_in)} 0 1 0 {point(math.pi, r_in)} "
                f"A{_n(r_in)},{_n(r_in)} 0 1 0 {point(0, r_in)} Z")
    large = 1 if a1 - a0 > math.pi else 0
    return (f"M{point(a0, r_out)} A{_n(r_out)},{_n(r_out)} 0 {large} 1 {point(a1, r_out)} "
            f"L{point(a1, r_in)} A{_n(r_in)},{_n(r_in)} 0 {large} 0 {point(a0, r_in)} Z")


def _pie_chart(result: CardResult, dim: int, s: int, width: float, height: float) -> str:
    rows = result.rows
    fmt = column_format(result.card, result.columns[s])
    values = [max(_float(r[s]), 0.0) for r in rows]
    total = sum(values)
    if total <= 0:
        return '<div class="no-data">No data (all values are zero)</div>'
    size = min(height, width * 0.5, 220.0)
    r_out, r_in = size / 2 - 4, size / 2 * 0.58
    cx = cy = size / 2
    parts, legend, angle = [], [], 0.0
    for i, (row, v) in enumerate(zip(rows, values)):
        sweep = v / total * 2 * math.pi
        label, text, colour = _label(row[dim]), format_value(row[s], fmt), PALETTE[i % len(PALETTE)]
        share = f"{v / total * 100:.1f}%"
        parts.append(f'<path class="slice" d="{_slice_path(cx, cy, r_out, r_in, angle, angle + sweep)}" '
                     f'fill="{colour}" fill-rule="evenodd"><title>{_e(label)}: {_e(text)} ({share})</title></path>')
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span><span class="name">{_e(label)}</span>'
                      f'<span class="num">{_e(text)}</span><span class="share">{share}</span></li>')
        angle += sweep
    parts.append(f'<text class="total" x="{_n(cx)}" y="{_n(cy + 2)}" text-anchor="middle">'
                 f'{_e(format_value(total, fmt))}</text>'
                 f'<text class="tick" x="{_n(cx)}" y="{_n(cy + 17)}" text-anchor="middle">total</text>')
    svg = _svg_open("pie", size, size, f"{result.name}: pie chart") + "".join(parts) + "</svg>"
    return f'<div class="pie">{svg}<ul class="legend legend-pie">{"".join(legend)}</ul></div>'


def _table(result: CardResult) -> str:
    numeric = [_numeric_column(result.rows, i) for i in range(len(result.columns))]
    fmts = [column_format(result.card, c) for c in result.columns]
    head = "".join(f'<th{" class=num" if numeric[i] else ""}>{_e(humanize(c))}</th>'
                   for i, c in enumerate(result.columns))
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if numeric[i] else ""}>{_e(format_value(v, fmts[i]))}</td>'
                         for i, v in enumerate(row)) + "</tr>"
        for row in result.rows)
    note = (f'<p class="note">Showing the first {MAX_ROWS:,} rows; the query returned more.</p>'
            if result.truncated else "")
    return f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}'


# ---------------------------------------------------------------- page


def _card_section(result: CardResult) -> str:
    dc, card = result.dashcard, result.card
    width = max(200.0, dc.size_x * GRID_UNIT - 34)
    height = max(120.0, dc.size_y * GRID_UNIT - 92)
    display = card.display if card else "unknown"
    kpis = " ".join(card.kpis) if card else ""
    ms = f"{result.query_ms:.1f}" if result.query_ms is not None else ""
    style = f"grid-column:{dc.col + 1} / span {dc.size_x};grid-row:{dc.row + 1} / span {dc.size_y}"
    description = card.description if card else ""
    desc = f'<p class="desc" title="{_e(description)}">{_e(description)}</p>' if description else ""
    params = ""
    if result.params and card:
        names = {p.name: p.display_name for p in card.parameters}
        params = '<p class="params">' + " · ".join(
            f"{_e(names.get(k, k))}: {_e(format_value(v))}" for k, v in result.params.items()) + "</p>"
    return (f'<section class="card card-{_e(display)}" data-card="{_e(result.key)}" data-display="{_e(display)}" '
            f'data-kpis="{_e(kpis)}" data-query-ms="{ms}" data-rows="{len(result.rows)}" '
            f'data-status="{result.status}" style="{style}">'
            f'<header><h2>{_e(result.name)}</h2>{desc}</header>'
            f'<div class="body">{_card_body(result, width, height)}</div>{params}</section>')


def _filters_text(dashboard: Dashboard, filter_values: dict[str, Any]) -> tuple[str, str]:
    """(applied filters, filters not applied) as text."""
    applied, unused = [], []
    for f in dashboard.filters:
        value, note = filter_values.get(f.slug), ""
        if value is None or value == "" or value == [] or value == ():
            value, note = f.default, " (default)"
        if value is None or value == "" or value == [] or value == ():
            unused.append(f.name)
            continue
        if isinstance(value, (list, tuple)):
            value = ", ".join(format_value(v) for v in value)
        applied.append(f"{f.name} = {format_value(value)}{note}")
    return ("; ".join(applied) if applied else "none — all data"), ", ".join(unused)


_SCRIPT = """\
window.addEventListener('load', function () {
  var ok = 0, failed = [];
  document.querySelectorAll('section.card').forEach(function (card) {
    var svg = card.querySelector('svg.chart');
    var box = (svg || card).getBoundingClientRect();
    if (box.width > 0 && box.height > 0) { ok += 1; } else { failed.push(card.dataset.card); }
  });
  document.body.dataset.rendered = String(ok);
  if (failed.length) { document.body.dataset.renderFailed = failed.join(' '); }
});
"""

_CSS = """\
:root{--bg:#f3f4f6;--card:#fff;--ink:#1f2933;--muted:#616e7c;--line:#e1e5ea;--grid:#edf0f3;--bad:#b42318}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif}
.page{max-width:1440px;margin:0 auto;padding:24px 28px 32px}
.page-header{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px}
h1{font-size:22px;line-height:1.25;margin:0;font-weight:650;letter-spacing:-.01em}
.page-header .description{margin:4px 0 0;color:var(--muted);max-width:80ch}
.meta{display:flex;flex-wrap:wrap;gap:10px 32px;margin:14px 0 0;padding:12px 0 0;border-top:1px solid var(--grid)}
.meta div{min-width:0}
.meta dt{font-size:11px;text-transform:uppercase;letter-spacing:.07em;color:var(--muted)}
.meta dd{margin:1px 0 0;font-weight:500}
.meta .unused{color:var(--muted);font-weight:400}
.grid{display:grid;grid-template-columns:repeat(24,minmax(0,1fr));grid-auto-rows:minmax(48px,auto);gap:14px;margin-top:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px 12px;display:flex;
 flex-direction:column;min-width:0;overflow:hidden;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.card h2{font-size:13.5px;font-weight:600;margin:0;line-height:1.3}
.card .desc{font-size:12px;color:var(--muted);margin:3px 0 0;display:-webkit-box;-webkit-line-clamp:2;
 -webkit-box-orient:vertical;overflow:hidden}
.card .body{flex:1;display:flex;flex-direction:column;justify-content:center;min-height:0;margin-top:10px}
.card .params{font-size:11px;color:var(--muted);margin:8px 0 0}
.scalar .value{font-size:clamp(28px,3vw,42px);font-weight:650;letter-spacing:-.02em;line-height:1.1;
 font-variant-numeric:tabular-nums;color:#102a43}
.scalar .affix{font-size:.45em;font-weight:500;letter-spacing:0;color:var(--muted)}
.scalar .caption,.scalar .compare{font-size:12px;color:var(--muted);margin-top:4px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
svg.chart text{font-size:11px;fill:#52606d;font-family:inherit}
svg.chart text.value{fill:#243b53;font-weight:600;font-variant-numeric:tabular-nums}
svg.chart text.total{font-size:22px;font-weight:650;fill:#102a43}
svg.chart line.grid{stroke:var(--grid);stroke-width:1}
svg.chart line.axis{stroke:#9aa5b1;stroke-width:1}
.pie{display:flex;align-items:center;gap:18px;flex-wrap:wrap}
.pie svg.chart{width:min(200px,45%);flex:none}
.legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;color:var(--muted)}
.legend-pie{flex-direction:column;flex:1;min-width:140px;margin:0}
.legend-pie li{display:flex;gap:8px;align-items:center;color:var(--ink)}
.legend-pie .name{flex:1}.legend-pie .num{font-weight:600;font-variant-numeric:tabular-nums}
.legend-pie .share{color:var(--muted);width:4.5em;text-align:right;font-variant-numeric:tabular-nums}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.table-wrap{overflow:auto;max-height:420px}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th{font-weight:600;text-align:left;color:var(--muted);border-bottom:1px solid var(--line);padding:5px 8px;
 position:sticky;top:0;background:var(--card)}
td{border-bottom:1px solid var(--grid);padding:5px 8px}
.num{text-align:right;font-variant-numeric:tabular-nums}
.no-data{color:var(--muted);font-size:15px;text-align:center;padding:10px 0}
.error{color:var(--bad);background:#fef3f2;border:1px solid #fecdca;border-radius:6px;padding:8px 10px;font-size:12.5px;
 overflow-wrap:anywhere}
.card[data-status=error]{border-color:#fecdca}
.note{font-size:11px;color:var(--muted);margin:6px 0 0}
footer{margin-top:22px;color:var(--muted);font-size:12px}
footer table{max-width:760px;background:var(--card);border:1px solid var(--line);border-radius:8px}
footer caption{text-align:left;padding:0 0 6px;font-weight:600}
@media (max-width:900px){.page{padding:14px}.grid{grid-template-columns:1fr}
 .card{grid-column:1 / -1 !important;grid-row:auto !important}}
@media print{body{background:#fff}.card,.page-header{box-shadow:none;break-inside:avoid}}
"""


def _script_hash() -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()


def _timings_table(results: list[CardResult]) -> str:
    rows = "".join(
        f'<tr data-card="{_e(r.key)}"><td>{_e(r.name)}</td><td>{_e(r.card.display if r.card else "")}</td>'
        f'<td class="num">{len(r.rows)}</td>'
        f'<td class="num">{"" if r.query_ms is None else f"{r.query_ms:.1f}"}</td>'
        f'<td>{"error" if r.error else "ok"}</td></tr>'
        for r in results)
    total = sum(r.query_ms or 0.0 for r in results)
    return (f'<table class="timings"><caption>Queries</caption><thead><tr><th>Card</th><th>Display</th>'
            f'<th class="num">Rows</th><th class="num">ms</th><th>Status</th></tr></thead><tbody>{rows}</tbody>'
            f'<tfoot><tr><td>Total</td><td></td><td></td><td class="num">{total:.1f}</td><td></td></tr></tfoot></table>')


def _page(dashboard: Dashboard, results: list[CardResult], filter_values: dict[str, Any], as_of: str,
          generated_at: datetime) -> str:
    tz = settings.reporting_timezone()
    applied, unused = _filters_text(dashboard, filter_values)
    unused_html = f' <span class="unused">(not filtered: {_e(unused)})</span>' if unused else ""
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=timezone.utc)
    generated = generated_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
    description = f'<p class="description">{_e(dashboard.description)}</p>' if dashboard.description else ""
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src '{_script_hash()}'; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    cards = "".join(_card_section(r) for r in results)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="lead-analytics orchestration.bi.html_report">'
        f"<title>{_e(dashboard.name)}</title><style>{_CSS}</style></head>"
        f'<body data-dashboard="{_e(dashboard.key)}" data-cards="{len(results)}"><div class="page">'
        f'<header class="page-header"><h1>{_e(dashboard.name)}</h1>{description}<dl class="meta">'
        f'<div><dt>As of</dt><dd id="as-of">{_e(as_of)}</dd></div>'
        f'<div><dt>Filters applied</dt><dd id="filters">{_e(applied)}{unused_html}</dd></div>'
        f'<div><dt>Time zone</dt><dd id="timezone">{_e(tz)}</dd></div>'
        f'<div><dt>Generated</dt><dd id="generated-at"><time datetime="{_e(generated_at.isoformat())}">'
        f"{_e(generated)}</time></dd></div></dl></header>"
        f'<main class="grid">{cards}</main>'
        f"<footer>{_timings_table(results)}<p>Rendered from dashboard spec <code>{_e(dashboard.key)}</code> "
        f"(Metabase collection {_e(dashboard.collection)}), the same cards and SQL Metabase runs; "
        "query times include fetching the rows.</p></footer>"
        f"</div><script>{_SCRIPT}</script></body></html>\n"
    )
