"""Compiled cards: a card's SQL (from MetricFlow) with its Metabase template tags, and how to run it.

The SQL uses Metabase's native-query syntax: `{{tag}}` is either a *field filter* (a condition on a mart
column that Metabase writes, `1 = 1` when the filter has no value) or, for a metric selector, a plain text
variable. `render_sql` renders the same SQL for psycopg the way Metabase would, so the tests and the HTML
report run exactly what Metabase runs.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from orchestration import settings
from orchestration.bi.specs import DashboardFilter, DashboardSpec, Display, Placement, SpecError


class RenderError(ValueError):
    """A card cannot run with the given values (a malformed value or one its tag does not accept)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRef(_Frozen):
    """A mart column, as Metabase's data model knows it after syncing the warehouse."""

    schema_name: str
    table: str
    column: str

    @property
    def qualified(self) -> str:
        return f"{self.schema_name}.{self.table}.{self.column}"


class TemplateTag(_Frozen):
    """One `{{name}}` of a compiled card."""

    name: str
    display_name: str
    kind: Literal["dimension", "text"]  # field filter, or the selector's plain variable
    widget_type: str  # Metabase parameter type the tag accepts (string/=, date/all-options, ...)
    field: FieldRef | None = None  # dimension tags
    data_type: Literal["text", "date", "number", "boolean"] | None = None  # of the field
    dimension: str | None = None  # the MetricFlow dimension it filters
    default: str | None = None  # text tags (the selector's default option)
    options: dict[str, str] = {}  # text tags: option value (what the dropdown sends) -> metric column


class Window(_Frozen):
    """A calendar window a metric is restricted to (a boolean flag of a time-spine table, e.g. "this month to
    date"), so a report can say which dates a tile covers as of its as-of moment."""

    label: str  # the flag dimension's label, e.g. "This month to date"
    table: str  # schema.table of the time spine, e.g. marts.dim_calendar
    date_column: str  # its date column
    flag_column: str  # the boolean column that marks the window's dates


PresentationFormat = Literal["number", "percent", "currency", "duration"]
DURATION_UNITS = ("seconds", "minutes", "hours", "days")


class Presentation(_Frozen):
    """How a metric's values are written, from its `config.meta` in the dbt YAML: the HTML report and the
    Metabase payloads both read it, so a card names a format only to override one."""

    format: PresentationFormat = "number"
    decimals: int | None = None  # None: integers as they are, other numbers 2 decimals (a percent 1)
    # duration: the unit of the stored value (one of DURATION_UNITS); currency: its ISO code (USD);
    # number: a word such as `leads`, written after a tile's big number but not in table cells or charts
    unit: str | None = None
    suffix: str = ""  # written right after the number wherever it appears (ROI's `×`)

    @classmethod
    def from_meta(cls, metric: str, meta: dict[str, Any]) -> Presentation:
        """A metric's presentation from its `config.meta` (which also holds other keys, e.g. `kpis`); a bad value
        is a one-line SpecError naming the metric."""

        def fail(message: str) -> SpecError:
            return SpecError(f"metric {metric}: config.meta {message}")

        fmt = meta.get("format", "number")
        if fmt not in get_args(PresentationFormat):
            raise fail(f"format {fmt!r} is not one of {', '.join(get_args(PresentationFormat))}")
        decimals = meta.get("decimals")
        if decimals is not None and (
            not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 10
        ):
            raise fail(f"decimals {decimals!r} is not a whole number from 0 to 10")
        unit, suffix = meta.get("unit"), meta.get("suffix", "")
        if unit is not None and (not isinstance(unit, str) or not unit.strip()):
            raise fail(f"unit {unit!r} is not a word")
        if not isinstance(suffix, str):
            raise fail(f"suffix {suffix!r} is not text")
        if fmt == "duration" and unit not in DURATION_UNITS:
            raise fail(f"unit {unit!r}: a duration says the unit it is stored in, one of {', '.join(DURATION_UNITS)}")
        if fmt == "currency":
            unit = unit or "USD"
            if not (len(unit) == 3 and unit.isalpha() and unit.isupper()):
                raise fail(f"unit {unit!r}: a currency's unit is its ISO code, e.g. USD")
        if fmt == "percent" and unit is not None:
            raise fail(f"unit {unit!r}: a percent has no unit")
        return cls(format=fmt, decimals=decimals, unit=unit, suffix=suffix)


StatusTone = Literal["good", "warning", "bad", "unknown"]


def statuses_from_meta(dimension: str, meta: dict[str, Any]) -> dict[str, StatusTone]:
    """A status dimension's values and their tones from its `config.meta.statuses` (value -> good, warning, bad or
    unknown; {} when it has none): the one place a status's colour is decided, for Metabase's column formatting
    and the HTML table alike. A bad entry is a one-line SpecError naming the dimension."""
    statuses = meta.get("statuses")
    if statuses is None:
        return {}
    tones = get_args(StatusTone)
    if not isinstance(statuses, dict) or not statuses:
        raise SpecError(f"dimension {dimension}: config.meta statuses must map each status value to a tone")
    for value, tone in statuses.items():
        if not isinstance(value, str) or tone not in tones:
            raise SpecError(
                f"dimension {dimension}: config.meta statuses {value!r}: {tone!r} is not one of {', '.join(tones)}"
            )
    return dict(statuses)


