"""Charts of the HTML report: card results as Vega-Lite specs, rendered to inline SVG by vl-convert.

`chart_spec(display, title, dims, measures, width, height)` builds a Vega-Lite spec for one chart display
(`CHART_DISPLAYS`); `render_svgs(specs)` renders a batch in vl-convert's one warm JavaScript runtime and
makes each SVG safe to inline next to others (ids prefixed, fixed size replaced by a viewBox). Every mark
carries an `aria-label` ("Website; Leads: 7") written here from the same formatted text as the tiles, so
screen readers and tests read the values a chart draws.

The specs are plain dicts (the Vega-Lite JSON), not altair objects: altair's `to_dict` costs 25–40 ms a
chart here, as much as rendering it; the tests validate every spec against altair's Vega-Lite schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from orchestration import settings
from orchestration.bi import formats

ChartDisplay = Literal["bar", "stacked_bar", "row", "line", "area", "combo", "pie", "funnel", "heatmap"]
CHART_DISPLAYS: tuple[str, ...] = ("bar", "stacked_bar", "row", "line", "area", "combo", "pie", "funnel", "heatmap")

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
# metric-compatible everywhere: labels measured by vl-convert fit in the browser
FONT = 'Arial, Helvetica, "Liberation Sans", sans-serif'
PALETTE = ["#3b6ea8", "#e39c39", "#5a9e6f", "#c0504d", "#8064a2", "#4aa3b5", "#9c8a5a", "#7b8794"]
DENSE = 12  # with more bars or points than this, zero values get no text label
MIN_LABELLED_BAR_PX = 16  # narrower bars get no value label and the axis thins its labels
LABEL_CHAR_PX = 6.5  # width of a character of a bar's value label (11 px digits), so labels of wide numbers fit
CELL_CHAR_PX = 5.8  # the same for a heatmap cell's label (9.5 px)
HEATMAP_CHROME_PX = 180  # of a heatmap's width, what the row labels and the colour legend take
AXIS_CHAR_PX = 6.2  # width of a character of an axis label or title (11 px)
ROTATED_LABEL_PX = 18  # what a label at -40 degrees takes along its axis (11 px text), however long it is
TOP_PX, AXIS_LINE_PX, LEGEND_PX = 8, 16, 24  # the chart's top padding; a line of axis text; a legend below
EMPTY_CELL = "#eef1f4"
# Dimensions whose full range is known: every value is shown on the axis, in natural order, even without rows.
HOURS, WEEKDAYS = tuple(range(24)), tuple(range(1, 8))


def full_domain(column: str) -> tuple[int, ...] | None:
    """The known range of a column, by its name as the marts spell it: an hour of the day 0-23 (`hour_of_day`,
    `local_hour`, `charge_hour`, ...) or an ISO weekday 1 = Monday (`iso_weekday`, `day_of_week`)."""
    if column in ("hour", "hour_of_day") or column.endswith("_hour"):
        return HOURS
    if column in ("iso_weekday", "day_of_week"):
        return WEEKDAYS
    return None


CONFIG = {
    "background": "transparent",
    "font": FONT,
    "view": {"stroke": None},
    "axis": {
        "labelColor": "#52606d",
        "titleColor": "#52606d",
        "gridColor": "#edf0f3",
        "domainColor": "#9aa5b1",
        "tickColor": "#9aa5b1",
        "labelFontSize": 11,
        "titleFontSize": 11,
        "titleFontWeight": 500,
    },
    "legend": {
        "labelColor": "#1f2933",
        "titleColor": "#52606d",
        "labelFontSize": 11,
        "titleFontSize": 11,
        "orient": "bottom",
        "symbolType": "square",
        "labelLimit": 260,
    },
    "text": {"fontSize": 11, "color": "#243b53"},
    "range": {"category": PALETTE},
}


class ChartError(ValueError):
    """The rows do not fit the chart (e.g. two rows for one heatmap cell)."""


class NothingToDraw(ChartError):
    """The rows are right but give the chart nothing to show (a pie whose every slice is 0)."""


@dataclass(frozen=True)
class Dim:
    """A dimension column: its heading, its name (for natural ordering) and its value in each row."""

    column: str
    title: str
    values: tuple[Any, ...]

    # Cached: the chart builders read them once per row (`_series_records`), and a dimension's values never change.
    @cached_property
    def temporal(self) -> bool:
        present = [v for v in self.values if v is not None]
        return bool(present) and all(isinstance(v, (date, datetime)) for v in present)

    def label(self, value: Any) -> str:
        if full_domain(self.column) == WEEKDAYS and value in WEEKDAYS:
            return formats.ISO_WEEKDAYS[value - 1]
        period = formats.as_period(value)
        if (
            self.column in ("week", "month", "quarter", "year")
            and isinstance(period, date)
            and not isinstance(period, datetime)
        ):
            return formats.period_name(period, self.column)
        return formats.format_dimension(value)

    @cached_property
    def labels(self) -> list[str]:
        return [self.label(v) for v in self.values]

    def domain(self) -> list[str]:
        """Axis labels in natural order: a full known range, numbers ascending, else the rows' order."""
        present = list(dict.fromkeys(v for v in self.values))
        known = full_domain(self.column)
        if known and all(type(v) is int and v in known for v in present if v is not None):  # not True, not 1.5
            return [self.label(v) for v in known]
        if present and all(formats.is_number(v) for v in present):
            present.sort()
        return list(dict.fromkeys(self.label(v) for v in present))


