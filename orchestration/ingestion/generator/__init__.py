"""Deterministic synthetic vendor exports for every raw-table contract.

`generate(landing_dir, GeneratorConfig(...), timezone=...)` writes, for each contract in
`orchestration.ingestion.contracts.all_contracts()`, one file per calendar month of activity under
`<landing_dir>/<contract.landing_path>/<table>_<YYYY-MM>.<csv|jsonl>`, plus `_manifest.json` (the
config and every deliberately malformed row). The data follows the product specs in the seed
documents: weekday/working-hour peaks in the reporting time zone, channel mixes, funnel drop-off,
lead-score bands, repeat contacts written differently, and records that change in a later month.
"""

from __future__ import annotations

from orchestration.ingestion.generator.config import GenerationResult, GeneratorConfig, MalformedRow
from orchestration.ingestion.generator.runner import generate

__all__ = ["GenerationResult", "GeneratorConfig", "MalformedRow", "generate"]
