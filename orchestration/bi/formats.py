"""How the reports write numbers, dates and periods (tiles, tables, chart labels and the terminal alike).

A measure is written as its metric's presentation says (`config.meta` of the metric: format, decimals, unit,
suffix; compiled into `CompiledCard.presentation`): a *percent* is value x 100 with one decimal unless it says
otherwise (`31.6%`), a *currency* has its symbol in front (`$1,234.50`), a *duration* its unit after it (`2.5 h`),
a *number* with a unit (`leads`) shows the unit after a tile's big number only. Without decimals, integers and
integral decimals get thousands separators (`1,234`), other numbers two decimals (`0.67`). A card's Metabase
`column_settings` (`number_style`, `currency`, `decimals`, `prefix`, `suffix`) and, on a tile, `scalar.prefix`/
`scalar.suffix`, override only what they set. Instants (timestamps with a time zone) are written in the reporting
time zone; periods a query grouped by (dates, and timestamps at midnight) are calendar periods already and are
written as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from orchestration import settings
from orchestration.bi.compiled import CompiledCard, Presentation

# MetricFlow's standard time granularities, as the column names of `metric_time__<grain>` group-bys.
GRAINS = ("hour", "day", "week", "month", "quarter", "year")
ISO_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}  # other ISO codes are written as the code
DURATION_SUFFIXES = {"seconds": " s", "minutes": " min", "hours": " h", "days": " d"}
_STYLES = {"percent": "percent", "currency": "currency", "decimal": "number", "scientific": "number"}
# A status's tone (its dimension's `config.meta.statuses`) as a colour: Metabase's column formatting and the HTML
# table's status chips both take it from here. Dark ink (#102a43) on each reads at a contrast of 4.5:1 or more.
STATUS_COLOURS = {"good": "#84BB4C", "warning": "#F9CF48", "bad": "#ED6E6E", "unknown": "#A7A7A7"}


@dataclass(frozen=True)
class ColumnFormat:
    percent: bool = False
    decimals: int | None = None
    prefix: str = ""
    suffix: str = ""
    style: str = "number"  # number | percent | currency | duration (percent is True exactly for "percent")

    def d3(self) -> str:
        """The same rule as a d3-format string, for chart axes (a currency with d3's `$`, other affixes left out)."""
        if self.percent:
            return f".{1 if self.decimals is None else self.decimals}%"
        currency = "$" if self.style == "currency" and self.prefix == "$" else ""
        if self.decimals is not None:
            return f"{currency},.{self.decimals}f"
        return f"{currency},.2f" if currency else ",~r"


def currency_symbol(code: str) -> str:
    return CURRENCY_SYMBOLS.get(code, f"{code} ")


def presentation_format(p: Presentation | None, scalar: bool = False) -> ColumnFormat:
    """A metric's presentation as a column format; `scalar`: on a tile's big number (a count's unit shows)."""
    if p is None:
        return ColumnFormat()
    if p.format == "percent":
        return ColumnFormat(percent=True, decimals=p.decimals, suffix=p.suffix, style="percent")
    if p.format == "currency":
        return ColumnFormat(
            decimals=p.decimals, prefix=currency_symbol(p.unit or "USD"), suffix=p.suffix, style="currency"
        )
    if p.format == "duration":
        return ColumnFormat(
            decimals=p.decimals, suffix=DURATION_SUFFIXES[p.unit or "hours"] + p.suffix, style="duration"
        )
    return ColumnFormat(decimals=p.decimals, suffix=p.suffix + (f" {p.unit}" if scalar and p.unit else ""))


def _column_settings(card: CompiledCard, column: str) -> dict:
    """Metabase `column_settings` entry of a column (keys like '["name","col"]'), or {}."""
    for key, value in (card.visualization_settings.get("column_settings") or {}).items():
        try:
            ref = json.loads(key) if isinstance(key, str) else list(key)
        except ValueError:
            continue
        if isinstance(ref, list) and len(ref) >= 2 and ref[0] == "name" and ref[1] == column:
            return value if isinstance(value, dict) else {}
    return {}


def _overridden(fmt: ColumnFormat, settings: dict[str, Any], prefix_key: str, suffix_key: str) -> ColumnFormat:
    """`fmt` with what Metabase-style `settings` set (and only that)."""
    changes: dict[str, Any] = {}
    style = _STYLES.get(settings.get("number_style"))
    if style:
        changes.update(
            style=style,
            percent=style == "percent",
            prefix=currency_symbol(str(settings.get("currency") or "USD")) if style == "currency" else "",
        )
    decimals = settings.get("decimals")
    if isinstance(decimals, int) and not isinstance(decimals, bool):
        changes["decimals"] = decimals
    if settings.get(prefix_key) is not None:
        changes["prefix"] = str(settings[prefix_key])
    if settings.get(suffix_key) is not None:
        changes["suffix"] = str(settings[suffix_key])
    return replace(fmt, **changes)


def column_format(
    card: CompiledCard | None, column: str, scalar: bool = False, option: str | None = None
) -> ColumnFormat:
    """How a result column is written: its metric's presentation (for a selector's `value` column, that of
    `option`, the metric chosen), then what the card's `column_settings` for the column set, and on a tile
    (`scalar`) what its `scalar.prefix`/`scalar.suffix` set; a column that is no metric is a plain number."""
    if card is None:
        return ColumnFormat()
    fmt = presentation_format(card.presentation.get(option or column), scalar)
    if scalar:
        fmt = _overridden(fmt, card.visualization_settings, "scalar.prefix", "scalar.suffix")
    return _overridden(fmt, _column_settings(card, column), "prefix", "suffix")


def link_text(card: CompiledCard, column: str) -> str | None:
    """The text a column shown as a link (`view_as: link`) reads ("" for the URL itself); None when not a link."""
    settings = _column_settings(card, column)
    return str(settings.get("link_text") or "") if settings.get("view_as") == "link" else None


def status_colour(card: CompiledCard, column: str, value: Any) -> str | None:
    """The colour of a status value in a status column (None: not a status column, or a value without a tone)."""
    tone = card.statuses.get(column, {}).get(value) if isinstance(value, str) else None
    return STATUS_COLOURS[tone] if tone else None


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def tz() -> ZoneInfo:
    return ZoneInfo(settings.reporting_timezone())


def format_instant(value: datetime) -> str:
    """A moment in the reporting time zone, e.g. `2025-03-31 12:00 CDT`."""
    if value.tzinfo is None:
        return value.strftime("%Y-%m-%d %H:%M")
    return value.astimezone(tz()).strftime("%Y-%m-%d %H:%M %Z")


def as_period(value: Any) -> date | datetime | None:
    """A group-by value as a calendar period start: dates stay dates, midnight timestamps become dates
    (MetricFlow truncates local dates; a session in UTC hands them back as timestamptz), other timestamps
    keep their wall-clock time without conversion."""
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date()
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return value
    return None


def format_number(value: Any, fmt: ColumnFormat = ColumnFormat()) -> str:
    number = Decimal(str(value))
    if not number.is_finite():
        return str(value)
    if fmt.percent:
        return f"{number * 100:,.{1 if fmt.decimals is None else fmt.decimals}f}%"
    if fmt.decimals is not None:
        return f"{number:,.{fmt.decimals}f}"
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,.2f}"


