"""Locations of the lead-automation CRM and their working calendars (opening hours and holidays from the dbt
seeds `crm_business_hours` and `crm_holidays`, so the generator and the warehouse share one calendar).

Human work is placed in "business time": the opening intervals of a location, DST-correct through its IANA zone.
A position on that axis is the number of (weighted) open seconds since the first interval; sampling between two
positions and mapping back gives times that only fall inside opening hours.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from orchestration import settings
from orchestration.ingestion.generator.core import DAY

# (location_id, name, index of the organisation in web1on1.ORG_NAMES, IANA zone, share of the leads)
LOCATIONS = [
    ("LOC-CHI", "Chicago Loop", 0, "America/Chicago", 45),
    ("LOC-NYC", "Manhattan", 0, "America/New_York", 35),
    ("LOC-LAX", "Los Angeles", 1, "America/Los_Angeles", 20),
]
# relative amount of human work per ISO weekday (Mon..Fri): Tuesday and Wednesday busiest
WEEKDAY_WEIGHT = {1: 1.0, 2: 1.15, 3: 1.15, 4: 1.0, 5: 0.8}


def _seed_rows(name: str) -> list[dict[str, str]]:
    path = Path(settings.DBT_PROJECT_DIR) / "seeds" / f"{name}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@dataclass(frozen=True)
class LocationCalendar:
    """Opening intervals [opens, closes) in UTC epoch seconds of one location, with cumulative open seconds."""

    zone: str
    opens: np.ndarray
    closes: np.ndarray
    weight: np.ndarray
    cum_plain: np.ndarray  # open seconds before each interval (len + 1)
    cum_weighted: np.ndarray  # weekday-weighted open seconds before each interval (len + 1)

    def position(self, ts: np.ndarray, weighted: bool = False) -> np.ndarray:
        cum = self.cum_weighted if weighted else self.cum_plain
        w = self.weight if weighted else np.ones(len(self.opens))
        idx = np.searchsorted(self.opens, ts, side="right") - 1
        inside = np.clip(ts - self.opens[np.maximum(idx, 0)], 0, (self.closes - self.opens)[np.maximum(idx, 0)])
        return np.where(idx < 0, 0.0, cum[np.maximum(idx, 0)] + inside * w[np.maximum(idx, 0)])

    def at(self, pos: np.ndarray, weighted: bool = False) -> np.ndarray:
        """The instant at a business-time position (past the last interval: its closing second)."""
        cum = self.cum_weighted if weighted else self.cum_plain
        w = self.weight if weighted else np.ones(len(self.opens))
        idx = np.clip(np.searchsorted(cum, pos, side="right") - 1, 0, len(self.opens) - 1)
        ts = self.opens[idx] + ((pos - cum[idx]) / w[idx]).astype(np.int64)
        return np.clip(ts, self.opens[idx], self.closes[idx] - 1)

    def is_open(self, ts: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.opens, ts, side="right") - 1
        return (idx >= 0) & (ts < self.closes[np.maximum(idx, 0)])

    def working_days(self) -> np.ndarray:
        """Local dates (days since the epoch) with an opening interval."""
        zone = ZoneInfo(self.zone)
        return np.array(
            [(datetime.fromtimestamp(int(o), UTC).astimezone(zone).date() - date(1970, 1, 1)).days for o in self.opens],
            np.int64,
        )


def calendars(first_day: date, last_day: date) -> dict[str, LocationCalendar]:
    """Each location's opening intervals for local dates first_day..last_day."""
    hours: dict[str, dict[int, tuple[time, time]]] = {}
    for r in _seed_rows("crm_business_hours"):
        hours.setdefault(r["location_id"], {})[int(r["iso_weekday"])] = (
            time.fromisoformat(r["opens_at"]),
            time.fromisoformat(r["closes_at"]),
        )
    holidays: dict[str, set[date]] = {}
    for r in _seed_rows("crm_holidays"):
        holidays.setdefault(r["location_id"], set()).add(date.fromisoformat(r["holiday_date"]))
    out = {}
    for loc_id, _, _, tz, _ in LOCATIONS:
        zone = ZoneInfo(tz)
        closed = holidays.get("*", set()) | holidays.get(loc_id, set())
        opens, closes, weight = [], [], []
        d = first_day
        while d <= last_day:
            span = hours.get(loc_id, {}).get(d.isoweekday())
            if span is not None and d not in closed:
                opens.append(int(datetime.combine(d, span[0], zone).timestamp()))
                closes.append(int(datetime.combine(d, span[1], zone).timestamp()))
                weight.append(WEEKDAY_WEIGHT.get(d.isoweekday(), 0.5))
            d += timedelta(days=1)
        o, c, w = np.array(opens, np.int64), np.array(closes, np.int64), np.array(weight)
        out[loc_id] = LocationCalendar(
            tz,
            o,
            c,
            w,
            np.concatenate([[0.0], np.cumsum(c - o)]).astype(float),
            np.concatenate([[0.0], np.cumsum((c - o) * w)]),
        )
    return out


def day_of(ts: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(ts // DAY))