@dataclass(frozen=True)
class Measure:
    """A measure column: heading, value per row (float or None), its text per row, axis format, mark."""

    column: str
    title: str
    values: tuple[float | None, ...]
    texts: tuple[str, ...]
    d3_format: str = ",~r"
    mark: Literal["bar", "line"] = "bar"


@dataclass
class RenderStats:
    charts: int = 0
    seconds: float = 0.0
    per_display: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- specs


def _top(title: str, width: int, height: int, values: list[dict], body: dict) -> dict:
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": title,
        "width": width,
        "height": height,
        "autosize": {"type": "fit", "contains": "padding"},
        "padding": {"left": 4, "top": 8, "right": 28, "bottom": 4},
        "data": {"values": values},
        "config": CONFIG,
        **body,
    }


def _axis(measures: Sequence[Measure], room: float | None = None, **axis: Any) -> dict:
    """A value axis; counts (all values whole) get whole-number ticks only. `room`: the length its title may take
    (`title_room`): a longer title is broken into lines that fit."""
    if all(v is None or float(v).is_integer() for m in measures for v in m.values):
        axis["tickMinStep"] = 1
    if room is not None and isinstance(axis.get("title"), str):
        axis["title"] = title_lines(axis["title"], room)
    return axis


def title_room(height: float, x_axis: dict, labels: Sequence[str], legend: bool) -> float:
    """The length a vertical value axis's title may take in a chart `height` px high: Vega centres it on the plot,
    so it may reach as far up as the plot's middle is from the chart's top. Below the plot: the category axis's
    labels (taller when turned), its title, and a legend."""
    below = AXIS_LINE_PX + (AXIS_LINE_PX if x_axis.get("title") else 0) + (LEGEND_PX if legend else 0)
    if x_axis.get("labelAngle"):
        below += max((len(x) for x in labels), default=0) * AXIS_CHAR_PX * 0.64  # sin 40 degrees
    plot = height - TOP_PX - below
    return max(60.0, 2 * TOP_PX + plot)


def title_lines(title: str, room: float) -> str | list[str]:
    """An axis title as it fits `room` px: itself, or its words on as few lines as fit (Vega draws a list as
    lines); a single word longer than the room stays whole on its line."""
    per_line = max(8, int(room / AXIS_CHAR_PX))
    if len(title) <= per_line:
        return title
    lines: list[str] = []
    for word in title.split():
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines if len(lines) > 1 else title


