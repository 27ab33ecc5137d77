"""Shared building blocks: the time model (weekday/working-hour peaks in the reporting time
zone), table data holders, versioned records, ObjectIds and contact details written inconsistently.

Timestamps are int64 UTC epoch seconds throughout (`NULL_INT` marks a null); dates are int64 days
since the epoch; text columns are object arrays holding str or None; numeric columns are float
arrays with NaN as null; boolean columns are bool arrays (or object arrays with None).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from orchestration.ingestion.generator.config import GeneratorConfig

NULL_INT = np.iinfo(np.int64).min
DAY = 86_400
HOUR = 3_600
MINUTE = 60

# Relative activity per local weekday (Mon..Sun) and local hour, per profile.
_PROFILES: dict[str, tuple[list[float], list[float]]] = {
    # office work: agents, CRM, campaign uploads, blasts (peaks 8-12 and 13-16, Tue/Wed busiest)
    "business": (
        [1.0, 1.15, 1.15, 1.0, 0.85, 0.18, 0.1],
        [
            0.02,
            0.02,
            0.02,
            0.02,
            0.03,
            0.05,
            0.12,
            0.35,
            0.9,
            1.0,
            1.0,
            0.95,
            0.75,
            0.9,
            0.95,
            0.9,
            0.7,
            0.45,
            0.25,
            0.18,
            0.12,
            0.08,
            0.05,
            0.03,
        ],
    ),
    # consumers on websites and messaging apps: daytime and evening, weekdays still busier
    "consumer": (
        [1.0, 1.05, 1.05, 1.0, 0.9, 0.55, 0.45],
        [
            0.08,
            0.05,
            0.04,
            0.04,
            0.05,
            0.1,
            0.25,
            0.45,
            0.75,
            0.95,
            1.0,
            1.0,
            0.95,
            0.95,
            0.95,
            0.9,
            0.85,
            0.75,
            0.7,
            0.7,
            0.6,
            0.45,
            0.3,
            0.15,
        ],
    ),
}


def stable_hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def rng_for(seed: int, name: str) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, name)."""
    return np.random.default_rng([seed, stable_hash(name)])


class Clock:
    """Samples event times with realistic weekly/daily shape between `start` and `end` (UTC epoch s).

    Every hour of the period gets a weight (profile weekday x hour factor in the reporting time
    zone, times a gentle growth trend); sampling inverts the cumulative weight, so per-row lower and
    upper bounds (e.g. "after the lead arrived, within 3 days") keep the shape too.
    """

    def __init__(self, start: int, end: int, tz: str) -> None:
        self.start, self.end = start, end
        self.hours = np.arange(start, end, HOUR, dtype=np.int64)
        zone = ZoneInfo(tz)
        dows, hrs = [], []
        for h in self.hours.tolist():
            local = datetime.fromtimestamp(h, UTC).astimezone(zone)
            dows.append(local.weekday())
            hrs.append(local.hour)
        self.local_dow = np.array(dows)
        self.local_hour = np.array(hrs)
        trend = np.linspace(0.75, 1.25, len(self.hours))
        self._cum: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, (dow_w, hour_w) in _PROFILES.items():
            w = np.array(dow_w)[self.local_dow] * np.array(hour_w)[self.local_hour] * trend
            self._cum[name] = (w, np.concatenate([[0.0], np.cumsum(w)]))

    def _position(self, ts: np.ndarray, profile: str) -> np.ndarray:
        w, cum = self._cum[profile]
        ts = np.clip(ts, self.start, self.end)
        idx = np.minimum((ts - self.start) // HOUR, len(w) - 1)
        frac = np.clip((ts - self.start - idx * HOUR) / HOUR, 0.0, 1.0)
        return cum[idx] + w[idx] * frac

    def before_end(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray | int) -> np.ndarray:
        """Which of the events due somewhere in [lo, hi) happen before the end of the data, drawn by the share of
        each window before it. `sample` clips its windows to the end, which would pile every late event onto
        the last days; drop the others first."""
        share = np.clip((self.end - lo) / np.maximum(hi - lo, 1), 0.0, 1.0)
        return rng.random(len(lo)) < share

    def sample(
        self,
        rng: np.random.Generator,
        n: int,
        profile: str = "business",
        lo: np.ndarray | int | None = None,
        hi: np.ndarray | int | None = None,
    ) -> np.ndarray:
        """n timestamps, each within [lo, hi) (scalars or per-row arrays; default: whole period)."""
        w, cum = self._cum[profile]
        lo_arr = np.full(n, self.start, np.int64) if lo is None else np.broadcast_to(np.asarray(lo, np.int64), (n,))
        hi_arr = np.full(n, self.end, np.int64) if hi is None else np.broadcast_to(np.asarray(hi, np.int64), (n,))
        hi_arr = np.minimum(hi_arr, self.end)
        lo_arr = np.clip(lo_arr, self.start, self.end)
        p_lo, p_hi = self._position(lo_arr, profile), self._position(hi_arr, profile)
        u = p_lo + rng.random(n) * (p_hi - p_lo)
        idx = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(w) - 1)
        frac = np.clip((u - cum[idx]) / w[idx], 0.0, 0.999999)
        ts = self.start + idx * HOUR + (frac * HOUR).astype(np.int64)
        return np.clip(ts, lo_arr, np.maximum(hi_arr - 1, lo_arr))