class MetricInfo(_Frozen):
    name: str
    label: str
    description: str
    windows: tuple[Window, ...] = ()  # calendar windows it (or a metric it is computed from) is restricted to


class CompiledCard(_Frozen):
    """What every consumer of a card needs: the spec's presentation and the compiled SQL."""

    key: str
    name: str
    description: str
    kpis: tuple[str, ...]
    display: Display
    sql: str
    tags: tuple[TemplateTag, ...]
    columns: tuple[str, ...]  # result columns, in order
    labels: dict[str, str]  # column -> heading (every column has one)
    series: dict[str, Literal["bar", "line"]]
    metrics: tuple[MetricInfo, ...]
    relations: tuple[str, ...]  # schema.table read (published names)
    visualization_settings: dict[str, Any]
    presentation: dict[str, Presentation] = {}  # metric name -> its presentation (every metric of the card)
    statuses: dict[str, dict[str, StatusTone]] = {}  # group-by column -> status value -> tone (its dimension's meta)
    ignores: dict[str, str] = {}
    notes: str = ""
    time_grain: str | None = None

    def tag(self, name: str) -> TemplateTag:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(f"card {self.key!r} has no tag {name!r}")

    @property
    def selector(self) -> TemplateTag | None:
        """The metric selector's text tag (its value names the metric the `value` column shows), if any."""
        return next((t for t in self.tags if t.kind == "text"), None)

    @property
    def measure_columns(self) -> tuple[str, ...]:
        """The result columns that are measures: the metrics', and a selector's `value`; the rest are dimensions."""
        metrics = {m.name for m in self.metrics}
        return tuple(c for c in self.columns if c in metrics or (c == "value" and self.selector is not None))


# ---------------------------------------------------------------- rendering for psycopg

_TAG = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_RELATIVE = re.compile(r"^(past|next)(\d+)(day|week|month|quarter|year)s(~)?$")
_THIS = re.compile(r"^this(day|week|month|quarter|year)$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^Q([1-4])-(\d{4})$")