def band_axis(title: str | None, labels: Sequence[str], room: float) -> dict:
    """A category axis along `room` px: labels side by side when they fit, else turned to -40 degrees, and when
    even turned they would overlap, Vega keeps every n-th (greedy) so none is drawn over another."""
    axis: dict[str, Any] = {"title": title, "labelAngle": 0, "labelLimit": 140}
    if sum(len(x) + 1 for x in labels) * AXIS_CHAR_PX > room * 0.9:
        axis["labelAngle"] = -40
        if len(labels) * ROTATED_LABEL_PX > room:
            axis["labelOverlap"] = "greedy"
    return axis


def _describe(parts: Sequence[str], title: str, text: str) -> str:
    where = "; ".join(p for p in parts if p)
    return f"{where}; {title}: {text}" if where else f"{title}: {text}"


def _category_records(dims: Sequence[Dim], measures: Sequence[Measure], series_dim: bool) -> list[dict]:
    records = []
    for i in range(len(measures[0].values)):
        for j, m in enumerate(measures):
            if not dims:  # one row, the measures are the categories
                x, s, parts = m.title, m.title, []
            elif series_dim:
                x, s = dims[0].labels[i], dims[1].labels[i]
                parts = [x, s]
            else:
                x, s = dims[0].labels[i], m.title
                parts = [x]
            records.append(
                {
                    "x": x,
                    "s": s,
                    "v": m.values[i],
                    "t": m.texts[i],
                    "o": i * 100 + j,
                    "d": _describe(parts, m.title, m.texts[i]),
                }
            )
    return records


def _value_text(records: list[dict], dense: bool) -> None:
    """Blank the text of zero values on dense charts (their aria description keeps the value)."""
    if dense:
        for r in records:
            if not r["v"]:
                r["t"] = ""


def _bars(display: str, title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int) -> dict:
    horizontal = display == "row"
    stacked = display == "stacked_bar"
    series_dim = len(dims) >= 2 and len(measures) == 1
    records = _category_records(dims, measures, series_dim)
    multi = series_dim or (len(measures) > 1 and bool(dims))
    _value_text(records, len(records) > DENSE)
    x_order = list(dict.fromkeys(r["x"] for r in records))
    series_order = list(dict.fromkeys(r["s"] for r in records))
    bars = len(x_order) * (len(series_order) if multi and not stacked else 1)
    # no room for a number on each bar: over a vertical bar the number needs its own width ("1,008" over 24 hours)
    longest = max((len(r["t"]) for r in records), default=0)
    per_bar = MIN_LABELLED_BAR_PX if horizontal else max(MIN_LABELLED_BAR_PX, longest * LABEL_CHAR_PX)
    crowded = bars * per_bar > (height if horizontal else width)
    cat, val = ("y", "x") if horizontal else ("x", "y")
    fmt = measures[0].d3_format if len({m.d3_format for m in measures}) == 1 else ",~r"
    cat_title = None if not dims else dims[0].title
    cat_axis = (
        {"title": cat_title, "labelAngle": 0, "labelLimit": 140} if horizontal else band_axis(cat_title, x_order, width)
    )
    if crowded:
        cat_axis["labelOverlap"] = "greedy"  # Vega drops the labels that would overlap (every n-th stays)
    enc: dict[str, Any] = {
        cat: {"field": "x", "type": "ordinal", "sort": x_order, "axis": cat_axis},
        val: {
            "field": "v",
            "type": "quantitative",
            "axis": _axis(
                measures,
                None if horizontal else title_room(height, cat_axis, x_order, multi),
                format=fmt,
                title=None if multi else (measures[0].title if dims else None),
            ),
            **({"stack": "zero"} if stacked else {"stack": None}),
        },
        "description": {"field": "d"},
    }
    if multi:
        enc["color"] = {
            "field": "s",
            "type": "nominal",
            "sort": series_order,
            "title": dims[1].title if series_dim else None,
        }
        if not stacked:
            enc[f"{cat}Offset"] = {"field": "s", "sort": series_order}
        enc["order"] = {"field": "o"}
    else:
        enc["color"] = {"value": PALETTE[0]}
    layers: list[dict] = [{"mark": {"type": "bar", "cornerRadiusEnd": 2, "tooltip": False}, "encoding": enc}]
    if not stacked and not crowded:  # crowded: the values stay in each bar's description (its aria-label)
        text_enc = {k: v for k, v in enc.items() if k not in ("color", "description")}
        text_enc["text"] = {"field": "t"}
        offset = {"dx": 4, "align": "left", "baseline": "middle"} if horizontal else {"dy": -4, "baseline": "bottom"}
        layers.append({"mark": {"type": "text", "aria": False, **offset}, "encoding": text_enc})
    return _top(title, width, height, records, {"layer": layers})


