"""The whole thing, as a user runs it: `lead-analytics demo` on a small generated dataset against a
fresh database on the test warehouse, twice.

Expected raw row counts are computed here from the landing files themselves (distinct natural keys
among the rows the generator's manifest does not list as malformed), not from the loader.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from orchestration import settings, warehouse
from orchestration.ingestion import contracts

DEMO_ARGS = ["--volume", "0.02", "--months", "3", "--end-date", "2026-11-23", "--seed", "11"]


def _natural_keys(landing: Path, contract: contracts.TableContract, bad: set[tuple[str, int]]) -> set[tuple]:
    keys: set[tuple] = set()
    for path in sorted((landing / contract.landing_path).glob(f"*.{contract.file_format}")):
        rel = path.relative_to(landing).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        first = 2 if contract.file_format == "csv" else 1
        header = next(csv.reader([lines[0]])) if contract.file_format == "csv" else None
        for number, line in enumerate(lines[first - 1:], start=first):
            if (rel, number) in bad:
                continue
            row = dict(zip(header, next(csv.reader([line])))) if header else json.loads(line)
            keys.add(tuple(str(row[k]) for k in contract.natural_key))
    return keys


def _run_demo(env: dict[str, str]) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "lead-analytics"
    return subprocess.run([str(cli), "demo", *DEMO_ARGS], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_runs(warehouse_info, tmp_path_factory, database_factory):
    info = database_factory.create("demo")
    root = tmp_path_factory.mktemp("demo")
    env = dict(os.environ)
    env.update(
        LEAD_ANALYTICS_DATABASE_URL=f"postgresql://{info.user}@/{info.dbname}?host={info.host}&port={info.port}",
        LEAD_ANALYTICS_LANDING_DIR=str(root / "landing"),
        LEAD_ANALYTICS_REPORTS_DIR=str(root / "reports"),
    )
    env.pop("METABASE_URL", None)
    first = _run_demo(env)
    with warehouse.connect(info) as conn:
        counts_after_first = _raw_counts(conn)
    second = _run_demo(env)
    yield info, root, first, second, counts_after_first
    database_factory.drop(info)


def _raw_counts(conn) -> dict[str, int]:
    return {c.key: conn.execute(f"select count(*) from {c.qualified_name}").fetchone()[0]
            for c in contracts.all_contracts()}


def test_demo_succeeds_and_prints_summary_dashboard_and_report(demo_runs):
    _, root, first, _, _ = demo_runs
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    out = first.stdout
    assert "Summary" in out and re.search(r"checks: \d+ passed \(3 Great Expectations suites, \d+ dbt tests\), 0 failed",
                                          out), out
    assert "failed step" not in out
    assert "Recommended Minimal Dashboard" in out
    for label in ("Total leads", "Leads today", "Leads this week", "Top 3 lead sources", "Leads by service",
                  "High vs low confidence"):
        assert re.search(rf"^  {label}.*\d", out, re.MULTILINE), label  # each tile printed with its number
    report = root / "reports" / "lead_capture.html"
    assert str(report) in out and report.stat().st_size > 5_000
    assert "Metabase is not configured" in first.stderr  # the Metabase asset is skipped, not failed


def test_raw_tables_hold_every_valid_row_once_and_reject_exactly_the_malformed_ones(demo_runs):
    info, root, first, _, _ = demo_runs
    assert first.returncode == 0
    landing = root / "landing"
    manifest = json.loads((landing / "_manifest.json").read_text())
    bad = {(m["file"], m["line"]) for m in manifest["malformed"]}
    expected = {c.key: len(_natural_keys(landing, c, bad)) for c in contracts.all_contracts()}
    with warehouse.connect(info) as conn:
        assert _raw_counts(conn) == expected
        rejected = set(conn.execute(f"select file_path, line_number from {settings.AUDIT_SCHEMA}.rejected_rows"))
        loaded = conn.execute(f"select count(*) from {settings.AUDIT_SCHEMA}.loaded_files").fetchone()[0]
    assert rejected == bad and len(bad) > 0
    assert loaded == len(manifest["files"])


def test_every_layer_is_built(demo_runs):
    info, _, first, _, _ = demo_runs
    assert first.returncode == 0
    with warehouse.connect(info) as conn:
        relations = dict(conn.execute(
            "select table_schema, count(*) from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts') group by 1"))
        leads = conn.execute("select count(*) from marts.fct_bot_leads").fetchone()[0]
        kpis = conn.execute("select count(*), max(total_leads) from marts.rpt_bot_leads__kpis").fetchone()
    assert relations["staging"] == len(contracts.all_contracts())
    assert relations["marts"] >= 3 and relations["intermediate"] >= 1
    assert leads > 0 and kpis == (1, leads)


def test_second_run_is_idempotent(demo_runs):
    info, _, first, second, counts_after_first = demo_runs
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already match this configuration; not regenerating" in second.stderr
    assert "0 inserted, 0 updated, 0 rejected" in second.stderr
    assert not re.search(r"[1-9][\d,]* inserted", second.stderr)
    with warehouse.connect(info) as conn:
        assert _raw_counts(conn) == counts_after_first