@dataclass
class TableData:
    """Rows of one raw table; `file_ts` (UTC epoch s) picks each row's monthly file and its order."""

    columns: dict[str, np.ndarray]
    file_ts: np.ndarray

    def __len__(self) -> int:
        return len(self.file_ts)


def month_index(ts: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of UTC epoch seconds."""
    return np.asarray(ts, np.int64).astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)


def obj(values) -> np.ndarray:
    """An object array (text column) from any sequence."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def pick(rng: np.random.Generator, choices: list, p: list[float] | None, n: int) -> np.ndarray:
    """n draws from `choices` (object array) with probabilities p."""
    probs = None if p is None else np.asarray(p, float) / np.sum(p)
    return obj(choices)[rng.choice(len(choices), size=n, p=probs)]


def null_where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copy of a column with nulls where mask is true (object arrays get None, int64 NULL_INT, floats NaN)."""
    out = values.copy()
    if out.dtype == object:
        out[mask] = None
    elif out.dtype.kind == "f":
        out[mask] = np.nan
    elif out.dtype.kind in "iu":
        out[mask] = NULL_INT
    else:
        out = out.astype(object)
        out[mask] = None
    return out


def object_ids(ts: np.ndarray, machine: int, first_counter: int = 0) -> np.ndarray:
    """MongoDB ObjectIds: 4-byte creation time, 5-byte machine/process value, 3-byte counter."""
    counters = (np.arange(len(ts)) + first_counter) % 0xFFFFFF
    return obj(
        [f"{t:08x}{machine:010x}{c:06x}" for t, c in zip(np.asarray(ts).tolist(), counters.tolist(), strict=False)]
    )


def prefixed_ids(prefix: str, n: int, start: int = 1, width: int = 6) -> np.ndarray:
    return obj([f"{prefix}{i:0{width}d}" for i in range(start, start + n)])


def versioned(
    first: dict[str, np.ndarray],
    first_ts: np.ndarray,
    second: dict[str, np.ndarray],
    second_ts: np.ndarray,
    changed: np.ndarray,
    version_column: str = "updated_at",
) -> TableData:
    """Records that may change after they first appear.

    Every entity gets its first version (columns `first`, version time `first_ts`); entities where
    `changed` get a second version (`second`, `second_ts`). When both fall in the same calendar
    month only the second is exported, as a monthly export of current state would.
    """
    same_month = changed & (month_index(first_ts) == month_index(second_ts))
    keep_first = ~same_month
    cols: dict[str, np.ndarray] = {}
    for name in first:
        cols[name] = np.concatenate([first[name][keep_first], second[name][changed]])
    file_ts = np.concatenate([first_ts[keep_first], second_ts[changed]])
    cols[version_column] = file_ts
    return TableData(cols, file_ts)


# ------------------------------------------------------------------------------------- people

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Luis",
    "Ashley",
    "Kevin",
    "Emily",
    "Brian",
    "Donna",
    "George",
    "Michelle",
    "Maria",
    "Wei",
    "Aisha",
    "Priya",
    "Omar",
    "Sofia",
    "Mike",
    "Lisa",
    "Sam",
    "Olivia",
    "Noah",
    "Emma",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Hill",
    "Flores",
    "O'Brien",
    "Kowalski",
    "Patel",
    "Chen",
    "Novak",
    "Schmidt",
]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com", "comcast.net"]
AREA_CODES = [312, 773, 630, 847, 708, 214, 469, 512, 713, 414, 612, 314, 816, 402, 615]


@dataclass
class People:
    """A pool of people (name, canonical e-mail, 10-digit phone)."""

    names: np.ndarray
    emails: np.ndarray
    phones: np.ndarray  # 10 digits as str


def make_people(rng: np.random.Generator, n: int, tag: str) -> People:
    first = pick(rng, FIRST_NAMES, None, n)
    last = pick(rng, LAST_NAMES, None, n)
    dom = pick(rng, EMAIL_DOMAINS, [30, 15, 15, 12, 10, 5, 5], n)
    num = rng.integers(1, 999, n)
    area = pick(rng, AREA_CODES, None, n)
    line = rng.integers(100, 9999, n)
    exch = rng.integers(200, 999, n)
    names = obj([f"{f} {surname}" for f, surname in zip(first, last, strict=True)])
    emails = obj(
        [
            f"{f.lower()}.{surname.lower().replace(chr(39), '')}{k}.{tag}@{d}"
            for f, surname, k, d in zip(first, last, num.tolist(), dom, strict=True)
        ]
    )
    phones = obj([f"{a}{e:03d}{x:04d}" for a, e, x in zip(area, exch.tolist(), line.tolist(), strict=False)])
    return People(names, emails, phones)


def format_phones(rng: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """Phones as people type them: '+1 (312) 555-0100', '312-555-0100', '(312) 555-0100', ..."""
    style = rng.choice(6, size=len(digits), p=[0.3, 0.25, 0.15, 0.12, 0.1, 0.08])
    out = []
    for d, s in zip(digits, style.tolist(), strict=False):
        if d is None:
            out.append(None)
            continue
        a, b, c = d[:3], d[3:6], d[6:]
        out.append((f"+1 ({a}) {b}-{c}", f"{a}-{b}-{c}", f"({a}) {b}-{c}", f"{d}", f"+1{d}", f"{a}.{b}.{c}")[s])
    return obj(out)


def format_emails(rng: np.random.Generator, emails: np.ndarray, messy_share: float) -> np.ndarray:
    """E-mails as typed: most lower case; some Capitalised, UPPER CASE or with stray spaces."""
    style = rng.choice(
        4, size=len(emails), p=[1 - messy_share, messy_share * 0.45, messy_share * 0.2, messy_share * 0.35]
    )
    out = []
    for e, s in zip(emails, style.tolist(), strict=False):
        if e is None:
            out.append(None)
        elif s == 0:
            out.append(e)
        elif s == 1:
            out.append(e[:1].upper() + e[1:])
        elif s == 2:
            out.append(e.upper())
        else:
            out.append(f" {e} ")
    return obj(out)


def repeat_people(rng: np.random.Generator, n: int, pool: People, repeat_share: float) -> np.ndarray:
    """For n records, an index into the people pool where ~repeat_share reuse an earlier record's person."""
    idx = np.arange(n) % len(pool.names)
    rep = np.flatnonzero(rng.random(n) < repeat_share)
    rep = rep[rep > 0]
    idx[rep] = idx[(rng.random(len(rep)) * rep).astype(np.int64)]
    return idx


def utc_epoch(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


class Context:
    """What every source builder needs: the config, the period and the clock (in the reporting time zone)."""

    def __init__(self, cfg: GeneratorConfig, end_date: date, timezone: str) -> None:
        self.cfg = cfg
        self.seed = cfg.seed
        self.volume = cfg.volume
        self.organizations = max(1, cfg.organizations)
        first_month = end_date.year * 12 + end_date.month - 1 - (max(1, cfg.months) - 1)
        self.start = utc_epoch(first_month // 12, first_month % 12 + 1, 1)
        self.end = utc_epoch(end_date.year, end_date.month, end_date.day) + DAY  # exclusive: end of end_date (UTC)
        self.clock = Clock(self.start, self.end, timezone)

    @property
    def scale(self) -> float:
        """Volume times the length of the period in units of 24 months."""
        return self.volume * (self.end - self.start) / (730 * DAY)

    def scaled(self, base: float) -> int:
        """An event count scaled by volume and by the length of the period (base = per 24 months)."""
        return max(1, round(base * self.scale))