TIME_FORMATS = {"month": "%b %Y", "quarter": "%b %Y", "year": "%Y"}  # a period's ticks, by its grain column


def _x_encoding(dim: Dim, width: float) -> dict:
    if dim.temporal:
        hourly = any(isinstance(formats.as_period(v), datetime) for v in dim.values)
        fmt = "%-d %b %H:%M" if hourly else TIME_FORMATS.get(dim.column, "%-d %b")
        return {
            "field": "x",
            "type": "temporal",
            "timeUnit": "utcyearmonthdatehours" if hourly else "utcyearmonthdate",
            "axis": {"title": dim.title, "format": fmt, "labelOverlap": True},
        }
    order = list(dict.fromkeys(dim.labels))
    return {"field": "x", "type": "ordinal", "sort": order, "axis": band_axis(dim.title, order, width)}


def _x_value(dim: Dim, i: int) -> Any:
    value = dim.values[i]
    if dim.temporal and value is not None:
        period = formats.as_period(value)
        return period.isoformat() if isinstance(period, (date, datetime)) else None
    return dim.labels[i]


def _series_records(dims: Sequence[Dim], measures: Sequence[Measure]) -> tuple[list[dict], bool]:
    series_dim = len(dims) >= 2 and len(measures) == 1
    records = []
    for i in range(len(measures[0].values)):
        for j, m in enumerate(measures):
            s = dims[1].labels[i] if series_dim else m.title
            parts = [dims[0].labels[i]] + ([s] if series_dim else [])
            records.append(
                {
                    "x": _x_value(dims[0], i),
                    "s": s,
                    "v": m.values[i],
                    "t": m.texts[i],
                    "o": i * 100 + j,
                    "mk": m.mark,
                    "d": _describe(parts, m.title, m.texts[i]),
                }
            )
    return records, series_dim or len(measures) > 1


def _lines(display: str, title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int) -> dict:
    if not dims:
        raise ChartError("a line chart needs a dimension to run along (group the card by one)")
    records, multi = _series_records(dims, measures)
    points = len(measures[0].values)
    _value_text(records, True)  # line charts write no zero labels
    x = _x_encoding(dims[0], width)
    y = {
        "field": "v",
        "type": "quantitative",
        "axis": _axis(
            measures,
            title_room(height, x["axis"], dims[0].labels, multi),
            format=measures[0].d3_format,
            title=None if multi else measures[0].title,
        ),
    }
    colour = (
        {"field": "s", "type": "nominal", "sort": list(dict.fromkeys(r["s"] for r in records)), "title": None}
        if multi
        else {"value": PALETTE[0]}
    )
    base = {"x": x, "y": y, "color": colour, "description": {"field": "d"}}
    layers: list[dict] = []
    if display == "area":
        layers.append(
            {
                "mark": {"type": "area", "opacity": 0.18, "aria": False, "line": False},
                "encoding": {k: v for k, v in base.items() if k != "description"} | {"y": {**y, "stack": None}},
            }
        )
    layers.append(
        {
            "mark": {"type": "line", "strokeWidth": 2, "aria": False},
            "encoding": {k: v for k, v in base.items() if k != "description"},
        }
    )
    layers.append({"mark": {"type": "point", "filled": True, "size": 28 if points > 40 else 40}, "encoding": base})
    if points <= DENSE and not multi:
        layers.append(
            {
                "mark": {"type": "text", "dy": -8, "aria": False},
                "encoding": {"x": base["x"], "y": y, "text": {"field": "t"}},
            }
        )
    return _top(title, width, height, records, {"layer": layers})