def format_parts(value: Any, fmt: ColumnFormat = ColumnFormat()) -> tuple[str, str, str]:
    """(prefix, value, suffix); prefix and suffix are set for numbers only."""
    if value is None:
        return "", "—", ""
    if isinstance(value, bool):
        return "", ("Yes" if value else "No"), ""
    if is_number(value):
        if fmt.prefix and value < 0:  # -$1,234.00, not $-1,234.00
            return "-" + fmt.prefix, format_number(-value, fmt), fmt.suffix
        return fmt.prefix, format_number(value, fmt), fmt.suffix
    if isinstance(value, datetime):
        return "", format_instant(value), ""
    if isinstance(value, date):
        return "", value.isoformat(), ""
    return "", str(value), ""


def format_value(value: Any, fmt: ColumnFormat = ColumnFormat()) -> str:
    return "".join(format_parts(value, fmt))


def format_dimension(value: Any) -> str:
    """A group-by value as a label: periods as dates (or date and hour), `(none)` for null."""
    if value is None:
        return "(none)"
    period = as_period(value)
    if isinstance(period, datetime):
        return period.strftime("%Y-%m-%d %H:%M")
    if isinstance(period, date):
        return period.isoformat()
    return format_value(value)


def format_day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def format_date_range(first: date, last: date) -> str:
    """`31 Mar 2025`, `1–31 Mar 2025`, `25 Mar – 1 Apr 2025`, `28 Dec 2024 – 3 Jan 2025`."""
    if first == last:
        return format_day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {format_day(last)}"
    return f"{format_day(first)} – {format_day(last)}"


def period_end(start: date, grain: str) -> date:
    """The last day of the period of `grain` that starts on `start`."""
    if grain == "day":
        return start
    if grain == "week":
        return start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    year, month = divmod(start.month - 1 + months, 12)
    return date(start.year + year, month + 1, 1) - timedelta(days=1)


def period_name(start: date, grain: str | None) -> str:
    """`week of 24 Mar 2025`, `Mar 2025`, `Q1 2025`, `2025`, `31 Mar 2025`."""
    if grain == "week":
        return f"week of {format_day(start)}"
    if grain == "month":
        return f"{start:%b %Y}"
    if grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    if grain == "year":
        return str(start.year)
    return format_day(start)
