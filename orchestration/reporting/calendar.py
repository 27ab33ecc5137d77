"""When a report is due, and which period it covers, on the reporting calendar.

Fire times are local wall-clock times turned into instants with zoneinfo, one per local day: a time that a
spring-forward night skips moves to the first instant after the gap, and a time a fall-back night repeats is its
first occurrence (fold=0), so a DST day neither skips nor doubles a send. "2nd business day" is counted on the
holidays seed (seeds/crm_holidays.csv, rows for every location `*`), because no cron expression can say it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from orchestration import settings

HOLIDAYS_SEED = settings.PROJECT_ROOT / "seeds" / "crm_holidays.csv"
Cadence = Literal["daily", "weekly", "monthly"]


@lru_cache(maxsize=4)
def holidays(path: Path = HOLIDAYS_SEED, location: str = "*") -> frozenset[date]:
    """The closed days of `location` (the seed's `*` rows hold for every location)."""
    with path.open(newline="") as f:
        return frozenset(
            date.fromisoformat(r["holiday_date"]) for r in csv.DictReader(f) if r["location_id"] in ("*", location)
        )


def is_business_day(day: date, closed: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in closed


def nth_business_day(year: int, month: int, n: int, closed: frozenset[date]) -> date:
    day, seen = date(year, month, 1), 0
    while True:
        if is_business_day(day, closed):
            seen += 1
            if seen == n:
                return day
        day += timedelta(days=1)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `zone`, as a UTC instant. fold=0 reads a repeated (fall-back) time as its first
    occurrence, and a skipped (spring-forward) time with the offset before the gap, which lands just after it:
    02:30 on the spring-forward night is 03:30 daylight time. Either way one instant per day."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """The local dates a report covers: [first, last], with a stable key for the ledger."""

    cadence: Cadence
    first: date
    last: date

    @property
    def key(self) -> str:
        if self.cadence == "daily":
            return self.first.isoformat()
        if self.cadence == "weekly":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return self.first.strftime("%Y-%m")

    @property
    def label(self) -> str:
        if self.cadence == "daily":
            return f"{self.first:%a} {self.first.day} {self.first:%b %Y}"
        if self.cadence == "weekly":
            return f"week {self.key[-2:]}, {self.first.day} {self.first:%b} – {self.last.day} {self.last:%b %Y}"
        return f"{self.first:%B %Y}"


@dataclass(frozen=True)
class Schedule:
    cadence: Cadence
    at: time
    zone: str
    weekday: int = 0  # weekly: 0 = Monday
    business_day: int = 2  # monthly: the n-th business day

    def fire_day(self, day: date, closed: frozenset[date]) -> bool:
        if self.cadence == "daily":
            return True
        if self.cadence == "weekly":
            return day.weekday() == self.weekday
        return day == nth_business_day(day.year, day.month, self.business_day, closed)

    def fire_times(self, start: datetime, end: datetime, closed: frozenset[date] | None = None) -> Iterator[datetime]:
        """Every send instant in [start, end) (UTC), in order."""
        closed = holidays() if closed is None else closed
        zone = ZoneInfo(self.zone)
        day = start.astimezone(zone).date() - timedelta(days=1)
        while True:
            if self.fire_day(day, closed):
                moment = local_instant(day, self.at, zone)
                if moment >= end:
                    return
                if moment >= start:
                    yield moment
            elif local_instant(day, self.at, zone) >= end:
                return
            day += timedelta(days=1)

    def last_fire(self, before: datetime, closed: frozenset[date] | None = None) -> datetime:
        """The latest send instant at or before `before`."""
        lookback = {"daily": 2, "weekly": 8, "monthly": 40}[self.cadence]
        times = list(self.fire_times(before - timedelta(days=lookback), before + timedelta(microseconds=1), closed))
        return times[-1]

    def period(self, fire: datetime) -> Period:
        """The period a send at `fire` covers: the local day, ISO week or month before the send's local date."""
        day = fire.astimezone(ZoneInfo(self.zone)).date()
        if self.cadence == "daily":
            return Period("daily", day - timedelta(days=1), day - timedelta(days=1))
        if self.cadence == "weekly":
            monday = day - timedelta(days=day.weekday()) - timedelta(days=7)
            return Period("weekly", monday, monday + timedelta(days=6))
        last = day.replace(day=1) - timedelta(days=1)
        return Period("monthly", last.replace(day=1), last)

    def cron(self) -> str:
        """The cron the Dagster schedule ticks on (in `zone`); a monthly tick on days 1-7 checks the business day
        in code, since a day-of-month plus a day-of-week in cron is an OR, not an AND."""
        hh, mm = self.at.hour, self.at.minute
        if self.cadence == "daily":
            return f"{mm} {hh} * * *"
        if self.cadence == "weekly":
            return f"{mm} {hh} * * {(self.weekday + 1) % 7}"
        return f"{mm} {hh} 1-7 * *"