def _combo(title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int) -> dict:
    if not dims:
        raise ChartError("a combo chart needs a dimension to run along (group the card by one)")
    records, _ = _series_records(dims, measures)
    bars = [m for m in measures if m.mark == "bar"]
    lines = [m for m in measures if m.mark == "line"]
    order = [m.title for m in measures]
    colour = {
        "field": "s",
        "type": "nominal",
        "sort": order,
        "scale": {"domain": order, "range": PALETTE[: len(order)]},
        "title": None,
    }
    peak = {m.title: max((abs(v) for v in m.values if v is not None), default=0.0) for m in measures}
    bar_peak = max((peak[m.title] for m in bars), default=0.0)
    line_peak = max((peak[m.title] for m in lines), default=0.0)
    shared = (
        bool(bars and lines)
        and min(bar_peak, line_peak) > 0
        and max(bar_peak, line_peak) / min(bar_peak, line_peak) <= 5
    )
    x = _x_encoding(dims[0], width)
    if x["type"] == "temporal":  # bars need a band: time on an ordinal axis of period labels
        periods = list(dict.fromkeys(dims[0].labels))
        x = {"field": "xl", "type": "ordinal", "sort": periods, "axis": band_axis(dims[0].title, periods, width)}
    for r, i in zip(records, [i for i in range(len(measures[0].values)) for _ in measures], strict=True):
        r["xl"] = dims[0].labels[i]
        if x["field"] == "x":
            r["x"] = dims[0].labels[i]

    room = title_room(height, x["axis"], dims[0].labels, True)  # a combo always has its legend

    def y(ms: list[Measure], orient: str) -> dict:
        # one shared axis: every layer gives it the same title (Vega-Lite joins differing ones, repeats included)
        titles = ", ".join(m.title for m in (measures if shared else ms))
        return {
            "field": "v",
            "type": "quantitative",
            "axis": _axis(ms, room, format=ms[0].d3_format, title=titles, orient=orient),
        }

    layers: list[dict] = []
    if bars:
        enc = {"x": x, "y": y(bars, "left"), "color": colour, "description": {"field": "d"}}
        if len(bars) > 1:
            enc["xOffset"] = {"field": "s", "sort": [m.title for m in bars]}
        layers.append(
            {
                "transform": [{"filter": {"field": "mk", "equal": "bar"}}],
                "mark": {"type": "bar", "cornerRadiusEnd": 2, "opacity": 0.9},
                "encoding": enc,
            }
        )
    if lines:
        enc = {"x": x, "y": y(lines, "left" if shared or not bars else "right"), "color": colour}
        layers.append(
            {
                "transform": [{"filter": {"field": "mk", "equal": "line"}}],
                "mark": {"type": "line", "strokeWidth": 2.5, "aria": False},
                "encoding": enc,
            }
        )
        layers.append(
            {
                "transform": [{"filter": {"field": "mk", "equal": "line"}}],
                "mark": {"type": "point", "filled": True, "size": 45},
                "encoding": {**enc, "description": {"field": "d"}},
            }
        )
    body: dict[str, Any] = {"layer": layers}
    if bars and lines and not shared:
        body["resolve"] = {"scale": {"y": "independent"}}
    return _top(title, width, height, records, body)


