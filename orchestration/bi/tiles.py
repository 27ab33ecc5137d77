"""One tile per placed card: its title, the number or chart first, then a one-line subtitle, and the rest
behind a click.

What a tile shows, top to bottom: the card's name (and a metric selector's dropdown); the body (a big number,
a smart number against the period before, a chart as inline SVG, a table or a roll-up); a subtitle of one line
with what it counts (the card's `description`) and for which dates (the calendar windows its metrics are
restricted to as of the as-of moment, or the dates the dashboard's date filter gives it); "Not narrowed by X"
for a set dashboard filter the card does not take, with the card's reason (`ignores`) as its tooltip; and a
"Definition" detail with the metrics' definitions (their formula), the card's `notes`, the filters that
narrowed it and its KPI ids. The time zone, the as-of rule and the filter notes are on the page header once.

Every number is written with `formats.column_format` (the metric's presentation); every spec text goes
through `words.fill`. Charts are collected in `TileContext.specs` and drawn together (`charts.render_svgs`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, get_args

from orchestration.bi import charts, formats, words
from orchestration.bi.compiled import CompiledCard, Window, date_bounds, filter_value
from orchestration.bi.formats import column_format, format_value
from orchestration.bi.run import MAX_ROWS, CardResult, ReportError, WindowDates, as_list
from orchestration.bi.specs import DashboardFilter, DashboardSpec, Display, Placement

GRID_COLUMN_PX = 57  # width of one of the 24 grid columns at the page's full width (1440 px)
GRID_ROW_PX = 40  # height of one grid row, for chart heights


@dataclass
class TileContext:
    """What every tile of a page shares: the dashboard, its filter values and windows, the as-of date."""

    dashboard: DashboardSpec
    filters: dict[str, Any]
    windows: dict[Window, WindowDates]
    today: date
    as_of_text: str
    timezone: str
    timings: bool = False
    selector_filters: frozenset[str] = frozenset()  # slugs that pick a selector's metric: they narrow nothing
    specs: list[tuple[str, dict]] = field(default_factory=list)

    def chart(self, spec: dict) -> str:
        """A placeholder for a chart, replaced by its SVG once every chart of the page is drawn."""
        chart_id = f"chart{len(self.specs)}"
        self.specs.append((chart_id, spec))
        return f"<!--{chart_id}-->"

    def words(self, text: str) -> str:
        return words.fill(text, timezone=self.timezone)


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def markdown(text: str) -> str:
    """Markdown-ish text as HTML; raw HTML in it is escaped, unsafe links are not linked."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text)


# ---------------------------------------------------------------- bodies


def _listed(settings_value: Any, columns: Sequence[str]) -> list[str]:
    names = settings_value if isinstance(settings_value, (list, tuple)) else [settings_value] if settings_value else []
    return [n for n in names if n in columns]


def value_format(result: CardResult, column: str, scalar: bool = False) -> formats.ColumnFormat:
    """A column's number format; a selector's `value` column formats like the metric chosen."""
    card = result.card
    if column == "value" and result.option and card.selector is not None:
        return column_format(card, "value", scalar, option=card.selector.options[result.option])
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
        fmt = value_format(result, c)
        raw = [r[index[c]] for r in result.rows]
        measures.append(
            charts.Measure(
                c,
                _title(result, c),
                tuple(float(v) if formats.is_number(v) else None for v in raw),
                tuple(format_value(v, fmt) for v in raw),
                fmt.d3(),
                card.series.get(c, "bar"),
            )
        )
    return dims, measures


def _scalar_column(result: CardResult) -> int:
    wanted = result.card.visualization_settings.get("scalar.field")
    return result.columns.index(wanted) if wanted in result.columns else 0


