"""Configuration and result types of the synthetic data generator (the public API's dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. The same config (with a fixed end_date) always gives byte-identical files."""

    seed: int = 42
    months: int = 24  # calendar months of history, the last one being end_date's month
    organizations: int = 10  # client organizations (Web1on1) and workspaces (Bison)
    volume: float = 1.0  # linear multiplier of event counts; 1.0 is roughly 1.2 million rows
    malformed_share: float = 0.005  # share of deliberately broken extra rows per file; 0 disables
    end_date: date | None = None  # last day with data (UTC); None = today (UTC)


@dataclass(frozen=True)
class MalformedRow:
    """One deliberately broken row: where it is and how it is broken."""

    file: str  # relative to the landing directory, posix separators
    line: int  # 1-based physical line number (a CSV header is line 1)
    kind: str  # missing_key | bad_value | wrong_type | unparseable_line
    column: str | None  # the column broken (None for unparseable_line)


@dataclass
class GenerationResult:
    rows_by_table: dict[str, int] = field(default_factory=dict)  # contract.key -> rows written incl. malformed
    files: list[Path] = field(default_factory=list)
    malformed: list[MalformedRow] = field(default_factory=list)
