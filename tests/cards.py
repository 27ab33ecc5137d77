"""Running a placed card as Metabase runs it (its dashboard's filter values, else the defaults, bound to its tags)
against a fixture warehouse, with the dashboard runner the HTML report uses (orchestration/bi/run.py), and the rows
in the form the hand-computed expectations are written in."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from orchestration import warehouse
from orchestration.bi import compiled as c
from orchestration.bi import run
from orchestration.bi.compiled import CompiledCard
from orchestration.bi.specs import DashboardSpec, Placement

FOUR_PLACES = Decimal("0.0001")


def normalised_value(value: Any) -> Any:
    """A midnight timestamp (MetricFlow's day, week and month buckets) as its date; a float or a fraction to 4
    places (ROUND_HALF_EVEN, the precision hand values are written in); anything else as it is."""
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and value != value.to_integral():
        return value.quantize(FOUR_PLACES, ROUND_HALF_EVEN)
    return value


def normalised(rows: list[tuple]) -> list[tuple]:
    return [tuple(normalised_value(v) for v in row) for row in rows]


def dashcard_rows(
    info: warehouse.ConnectionInfo,
    card: CompiledCard,
    dashboard: DashboardSpec,
    placement: Placement,
    filter_values: dict | None,
    today: date,
) -> list[tuple]:
    with warehouse.connect(info) as conn:
        _, rows = run.execute(conn, card, c.card_values(dashboard, placement, filter_values or {}), today)
    return normalised(rows)