def _big_number(result: CardResult, column: int, value: Any) -> str:
    """The big number; a moment is written smaller, its date and its time each kept on one line."""
    name = e(result.columns[column])
    if isinstance(value, datetime):
        day, _, clock = formats.format_instant(value).partition(" ")
        return (
            f'<div class="value instant" data-column="{name}"><time datetime="{e(value.isoformat())}">'
            f"<span>{e(day)}</span> <span>{e(clock)}</span></time></div>"
        )
    prefix, text, suffix = formats.format_parts(value, value_format(result, result.columns[column], scalar=True))
    prefix = f'<span class="affix">{e(prefix)}</span>' if prefix else ""
    suffix = f'<span class="affix">{e(suffix)}</span>' if suffix else ""
    return f'<div class="value" data-column="{name}">{prefix}{e(text)}{suffix}</div>'


def _no_data(detail: str = "") -> str:
    return f'<div class="no-data">No data{": " + e(detail) if detail else ""}</div>'


def _scalar(result: CardResult, ctx: TileContext) -> str:
    if not result.rows:
        return _no_data()
    column = _scalar_column(result)
    return f'<div class="scalar">{_big_number(result, column, result.rows[0][column])}</div>'


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


def _smartscalar(result: CardResult, ctx: TileContext) -> str:
    """The number of the period the as-of date falls in (the last row up to it), its change against the
    period before, and how much of the period has passed by the as-of date (the moment itself is on the page
    header). The period is the card's compiled time grain."""
    if not result.rows:
        return _no_data()
    measures = [result.columns.index(c) for c in result.card.measure_columns if c in result.columns]
    dims = [i for i in range(len(result.columns)) if i not in measures]
    if not dims or not measures or formats.as_period(result.rows[-1][dims[0]]) is None:
        return _scalar(result, ctx)
    vs = result.card.visualization_settings
    d = dims[0]
    m = result.columns.index(vs["scalar.field"]) if vs.get("scalar.field") in result.columns else measures[0]
    # Metabase's "compare to another column" (scalar.comparisons): e.g. the same days of the month before
    other = next(
        (
            c
            for c in vs.get("scalar.comparisons") or ()
            if c.get("type") == "anotherColumn" and c.get("column") in result.columns
        ),
        None,
    )
    rows = [(formats.as_period(r[d]), r) for r in result.rows if formats.as_period(r[d]) is not None]
    starts = [p if isinstance(p, date) and not isinstance(p, datetime) else p.date() for p, _ in rows]
    upto = [i for i, s in enumerate(starts) if s <= ctx.today] or [len(rows) - 1]
    current = upto[-1]
    grain = result.card.time_grain
    start = starts[current]
    name = formats.period_name(start, grain)
    caption = e(name[:1].upper() + name[1:])
    if grain in ("day", "week", "month", "quarter", "year"):
        end = formats.period_end(start, grain)
        if start <= ctx.today < end:
            passed, total = (ctx.today - start).days + 1, (end - start).days + 1
            so_far = formats.format_date_range(start, ctx.today)
            caption += f', so far: <span class="when">{e(so_far)}</span> ({passed} of {total} days)'
    value = rows[current][1][m]
    compare = ""
    fmt = value_format(result, result.columns[m], scalar=True)
    if other is not None:
        previous = rows[current][1][result.columns.index(other["column"])]
        against = other.get("label") or _title(result, other["column"])
    elif current > 0:
        previous = rows[current - 1][1][m]
        against = formats.period_name(starts[current - 1], grain)
    if other is not None or current > 0:
        arrow, cls = _change(value, previous)
        compare = (
            f'<div class="compare {cls}"><span class="change">{e(arrow)}</span> vs '
            f"{e(against)}: {e(format_value(previous, fmt))}</div>"
        )
    return (
        f'<div class="scalar smart">{_big_number(result, m, value)}<div class="caption">{caption}</div>{compare}</div>'
    )


def _numeric(result: CardResult, index: int) -> bool:
    values = [r[index] for r in result.rows if r[index] is not None]
    return bool(values) and all(formats.is_number(v) for v in values)


def _cell(result: CardResult, index: int, value: Any) -> str:
    column = result.columns[index]
    if column in result.card.measure_columns:
        return format_value(value, value_format(result, column))
    return formats.format_dimension(value) if formats.as_period(value) else format_value(value)