def _pie(title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int) -> dict:
    m = measures[0]
    labels = dims[0].labels if dims else [x.title for x in measures]
    values = list(m.values) if dims else [x.values[0] for x in measures]
    texts = list(m.texts) if dims else [x.texts[0] for x in measures]
    total = sum(v for v in values if v and v > 0)
    if total <= 0:
        raise NothingToDraw("every slice is 0")
    records = []
    for i, (label, value, text) in enumerate(zip(labels, values, texts, strict=True)):
        share = f"{(value or 0) / total * 100:.1f}%"
        records.append(
            {
                "c": label,
                "v": max(value or 0.0, 0.0),
                "o": i,
                "l": f"{label} — {text} ({share})",
                "d": f"{label}: {text} ({share})",
            }
        )
    size = min(width, height)
    legend_order = [r["l"] for r in records]
    enc = {
        "theta": {"field": "v", "type": "quantitative", "stack": True},
        "color": {"field": "l", "type": "nominal", "sort": legend_order, "legend": {"title": None, "orient": "right"}},
        "order": {"field": "o"},
        "description": {"field": "d"},
    }
    outer = max(40, size / 2 - 6)
    layers = [
        {"mark": {"type": "arc", "innerRadius": outer * 0.58, "outerRadius": outer, "padAngle": 0.01}, "encoding": enc},
        {
            "data": {"values": [{"t": formats.format_number(total), "u": "total"}]},
            "mark": {"type": "text", "fontSize": 20, "fontWeight": 600, "dy": -6, "aria": False},
            "encoding": {"text": {"field": "t"}},
        },
        {
            "data": {"values": [{"u": "total"}]},
            "mark": {"type": "text", "fontSize": 11, "dy": 12, "color": "#616e7c", "aria": False},
            "encoding": {"text": {"field": "u"}},
        },
    ]
    return _top(title, width, height, records, {"layer": layers, "view": {"stroke": None}})


@dataclass(frozen=True)
class FunnelStep:
    label: str
    value: float
    text: str
    of_first: str  # share of the first step, e.g. "42.1%"
    of_previous: str


def funnel_steps(dims: Sequence[Dim], measures: Sequence[Measure]) -> list[FunnelStep]:
    """The funnel's steps: rows in order (first column the step, next the count), or, for one row without a
    dimension, the measure columns in order. Shares of the first and of the previous step, one decimal."""
    if dims:
        m = measures[0]
        items = list(zip(dims[0].labels, m.values, m.texts, strict=True))
    else:
        items = [(m.title, m.values[0], m.texts[0]) for m in measures]

    def share(part: float, whole: float | None) -> str:
        return f"{part / whole * 100:.1f}%" if whole else "—"

    steps, first, previous = [], None, None
    for label, value, text in items:
        value = value or 0.0
        first = value if first is None else first
        steps.append(
            FunnelStep(
                label, value, text, share(value, first), share(value, previous if previous is not None else value)
            )
        )
        previous = value
    return steps


def _funnel(title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int) -> dict:
    steps = funnel_steps(dims, measures)
    records = []
    for i, s in enumerate(steps):
        note = "" if i == 0 else f" · {s.of_first} of first · {s.of_previous} of previous"
        records.append(
            {
                "x": s.label,
                "v": s.value,
                "lo": -s.value / 2,
                "hi": s.value / 2,
                "t": f"{s.text}{note}",
                "d": f"{s.label}: {s.text}; {s.of_first} of the first step; {s.of_previous} of the previous step",
            }
        )
    order = [s.label for s in steps]
    peak = max((s.value for s in steps), default=0.0) or 1.0
    y = {
        "field": "x",
        "type": "ordinal",
        "sort": order,
        "axis": {"title": None, "labelLimit": 160, "domain": False, "ticks": False},
    }
    x = {"field": "lo", "type": "quantitative", "scale": {"domain": [-peak / 2, peak / 2 * 1.0]}, "axis": None}
    layers = [
        {
            "mark": {"type": "bar", "cornerRadius": 2, "color": "#a9c4e4"},
            "encoding": {"y": y, "x": x, "x2": {"field": "hi"}, "description": {"field": "d"}},
        },
        {
            "mark": {"type": "text", "baseline": "middle", "color": "#102a43", "aria": False, "fontWeight": 600},
            "encoding": {"y": y, "text": {"field": "t"}},
        },
    ]
    for layer in layers[1:]:
        layer["encoding"]["x"] = {"datum": 0, "type": "quantitative", "scale": x["scale"], "axis": None}
    return _top(title, width, height, records, {"layer": layers})


