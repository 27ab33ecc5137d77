"""`generate()`: build every source's tables, write them per contract, and write `_manifest.json`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

from orchestration.ingestion import contracts
from orchestration.ingestion.generator import bison, bot_leads, crm, omnichannel, web1on1
from orchestration.ingestion.generator.config import GenerationResult, GeneratorConfig
from orchestration.ingestion.generator.core import Context, TableData
from orchestration.ingestion.generator.writer import TableWriter

BUILDERS: dict[str, Callable[[Context], dict[str, TableData]]] = {
    "bison": bison.build,
    "bot_leads": bot_leads.build,
    "crm": crm.build,
    "omnichannel": omnichannel.build,
    "web1on1": web1on1.build,
}


def _resolve_end_date(cfg: GeneratorConfig) -> date:
    return cfg.end_date if cfg.end_date is not None else datetime.now(UTC).date()


def _remove_stale(folder: Path, table: str, ext: str, keep: set[Path]) -> None:
    """Drop monthly files of an earlier generation that this one does not write."""
    if not folder.is_dir():
        return
    pattern = re.compile(rf"{re.escape(table)}_\d{{4}}-\d{{2}}\.{ext}")
    for p in folder.iterdir():
        if p.is_file() and pattern.fullmatch(p.name) and p not in keep:
            p.unlink()


def generate(
    landing_dir: Path, cfg: GeneratorConfig, *, timezone: str, progress: Callable[[str, int], None] | None = None
) -> GenerationResult:
    """Write synthetic landing files for every contract into landing_dir (see the package docstring); weekday and
    working-hour peaks follow `timezone` (the reporting time zone, an IANA name)."""
    landing_dir = Path(landing_dir)
    landing_dir.mkdir(parents=True, exist_ok=True)
    end_date = _resolve_end_date(cfg)
    ctx = Context(cfg, end_date, timezone)
    result = GenerationResult()
    by_source: dict[str, list[contracts.TableContract]] = {}
    for contract in contracts.all_contracts():
        by_source.setdefault(contract.source, []).append(contract)
    for source in sorted(by_source):
        builder = BUILDERS.get(source)
        if builder is None:
            continue  # a source the generator does not know yet: no files
        tables = builder(ctx)
        for contract in by_source[source]:
            data = tables.get(contract.name)
            if data is None:
                continue
            _check_required(contract, data)
            writer = TableWriter(contract, landing_dir, cfg.seed, cfg.malformed_share)
            files, rows, malformed = writer.write(data)
            folder = landing_dir / contract.landing_path
            _remove_stale(folder, contract.name, contract.file_format, set(files))
            result.rows_by_table[contract.key] = rows
            result.files.extend(files)
            result.malformed.extend(malformed)
            if progress is not None:
                for n in writer.file_rows:
                    progress(contract.key, n)
    manifest = {
        "config": {k: (str(v) if isinstance(v, date) else v) for k, v in asdict(cfg).items()},
        "resolved_end_date": end_date.isoformat(),
        "reporting_timezone": timezone,
        "rows_by_table": result.rows_by_table,
        "files": [f.relative_to(landing_dir).as_posix() for f in result.files],
        "malformed": [asdict(m) for m in result.malformed],
    }
    (landing_dir / "_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return result


def _check_required(contract: contracts.TableContract, data: TableData) -> None:
    missing = [c.name for c in contract.loadable_columns if c.required and c.name not in data.columns]
    if missing:
        raise ValueError(f"generator has no values for required column(s) {missing} of {contract.key}")