def _td(result: CardResult, index: int, value: Any, numeric: bool) -> str:
    """A table cell: numbers right-aligned, dates and moments kept on one line, a link column (Metabase's
    `view_as: link`) as a link when the value is a web address, a status (its dimension's `statuses`) as a chip
    in its tone's colour with the word in it."""
    text = _cell(result, index, value)
    link = formats.link_text(result.card, result.columns[index])
    colour = formats.status_colour(result.card, result.columns[index], value)
    if link is not None and isinstance(value, str) and value.startswith(("https://", "http://")):
        inner = f'<a href="{e(value)}" target="_blank" rel="noopener noreferrer">{e(link or text)}</a>'
    elif colour is not None:  # a chip in the status's colour, the word in it: never the colour alone
        tone = result.card.statuses[result.columns[index]][value]
        inner = f'<span class="status-chip" data-tone="{e(tone)}" style="background-color:{e(colour)}">{e(text)}</span>'
    else:
        inner = e(text)
    cls = "num" if numeric else "when" if isinstance(value, date) else ""
    return f"<td{f' class={cls}' if cls else ''}>{inner}</td>"


def _table(result: CardResult, ctx: TileContext) -> str:
    if not result.rows:
        return _no_data()
    numeric = [_numeric(result, i) for i in range(len(result.columns))]
    head = "".join(
        f'<th scope="col"{" class=num" if numeric[i] else ""}>{e(_title(result, c))}</th>'
        for i, c in enumerate(result.columns)
    )
    body = "".join(
        "<tr>" + "".join(_td(result, i, v, numeric[i]) for i, v in enumerate(row)) + "</tr>" for row in result.rows
    )
    return (
        f'<div class="table-wrap"><table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


@dataclass
class _Node:
    label: str
    sums: list[Decimal | None]
    children: dict[str, _Node] = field(default_factory=dict)


def _add(sums: list[Decimal | None], values: Sequence[Any]) -> None:
    for i, v in enumerate(values):
        if formats.is_number(v):
            sums[i] = (sums[i] or Decimal(0)) + Decimal(str(v))


def _rollup(result: CardResult, ctx: TileContext) -> str:
    """Leading text columns nest (expandable `<details>`), numeric columns are summed at every level from
    the rows themselves, so every level adds up exactly to its children."""
    if not result.rows:
        return _no_data()
    measures = [i for i, c in enumerate(result.columns) if c in result.card.measure_columns]
    levels = [i for i in range(len(result.columns)) if i not in measures]
    rates = [_title(result, result.columns[i]) for i in measures if value_format(result, result.columns[i]).percent]
    if rates:
        raise ReportError(
            f"tile {result.card.name!r} ({result.card.key}): a roll-up sums its columns at every level, "
            f"and {', '.join(rates)} is a percentage, which does not add up; show it in a table"
        )
    root = _Node("Total", [None] * len(measures))
    for row in result.rows:
        values = [row[i] for i in measures]
        _add(root.sums, values)
        node = root
        for i in levels:
            label = format_value(row[i]) if row[i] is not None else "(none)"
            node = node.children.setdefault(label, _Node(label, [None] * len(measures)))
            _add(node.sums, values)
    fmts = [value_format(result, result.columns[i]) for i in measures]

    def numbers(node: _Node) -> str:
        return "".join(
            f'<span class="num" data-column="{e(result.columns[i])}">{e(format_value(s, f))}</span>'
            for i, s, f in zip(measures, node.sums, fmts, strict=True)
        )

    def render(node: _Node, depth: int) -> str:
        out = []
        for child in node.children.values():
            line = f'<span class="name">{e(child.label)}</span>{numbers(child)}'
            if child.children:
                out.append(
                    f'<details class="level" data-depth="{depth}"><summary class="line" style="--depth:{depth}">'
                    f"{line}</summary>{render(child, depth + 1)}</details>"
                )
            else:
                out.append(f'<div class="line leaf" data-depth="{depth}" style="--depth:{depth}">{line}</div>')
        return "".join(out)

    path = " › ".join(_title(result, result.columns[i]) for i in levels)
    heads = "".join(f'<span class="num">{e(_title(result, result.columns[i]))}</span>' for i in measures)
    head = f'<div class="line head"><span class="name">{e(path)}</span>{heads}</div>'
    total = f'<div class="line total"><span class="name">Total</span>{numbers(root)}</div>'
    return f'<div class="rollup" role="tree">{head}{render(root, 0)}{total}</div>'


def _chart(result: CardResult, ctx: TileContext) -> str:
    if not result.rows:
        return _no_data()
    dims, measures = chart_roles(result)
    p = result.placement
    width = max(220, p.size_x * GRID_COLUMN_PX - 40)
    height = max(140, p.size_y * GRID_ROW_PX - 40)
    try:
        spec = charts.chart_spec(result.card.display, result.card.name, dims, measures, width, height)  # type: ignore[arg-type]
    except charts.NothingToDraw as exc:  # a quiet period, not a broken card
        return _no_data(str(exc))
    except charts.ChartError as exc:
        raise ReportError(
            f"tile {result.card.name!r} ({result.card.key}) cannot be drawn as {result.card.display}: {exc}"
        ) from None
    return ctx.chart(spec)


BODIES: dict[str, Callable[[CardResult, TileContext], str]] = {
    "scalar": _scalar,
    "smartscalar": _smartscalar,
    "table": _table,
    "rollup": _rollup,
    **dict.fromkeys(charts.CHART_DISPLAYS, _chart),
}
if set(BODIES) != set(get_args(Display)):  # every display a spec may name has a renderer, and no other
    raise AssertionError(f"tiles renders {sorted(BODIES)}, specs allow {sorted(get_args(Display))}")


# ---------------------------------------------------------------- around the body


def filter_text(f: DashboardFilter, value: Any, today: date, dates_only: bool = False) -> str:
    """A filter's value as people read it: list values joined; a date value with the dates it means
    ("past12months (1 Dec 2025 – 30 Nov 2026)", or with `dates_only` just the dates)."""
    text = ", ".join(format_value(v) for v in as_list(value)) if isinstance(value, (list, tuple)) else str(value)
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


def _set_filters(
    ctx: TileContext, placement: Placement
) -> tuple[list[tuple[DashboardFilter, str]], list[DashboardFilter]]:
    """(the set filters that narrow this tile with their values, the set filters it does not take). A filter
    that picks a selector's metric is neither: the tile has the selector itself, with every option."""
    narrowing, not_taken = [], []
    for f in ctx.dashboard.filters:
        value, _ = filter_value(f, ctx.filters)
        if value is None or f.slug in ctx.selector_filters:
            continue
        if f.slug in placement.mappings:
            narrowing.append((f, filter_text(f, value, ctx.today, dates_only=True)))
        else:
            not_taken.append(f)
    return narrowing, not_taken


def _subtitle(card: CompiledCard, narrowing: list[tuple[DashboardFilter, str]], ctx: TileContext) -> str:
    """What the tile counts, and for which dates: its calendar windows, else the date filter's dates."""
    seen: list[Window] = []
    for m in card.metrics:
        seen += [w for w in m.windows if w not in seen and w in ctx.windows]
    parts = [f'<span class="desc">{e(ctx.words(card.description))}</span>'] if card.description else []
    # the dates themselves never break across lines ("1 Dec 2024 –" above "30 Nov 2025" reads badly)
    parts += [
        f'<span class="window">{e(w.label)}: <span class="when">{e(ctx.windows[w].dates())}</span></span>' for w in seen
    ]
    if not seen:
        parts += [
            f'<span class="dates">{e(f.name)}: <span class="when">{e(text)}</span></span>'
            for f, text in narrowing
            if f.type.startswith("date/")
        ]
    return f'<p class="subtitle">{"".join(parts)}</p>' if parts else ""


def _not_narrowed(card: CompiledCard, not_taken: list[DashboardFilter], ctx: TileContext) -> str:
    if not not_taken:
        return ""
    spans = []
    for f in not_taken:
        reason = card.ignores.get(f.concept, "")
        title = f' title="{e(ctx.words(reason))}"' if reason else ""
        spans.append(f'<span class="ignored" data-filter="{e(f.slug)}"{title}>Not narrowed by {e(f.name)}</span>')
    return f'<p class="not-narrowed">{"".join(spans)}</p>'


def _definition(card: CompiledCard, narrowing: list[tuple[DashboardFilter, str]], ctx: TileContext) -> str:
    items = "".join(
        f"<dt>{e(m.label)} <code>{e(m.name)}</code></dt><dd>{markdown(ctx.words(m.description))}</dd>"
        for m in card.metrics
    )
    notes = f'<div class="notes">{markdown(ctx.words(card.notes))}</div>' if card.notes else ""
    filters = "; ".join(f"{f.name}: {text}" for f, text in narrowing)
    filters_html = f'<p class="tile-filters">Narrowed by {e(filters)}</p>' if filters else ""
    return (
        f'<details class="definition"><summary>Definition</summary><dl>{items}</dl>{notes}{filters_html}'
        f'<p class="kpis">KPI inventory: {e(", ".join(card.kpis))} · card <code>{e(card.key)}</code></p></details>'
    )


def _chosen_option(card: CompiledCard, placement: Placement, ctx: TileContext) -> str | None:
    """The selector's option shown first: the value of the dashboard filter that feeds it, else its default."""
    tag = card.selector
    for slug, name in placement.mappings.items():
        if name == tag.name:
            value, _ = filter_value(ctx.dashboard.filter(slug), ctx.filters)
            picked = [v for v in as_list(value) if v in tag.options]
            if picked:
                return picked[0]
    return tag.default


def grid_style(p: Placement) -> str:
    return f"grid-column:{p.col + 1} / span {p.size_x};grid-row:{p.row + 1} / span {p.size_y}"


def card_tile(results: list[CardResult], ctx: TileContext) -> str:
    """The tile of one placed card (every option of a metric selector, the chosen one shown)."""
    first = results[0]
    card, p = first.card, first.placement
    body_of = BODIES[card.display]
    if first.option is None:
        body = body_of(first, ctx)
        control = ""
    else:
        tag = card.selector
        chosen = _chosen_option(card, p, ctx)
        choices = "".join(
            f'<option value="{i}"{" selected" if r.option == chosen else ""}>{e(r.option)}</option>'
            for i, r in enumerate(results)
        )
        control = (
            f'<label class="selector" hidden>{e(tag.display_name)} '
            f'<select data-selector="{e(card.key)}">{choices}</select></label>'
        )
        body = "".join(
            f'<div class="option" data-option="{i}" data-option-label="{e(r.option)}">'
            f'<h3 class="option-title">{e(r.option)}</h3>{body_of(r, ctx)}</div>'
            for i, r in enumerate(results)
        )
    truncated = (
        f'<p class="note">Showing the first {MAX_ROWS:,} rows; the query returned more.</p>'
        if any(r.truncated for r in results)
        else ""
    )
    timing = f' data-query-ms="{sum(r.query_ms for r in results):.1f}"' if ctx.timings else ""
    narrowing, not_taken = _set_filters(ctx, p)
    return (
        f'<section class="card" data-card="{e(card.key)}" data-display="{e(card.display)}" '
        f'data-rows="{len(first.rows)}"{timing} style="{grid_style(p)}">'
        f"<header><h2>{e(card.name)}</h2>{control}</header>"
        f'<div class="body">{body}</div>{truncated}{_subtitle(card, narrowing, ctx)}'
        f"{_not_narrowed(card, not_taken, ctx)}{_definition(card, narrowing, ctx)}</section>"
    )


def text_tile(p: Placement, ctx: TileContext) -> str:
    return f'<section class="text-block" style="{grid_style(p)}">{markdown(ctx.words(p.text or ""))}</section>'