def _has_value(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != ()


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _period_start(day: date, unit: str) -> date:
    if unit == "day":
        return day
    if unit == "week":  # ISO weeks start on Monday (set Metabase's "first day of the week" to Monday too)
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def _shift(day: date, unit: str, n: int) -> date:
    if unit == "day":
        return day + timedelta(days=n)
    if unit == "week":
        return day + timedelta(weeks=n)
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def date_bounds(value: str, today: date) -> tuple[date | None, date | None]:
    """A Metabase date-filter value as inclusive (first day, last day); None = open.

    Accepted: `2025-03-01~2025-03-31`, `2025-03-01~`, `~2025-03-31`, `2025-03-01`, `2025-03` (a month),
    `Q1-2025`, `pastNdays|weeks|months|quarters|years` (the N whole periods before the current one;
    with a trailing `~` the current one too), `nextN...`, `thisday|thisweek|thismonth|thisquarter|thisyear`.
    Relative values count from `today` (the dashboard's as-of date).
    """
    text = str(value).strip()
    try:
        if "~" in text and not _RELATIVE.match(text):
            lo, _, hi = text.partition("~")
            return (date.fromisoformat(lo) if lo else None, date.fromisoformat(hi) if hi else None)
        if m := _MONTH.match(text):
            first = date(int(m[1]), int(m[2]), 1)
            return first, _shift(first, "month", 1) - timedelta(days=1)
        if m := _QUARTER.match(text):
            first = date(int(m[2]), (int(m[1]) - 1) * 3 + 1, 1)
            return first, _shift(first, "quarter", 1) - timedelta(days=1)
        if m := _THIS.match(text):
            first = _period_start(today, m[1])
            return first, _shift(first, m[1], 1) - timedelta(days=1)
        if m := _RELATIVE.match(text):
            direction, n, unit, current = m[1], int(m[2]), m[3], bool(m[4])
            start = _period_start(today, unit)
            if direction == "past":
                return _shift(start, unit, -n), (_shift(start, unit, 1) if current else start) - timedelta(days=1)
            return (start if current else _shift(start, unit, 1)), _shift(start, unit, n + 1) - timedelta(days=1)
        single = date.fromisoformat(text)
        return single, single
    except (ValueError, OverflowError):  # past9999999days runs off the calendar
        pass
    raise RenderError(
        f"{text!r} is not a date filter value (use 2025-03-01~2025-03-31, 2025-03-01, 2025-03, "
        f"Q1-2025, past30days, thismonth)"
    )


def _number(text: Any) -> Decimal:
    try:
        if isinstance(text, bool):
            raise InvalidOperation
        return Decimal(str(text))
    except InvalidOperation:
        raise RenderError(f"{text!r} is not a number") from None


def _condition(tag: TemplateTag, value: Any, today: date, bind: Callable[[Any], str]) -> str:
    """The SQL Metabase writes for a field filter with this value (`1 = 1` without one)."""
    if not _has_value(value):
        return "1 = 1"
    assert tag.field is not None
    column = '"' + tag.field.column.replace('"', '""') + '"'
    widget = tag.widget_type
    values = [v for v in _values(value) if _has_value(v)]
    if not values:
        return "1 = 1"
    if widget.startswith("date/"):
        if len(values) != 1:
            raise RenderError(f"filter {tag.name!r} takes one date value, got {values!r}")
        lo, hi = date_bounds(values[0], today)
        parts = ([f"{column} >= {bind(lo)}"] if lo else []) + ([f"{column} <= {bind(hi)}"] if hi else [])
        return "(" + " and ".join(parts) + ")" if parts else "1 = 1"
    if widget.startswith("number/"):
        numbers = [_number(v) for v in values]
        if widget == "number/between":
            if len(numbers) != 2:
                raise RenderError(f"filter {tag.name!r} takes two numbers (min, max)")
            return f"{column} between {bind(numbers[0])} and {bind(numbers[1])}"
        if widget in ("number/>=", "number/<="):
            return f"{column} {widget[-2:]} {bind(numbers[0])}"
        listed = ", ".join(bind(n) for n in numbers)
        return f"{column} {'not in' if widget == 'number/!=' else 'in'} ({listed})"
    texts = [str(v) for v in values]
    if widget in ("string/=", "string/!="):
        listed = ", ".join(bind(t) for t in texts)
        return f"{column} {'not in' if widget == 'string/!=' else 'in'} ({listed})"
    pattern = {
        "string/contains": "%{}%",
        "string/does-not-contain": "%{}%",
        "string/starts-with": "{}%",
        "string/ends-with": "%{}",
    }[widget]
    escaped = [t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for t in texts]
    joiner, op = (" and ", "not ilike") if widget == "string/does-not-contain" else (" or ", "ilike")
    return "(" + joiner.join(f"{column} {op} {bind(pattern.format(t))}" for t in escaped) + ")"


def render_sql(
    card: CompiledCard, values: dict[str, Any] | None = None, today: date | None = None
) -> tuple[str, dict[str, Any]]:
    """The card's SQL for psycopg, with `values` (tag -> value, as Metabase sends them) bound.

    A field filter without a value becomes `1 = 1`; a selector without a value takes its default. Literal
    `%` is doubled, so always pass the returned dict to `execute`. `today` anchors relative date values
    (default: the system date).
    """
    values = dict(values or {})
    unknown = sorted(set(values) - {t.name for t in card.tags})
    if unknown:
        raise RenderError(f"card {card.key!r} has no filter(s) {', '.join(unknown)}")
    today = today or datetime.now(ZoneInfo(settings.reporting_timezone())).date()
    params: dict[str, Any] = {}

    def bind(value: Any) -> str:
        name = f"p{len(params)}"
        params[name] = value
        return f"%({name})s"

    def substitute(match: re.Match) -> str:
        tag = card.tag(match.group(1))
        value = values.get(tag.name)
        if tag.kind == "dimension":
            return _condition(tag, value, today, bind)
        chosen = value if _has_value(value) else tag.default
        if isinstance(chosen, (list, tuple)):
            chosen = chosen[0] if len(chosen) == 1 else chosen
        if chosen not in tag.options:
            raise RenderError(
                f"card {card.key!r}: {tag.display_name} must be one of {', '.join(tag.options)} (got {chosen!r})"
            )
        return bind(chosen)

    parts, pos = [], 0
    for match in _TAG.finditer(card.sql):
        parts.append(card.sql[pos : match.start()].replace("%", "%%"))
        parts.append(substitute(match))
        pos = match.end()
    parts.append(card.sql[pos:].replace("%", "%%"))
    return "".join(parts), params


def filter_value(f: DashboardFilter, filter_values: dict[str, Any]) -> tuple[Any, bool]:
    """(the value a dashboard filter applies, whether it is its default); (None, False) when it applies none."""
    value = filter_values.get(f.slug)
    if _has_value(value):
        return value, False
    return (f.default, True) if _has_value(f.default) else (None, False)


def card_values(
    dashboard: DashboardSpec, placement: Placement, filter_values: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The tag values a placed card runs with: each mapped filter's value, else the filter's default."""
    out: dict[str, Any] = {}
    for slug, tag in placement.mappings.items():
        value, _ = filter_value(dashboard.filter(slug), filter_values or {})
        if value is not None:
            out[tag] = value
    return out
