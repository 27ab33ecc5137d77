"""The dashboard runner: a dashboard's compiled cards run against the warehouse as Metabase runs them.

One READ ONLY transaction per dashboard, a savepoint per card, a statement timeout per query. The SQL is the
card's compiled SQL (`compiled.render_sql` + `compiled.card_values`), so the HTML report, the terminal
summary (`pipeline.format_minimal_dashboard`) and the card tests (tests/cards.py) run exactly what Metabase runs.

Filters are checked before any card runs (`FilterError`, one line): unknown slugs list the valid ones, dates
are parsed, text values are matched against the values of the filtered column ignoring case (and written as
the data spells them). A card that fails stops the run (`ReportError`, naming the tile and the reason).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from orchestration import warehouse
from orchestration.bi import formats
from orchestration.bi.compiled import CompiledCard, RenderError, Window, card_values, date_bounds, render_sql
from orchestration.bi.specs import DashboardFilter, DashboardSpec, Placement
from orchestration.warehouse import ConnectionInfo, first_line

log = logging.getLogger(__name__)

MAX_ROWS = 5000  # rows fetched per card; a tile says when the query returned more
STATEMENT_TIMEOUT = "60s"  # per card query
VALUES_LISTED = 25  # distinct values named when a filter value does not exist


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
    """The dates of a calendar window as of the run's as-of moment."""

    window: Window
    first: date | None
    last: date | None
    days: int

    def dates(self) -> str:
        """`1–31 Mar 2025 (31 days)`."""
        if self.first is None or self.last is None:
            return "no dates"
        n = f"{self.days} day{'s' if self.days != 1 else ''}"
        return f"{formats.format_date_range(self.first, self.last)} ({n})"

    def text(self) -> str:
        """`This month to date: 1–31 Mar 2025 (31 days)`."""
        return f"{self.window.label}: {self.dates()}"


@dataclass
class DashboardRun:
    """What running a dashboard's cards gave: the results (reading order), the as-of moment, the validated
    filter values (as the data spells them) and the dates of the calendar windows the cards' metrics use."""

    results: list[CardResult]
    as_of: datetime | None
    filters: dict[str, Any]
    windows: dict[Window, WindowDates]

    @property
    def today(self) -> date:
        return as_of_date(self.as_of)


# ---------------------------------------------------------------- filter values


def parse_filter_args(items: Sequence[str]) -> dict[str, list[str]]:
    """`--filter` arguments (`slug=value`, `slug=a,b`, repeated slugs add values) as slug -> values."""
    out: dict[str, list[str]] = {}
    for item in items:
        slug, sep, value = item.partition("=")
        slug = slug.strip()
        if not sep or not slug:
            raise FilterError(
                f"--filter takes SLUG=VALUE: one of the dashboard's filter slugs and a value (got {item!r})"
            )
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:
            raise FilterError(f"--filter {slug}= has no value")
        out.setdefault(slug, []).extend(values)
    return out


def as_list(value: Any) -> list[str]:
    """A filter value as a list of texts (none for an empty value)."""
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


def unknown_filters(dashboard: DashboardSpec, unknown: Sequence[str]) -> FilterError:
    valid = "; ".join(filter_help(f) for f in dashboard.filters) or "none"
    return FilterError(
        f"dashboard {dashboard.key!r} has no filter {', '.join(repr(u) for u in unknown)}; its filters: {valid}"
    )


def _fed_tags(dashboard: DashboardSpec, cards: dict[str, CompiledCard], slug: str):
    for p in dashboard.cards:
        if p.card and slug in p.mappings:
            yield cards[p.card].tag(p.mappings[slug])


def _match_values(
    conn, dashboard: DashboardSpec, cards: dict[str, CompiledCard], f: DashboardFilter, values: list[str]
) -> list[str]:
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
            found = conn.execute(
                sql.SQL("select distinct {c}::text from {t} where lower({c}::text) = any(%s)").format(
                    c=column, t=table
                ),
                [lowered],
            ).fetchall()
        for (value,) in found:
            known.setdefault(value.lower(), []).append(value)
        if any(v not in known for v in lowered):
            with conn.transaction():
                listing += [
                    v
                    for (v,) in conn.execute(
                        sql.SQL("select distinct {c}::text from {t} where {c} is not null order by 1 limit %s").format(
                            c=column, t=table
                        ),
                        [VALUES_LISTED + 1],
                    ).fetchall()
                ]
    missing = [v for v, low in zip(values, lowered, strict=True) if low not in known]
    if missing:
        shown = sorted(dict.fromkeys(listing))
        more = ", …" if len(shown) > VALUES_LISTED else ""
        raise FilterError(
            f"{f.slug}: no {', '.join(repr(m) for m in missing)} in {f.name} (its values: "
            f"{', '.join(shown[:VALUES_LISTED]) or 'none'}{more})"
        )
    return list(dict.fromkeys(s for low in lowered for s in known[low]))