def _heatmap(title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int) -> dict:
    if len(dims) < 2:
        raise ChartError("a heatmap needs two dimensions (rows and columns) and one measure")
    rows_dim, cols_dim, m = dims[0], dims[1], measures[0]
    row_domain, col_domain = rows_dim.domain(), cols_dim.domain()
    cells: dict[tuple[str, str], int] = {}
    for i, (r, c) in enumerate(zip(rows_dim.labels, cols_dim.labels, strict=True)):
        if (r, c) in cells:
            raise ChartError(
                f"two rows for the cell {rows_dim.title} {r}, {cols_dim.title} {c}: the query must "
                f"return one row per cell"
            )
        cells[(r, c)] = i
    records = []
    for r in row_domain:
        for c in col_domain:
            i = cells.get((r, c))
            value = m.values[i] if i is not None else None
            text = m.texts[i] if i is not None else "no data"
            row_name = f"{rows_dim.title} {r}" if r.isdigit() else r  # "Hour 9", but "Monday"
            records.append(
                {
                    "r": r,
                    "c": c,
                    "v": value,
                    "t": text if value else "",
                    "d": f"{row_name}, {cols_dim.title} {c}: {text}",
                }
            )
    enc = {
        "x": {
            "field": "c",
            "type": "ordinal",
            "sort": col_domain,
            "axis": {"title": cols_dim.title, "labelAngle": 0, "ticks": False, "domain": False},
        },
        "y": {
            "field": "r",
            "type": "ordinal",
            "sort": row_domain,
            "axis": {"title": None, "ticks": False, "domain": False},
        },
    }
    layers = [
        {
            "mark": {"type": "rect", "stroke": "#fff", "strokeWidth": 1.5, "cornerRadius": 2, "invalid": "show"},
            "encoding": {
                **enc,
                "description": {"field": "d"},
                "color": {
                    "condition": {"test": "datum.v === null", "value": EMPTY_CELL},
                    "field": "v",
                    "type": "quantitative",
                    "scale": {"scheme": "blues", "domainMin": 0},
                    "legend": {"title": m.title, "orient": "right", "format": m.d3_format},
                },
            },
        },
    ]
    # a number wider than its cell would run into its neighbours: then the colours and the legend say it alone
    # (each cell's description keeps its value)
    cell_px = (width - HEATMAP_CHROME_PX) / max(1, len(col_domain))
    if max((len(r["t"]) for r in records), default=0) * CELL_CHAR_PX <= cell_px - 4:
        light = max((v for v in m.values if v), default=0) * 0.6
        text_color = {"condition": {"test": f"datum.v > {light}", "value": "#fff"}, "value": "#243b53"}
        layers.append(
            {
                "mark": {"type": "text", "fontSize": 9.5, "aria": False},
                "encoding": {**enc, "text": {"field": "t"}, "color": text_color},
            }
        )
    return _top(title, width, height, records, {"layer": layers})


def chart_spec(
    display: ChartDisplay, title: str, dims: Sequence[Dim], measures: Sequence[Measure], width: int, height: int
) -> dict:
    """The Vega-Lite spec of one chart. Raises ChartError when the rows cannot be drawn that way."""
    if not measures:
        raise ChartError("the card has no numeric column to draw")
    if display in ("bar", "stacked_bar", "row"):
        return _bars(display, title, dims, measures, width, height)
    if display in ("line", "area"):
        return _lines(display, title, dims, measures, width, height)
    if display == "combo":
        return _combo(title, dims, measures, width, height)
    if display == "pie":
        return _pie(title, dims, measures, width, height)
    if display == "funnel":
        return _funnel(title, dims, measures, width, height)
    if display == "heatmap":
        return _heatmap(title, dims, measures, width, height)
    raise AssertionError(f"not a chart display: {display}")


