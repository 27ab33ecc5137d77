"""Report specs as code: metabase/reports/<key>.yml, one report a file (a new report is a new file, no code), and
the people they go to (metabase/recipients.yml). Validated with pydantic (unknown keys rejected); a spec naming a
dashboard, card or filter that does not exist fails in one line naming the file."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration import settings
from orchestration.reporting.calendar import Schedule

SPECS_DIR = settings.PROJECT_ROOT / "metabase"
ID = re.compile(r"^s\d{3}\.[a-z0-9_.]+$")


class ReportSpecError(ValueError):
    """A report spec that cannot be used; one line naming the file."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSpec(_Spec):
    cadence: Literal["daily", "weekly", "monthly"]
    at: str = Field(pattern=r"^\d{2}:\d{2}$")  # local wall-clock time
    zone: str = "reporting"  # `reporting` = the reporting time zone setting, else an IANA name
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    business_day: int = Field(default=2, ge=1, le=10)

    def resolve(self, reporting_zone: str) -> Schedule:
        hh, mm = (int(x) for x in self.at.split(":"))
        days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        return Schedule(
            self.cadence,
            time(hh, mm),
            reporting_zone if self.zone == "reporting" else self.zone,
            days.index(self.weekday),
            self.business_day,
        )


class Audience(_Spec):
    roles: list[str] = Field(default_factory=list)  # names in recipients.yml
    recipients: list[str] = Field(default_factory=list)  # e-mail addresses, unscoped

    @model_validator(mode="after")
    def _someone(self) -> Audience:
        if not self.roles and not self.recipients:
            raise ValueError("audience names no role and no recipient")
        return self


class Page(_Spec):
    dashboard: str
    # Dashboard filter values; the word `period` is replaced by the report's period (a date range).
    filters: dict[str, str | list[str]] = Field(default_factory=dict)


class Highlight(_Spec):
    card: str  # a scalar card placed on one of the report's pages; its value goes in the e-mail body
    label: str | None = None


class ReportSpec(_Spec):
    key: str
    name: str
    description: str
    kpis: list[str] = Field(min_length=1)
    audience: Audience
    scope: str | None = None  # a dashboard filter slug narrowed per recipient (their location or client)
    schedule: ScheduleSpec
    pages: list[Page] = Field(min_length=1)
    highlights: list[Highlight] = Field(default_factory=list)
    alerts: bool = False  # list the alerts firing at send time

    @field_validator("kpis")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not ID.match(v)]
        if bad:
            raise ValueError(f"not inventory ids: {', '.join(bad)}")
        return value


class Recipient(_Spec):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = None
    scope: dict[str, list[str]] = Field(default_factory=dict)  # dashboard filter slug -> the values they may see


def _one_line(path: Path, exc: Exception) -> ReportSpecError:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return ReportSpecError(f"{path.name}: {where}: {err['msg']}")
    return ReportSpecError(f"{path.name}: {exc}")


def load_recipients(specs_dir: Path = SPECS_DIR) -> dict[str, list[Recipient]]:
    path = specs_dir / "recipients.yml"
    raw = yaml.safe_load(path.read_text()) if path.exists() else {}
    try:
        return {role: [Recipient(**r) for r in people] for role, people in (raw or {}).items()}
    except (ValidationError, TypeError) as exc:
        raise _one_line(path, exc) from None


def load_reports(specs_dir: Path = SPECS_DIR) -> dict[str, ReportSpec]:
    """Every report spec, checked against the dashboards, cards and filters that exist and the roles in
    recipients.yml."""
    from orchestration.bi.specs import load_specs

    dashboards = load_specs(specs_dir).dashboards
    roles = load_recipients(specs_dir)
    reports: dict[str, ReportSpec] = {}
    for path in sorted((specs_dir / "reports").glob("*.yml")):
        try:
            spec = ReportSpec(key=path.stem, **(yaml.safe_load(path.read_text()) or {}))
        except (ValidationError, TypeError) as exc:
            raise _one_line(path, exc) from None
        for page in spec.pages:
            dashboard = dashboards.get(page.dashboard)
            if dashboard is None:
                raise ReportSpecError(
                    f"{path.name}: no dashboard {page.dashboard!r} (dashboards: {', '.join(sorted(dashboards))})"
                )
            slugs = {f.slug for f in dashboard.filters}
            for slug in [*page.filters, *([spec.scope] if spec.scope else [])]:
                if slug not in slugs:
                    raise ReportSpecError(
                        f"{path.name}: dashboard {page.dashboard!r} has no filter {slug!r} "
                        f"(filters: {', '.join(sorted(slugs)) or 'none'})"
                    )
        placed = {p.card for page in spec.pages for p in dashboards[page.dashboard].cards if p.card}
        for h in spec.highlights:
            if h.card not in placed:
                raise ReportSpecError(f"{path.name}: highlight {h.card!r} is on none of the report's pages")
        unknown = [r for r in spec.audience.roles if r not in roles]
        if unknown:
            raise ReportSpecError(
                f"{path.name}: no role {', '.join(unknown)} in recipients.yml "
                f"(roles: {', '.join(sorted(roles)) or 'none'})"
            )
        reports[spec.key] = spec
    return reports


def recipients_of(spec: ReportSpec, roles: dict[str, list[Recipient]]) -> list[Recipient]:
    """Everyone the report goes to, once each (a person in two roles gets one e-mail), by address."""
    people = {r.email.lower(): r for role in spec.audience.roles for r in roles[role]}
    for email in spec.audience.recipients:
        people.setdefault(email.lower(), Recipient(email=email))
    return [people[k] for k in sorted(people)]