def validate_filters(
    conn, dashboard: DashboardSpec, cards: dict[str, CompiledCard], raw: dict[str, Any] | None, today: date
) -> dict[str, Any]:
    """The given filter values checked and normalised (slug -> value or list of values)."""
    raw = dict(raw or {})
    known = {f.slug: f for f in dashboard.filters}
    unknown = [s for s in raw if s not in known]
    if unknown:
        raise unknown_filters(dashboard, unknown)
    out: dict[str, Any] = {}
    for slug, given in raw.items():
        f, values = known[slug], as_list(given)
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
        values = as_list(filters.get(f.slug))
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
    query = sql.SQL("select {c} from {t} limit 2").format(
        c=sql.Identifier(dashboard.as_of.column), t=sql.Identifier(schema, table)
    )
    try:
        with conn.transaction():
            rows = conn.execute(query).fetchall()
    except psycopg.Error as exc:
        raise ReportError(
            f"dashboard {dashboard.key!r}: cannot read its as-of moment from "
            f"{dashboard.as_of.table}.{dashboard.as_of.column}: {first_line(exc)}"
        ) from None
    if len(rows) != 1 or not isinstance(rows[0][0], datetime):
        raise ReportError(
            f"dashboard {dashboard.key!r}: {dashboard.as_of.table} must hold one row with a "
            f"timestamp in {dashboard.as_of.column} (found {len(rows)} row(s))"
        )
    return rows[0][0]


def as_of_date(as_of: datetime | None) -> date:
    """The as-of moment's date in the reporting time zone (relative date filters count from it)."""
    return (as_of or datetime.now(UTC)).astimezone(formats.tz()).date()


def execute(
    conn, card: CompiledCard, values: dict[str, Any], today: date, limit: int | None = None
) -> tuple[list[str], list[tuple]]:
    """The card's columns and rows for the tag `values` (at most `limit` + 1 rows when a limit is given),
    in a savepoint. RenderError for a value its tags do not take; psycopg's error when the query fails."""
    query, params = render_sql(card, values, today=today)
    with conn.transaction():
        cursor = conn.execute(query, params)
        columns = [d.name for d in cursor.description or []]
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit + 1)
    return columns, [tuple(r) for r in rows]


def _selector_options(card: CompiledCard) -> list[tuple[str | None, str | None]]:
    """(tag, option) pairs to run: each option of a metric selector, or the card once."""
    tag = card.selector
    return [(tag.name, option) for option in tag.options] if tag else [(None, None)]


def run_card(
    conn,
    dashboard: DashboardSpec,
    placement: Placement,
    card: CompiledCard,
    filter_values: dict[str, Any],
    today: date,
    every_option: bool = True,
) -> list[CardResult]:
    """Run one placed card, in a savepoint; ReportError when it fails. A card with a metric selector runs once per
    option (a page shows each), or with `every_option=False` once, with the option the dashboard's filters choose
    (what a BI tool runs when the dashboard is opened)."""
    import psycopg

    chosen = card_values(dashboard, placement, filter_values)
    runs = _selector_options(card)
    if card.selector and not every_option:  # the dashboard's choice, else the selector's default (as render_sql)
        runs = [(card.selector.name, chosen.get(card.selector.name) or card.selector.default)]
    results = []
    for tag, option in runs:
        values = dict(chosen)
        if tag:
            values[tag] = option
        started = time.perf_counter()
        try:
            columns, rows = execute(conn, card, values, today, MAX_ROWS)
        except RenderError as exc:
            raise ReportError(f"tile {card.name!r} ({card.key}): {exc}") from None
        except psycopg.Error as exc:
            raise ReportError(f"tile {card.name!r} ({card.key}) failed: {first_line(exc)}") from None
        ms = (time.perf_counter() - started) * 1000
        log.info(
            "dashboard %s, card %s%s: %d row(s) in %.1f ms",
            dashboard.key,
            card.key,
            f" [{option}]" if option else "",
            len(rows),
            ms,
        )
        results.append(CardResult(placement, card, option, columns, rows[:MAX_ROWS], ms, len(rows) > MAX_ROWS, values))
    return results


def window_dates(conn, windows: Sequence[Window]) -> dict[Window, WindowDates]:
    """First and last date and number of dates of each calendar window."""
    from psycopg import sql

    out = {}
    for w in dict.fromkeys(windows):
        schema, table = w.table.split(".")
        query = sql.SQL("select min({d}), max({d}), count(*) from {t} where {f}").format(
            d=sql.Identifier(w.date_column), t=sql.Identifier(schema, table), f=sql.Identifier(w.flag_column)
        )
        with conn.transaction():
            first, last, days = conn.execute(query).fetchone()
        out[w] = WindowDates(w, first, last, int(days))
    return out


def reading_order(dashboard: DashboardSpec) -> list[Placement]:
    if not dashboard.tabs:
        return dashboard.placements()
    return [p for t in dashboard.tabs for p in dashboard.placements(t.key)]


def run_dashboard(
    info: ConnectionInfo,
    cards: dict[str, CompiledCard],
    dashboard: DashboardSpec,
    placements: Sequence[Placement] | None = None,
    filters: dict[str, Any] | None = None,
) -> DashboardRun:
    """Run the dashboard's placed cards (default all, in reading order) with validated filters."""
    with read_only(info) as conn:
        return run_dashboard_on(conn, cards, dashboard, placements, filters)


def run_dashboard_on(
    conn,
    cards: dict[str, CompiledCard],
    dashboard: DashboardSpec,
    placements: Sequence[Placement] | None = None,
    filters: dict[str, Any] | None = None,
    every_option: bool = True,
) -> DashboardRun:
    """`run_dashboard` on an open read-only connection (`read_only`), e.g. one a caller keeps for several runs;
    `every_option` as in `run_card`."""
    placements = [p for p in (placements if placements is not None else reading_order(dashboard)) if p.card]
    as_of = read_as_of(conn, dashboard)
    today = as_of_date(as_of)
    filter_values = validate_filters(conn, dashboard, cards, filters, today)
    results = []
    for p in placements:
        results += run_card(conn, dashboard, p, cards[p.card], filter_values, today, every_option)
    windows = window_dates(conn, [w for p in placements for m in cards[p.card].metrics for w in m.windows])
    return DashboardRun(results, as_of, filter_values, windows)