# ---------------------------------------------------------------- SVG

_ID = re.compile(r'\bid="([^"]+)"')
_SIZE = re.compile(r'^<svg([^>]*?) width="([\d.]+)" height="([\d.]+)"')


def _inline(svg: str, prefix: str, title: str) -> str:
    """An SVG that can sit beside others in one page: ids prefixed (Vega names clip paths clip1, clip2...
    in every chart), responsive (viewBox, no fixed size), labelled for assistive technology."""
    for old in set(_ID.findall(svg)):
        new = f"{prefix}-{old}"
        svg = (
            svg.replace(f'id="{old}"', f'id="{new}"')
            .replace(f"url(#{old})", f"url(#{new})")
            .replace(f'href="#{old}"', f'href="#{new}"')
        )
    svg = _SIZE.sub(lambda m: f'<svg{m[1]} data-width="{m[2]}" data-height="{m[3]}"', svg, count=1)
    from html import escape

    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)


SVG_CACHE_FILES = 2000  # drawn charts kept (several runs' worth: about 115 charts a run over every dashboard)


def _svg_cache() -> Path:
    return settings.state_dir() / "chart_svgs"


def _drawn(spec: dict, cache: Path) -> str:
    """vl-convert's SVG of `spec`, drawn once: the SVG is a function of the spec (data included) and vl-convert's
    version, so a chart whose data did not change since an earlier run is read back instead of drawn again (a
    refresh cycle that rebuilt a few relations redraws only their charts; drawing is most of a page's time)."""
    import vl_convert

    key = hashlib.sha256(f"{vl_convert.__version__}\n{json.dumps(spec, sort_keys=True)}".encode()).hexdigest()
    path = cache / f"{key}.svg"
    try:
        svg = path.read_text(encoding="utf-8")
    except OSError:
        svg = ""
    if svg.rstrip().endswith("</svg>"):  # a file cut short (a crash mid-write) is drawn again
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept when the cache is pruned
        return svg
    svg = vl_convert.vegalite_to_svg(spec)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=cache, suffix=".tmp", delete=False) as tmp:
            tmp.write(svg)
        Path(tmp.name).replace(path)
    except OSError:  # a read-only state folder only costs the next run this chart again
        pass
    return svg


def _prune(cache: Path) -> None:
    """Keep the SVG_CACHE_FILES drawings used last; drop writes an interrupted run left behind (over an hour old)."""
    try:
        files = sorted(cache.glob("*.svg"), key=lambda p: p.stat().st_mtime)
        stale = [p for p in cache.glob("*.tmp") if time.time() - p.stat().st_mtime > 3600]
        for path in files[: max(0, len(files) - SVG_CACHE_FILES)] + stale:
            path.unlink(missing_ok=True)
    except OSError:  # another process pruned first
        pass


def render_svgs(specs: Sequence[tuple[str, dict]], stats: RenderStats | None = None) -> list[str]:
    """Render (id, spec) pairs to inline SVG strings, in order, in vl-convert's one warm runtime (its first
    conversion in a process starts the runtime, ~0.6 s; threads measured no faster on 2 cores), each drawn once
    for its spec (`_drawn`)."""
    started = time.perf_counter()
    cache = _svg_cache()
    out = [_inline(_drawn(spec, cache), chart_id, spec.get("description", "chart")) for chart_id, spec in specs]
    if specs:
        _prune(cache)
    if stats is not None:
        stats.charts += len(specs)
        stats.seconds += time.perf_counter() - started
    return out
