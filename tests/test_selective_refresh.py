"""A refresh cycle that rebuilds only what new data reaches ends in the same marts as a full rebuild.

The small demo dataset (the generator at the demo fixture's volume) is built and published by a first, whole
cycle. Then a late file (two bot leads of an old day) lands, an old CRM leads file changes (one lead's score), and
the as-of moment moves a quarter of an hour: the second cycle rebuilds only the models downstream of those two
raw tables and of the clock, deferring to the published relations for the rest, and publishes them relation by
relation. Every published relation is then compared, all rows, with a full rebuild of every relation from the
same raw data (dbt, every model and seed, into the shadow schemas).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import run_dbt

from orchestration import publishing, refresh, selective, settings, warehouse
from orchestration.bench import scratch_settings
from orchestration.dbt_project import BUILD_VARS, ensure_manifest
from orchestration.ingestion.generator import GeneratorConfig, generate

FIRST_AS_OF = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SECOND_AS_OF = datetime(2026, 11, 24, 12, 15, tzinfo=UTC)
LATE_FILE = "bot_leads/leads/leads_2026-09-late.csv"
LATE_LEADS = (
    "LATE-1,Website,chat,AllyChat,0.81,new,Ann Late,,,West,2026-09-05T15:00:00Z,2026-09-05T15:00:00Z",
    "LATE-2,WhatsApp,chat,AllyChat,0.35,new,Bob Late,,,East,2026-09-05T16:30:00Z,2026-09-05T16:30:00Z",
)
CHANGED_FILE = "crm/leads/leads_2026-09.csv"


def _relation_digests(conn, relations: dict[str, set[str]], suffix: str = "") -> dict[str, tuple[int, str]]:
    """Per relation: row count and the md5 of all its rows, sorted. `dim_as_of.built_at` (now() when the relation
    was built) is the one column that differs between two builds by construction; it is left out."""
    out = {}
    for schema in sorted(relations):
        for name in sorted(relations[schema]):
            rel = f'"{schema}{suffix}"."{name}"'
            row = "(to_jsonb(t) - 'built_at')::text"
            count, digest = conn.execute(
                f"select count(*), coalesce(md5(string_agg({row}, '|' order by {row})), '') from {rel} t"
            ).fetchone()
            out[f"{schema}.{name}"] = (int(count), digest)
    return out


def _oid(conn, relation: str) -> int:
    return conn.execute("select to_regclass(%s)::oid", (relation,)).fetchone()[0]


def _change_score(path: Path, lead_id: str, score: str) -> str:
    """Rewrite one lead's score (and its updated_at) in a CRM leads file; returns the old score."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    [row] = [r for r in rows if r["lead_id"] == lead_id]
    old, row["score"], row["updated_at"] = row["score"], score, "2026-11-20T10:00:00Z"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return old


@pytest.fixture(scope="module")
def cycles(warehouse_info, database_factory, tmp_path_factory):
    info = database_factory.create("selective")
    root = tmp_path_factory.mktemp("selective")
    landing = root / "landing"
    generate(
        landing,
        GeneratorConfig(seed=11, months=3, volume=0.02, end_date=date(2026, 11, 23)),
        timezone=settings.Settings.load().timezone,
    )
    first_config = scratch_settings(info, landing, root).model_copy(update={"as_of": FIRST_AS_OF})
    second_config = first_config.model_copy(update={"as_of": SECOND_AS_OF})
    lines: list[str] = []
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("METABASE_URL", raising=False)
            with settings.running(first_config):
                first = refresh.run_cycle(first_config, lines.append)
            with warehouse.connect(info) as conn:
                oids_before = {r: _oid(conn, r) for r in ("marts.fct_bot_leads", "staging.stg_omnichannel__users")}
            header = (landing / "bot_leads/leads/leads_2026-09.csv").read_text().splitlines()[0]
            (landing / LATE_FILE).write_text("\n".join([header, *LATE_LEADS]) + "\n")
            old_score = _change_score(landing / CHANGED_FILE, "L-000001", "12")
            with settings.running(second_config):
                second = refresh.run_cycle(second_config, lines.append)
            with warehouse.connect(info) as conn:
                oids_after = {r: _oid(conn, r) for r in oids_before}
                status = publishing.publication_status(conn)
                incremental = _relation_digests(conn, publishing.published_relations(ensure_manifest()))
            full = _full_rebuild(info, second_config)
        yield {
            "first": first,
            "second": second,
            "incremental": incremental,
            "full": full,
            "oids": (oids_before, oids_after),
            "status": status,
            "old_score": old_score,
            "info": info,
            "lines": lines,
        }
    finally:
        database_factory.drop(info)


def _full_rebuild(info: warehouse.ConnectionInfo, config: settings.Settings) -> dict[str, tuple[int, str]]:
    """Every model and seed rebuilt by dbt from the raw tables into the shadow schemas (tests are the cycle's
    business, not this comparison's), then digested the way the published relations were."""
    relations = publishing.published_relations(ensure_manifest())
    target = config.state_dir / "full-rebuild-target"
    selection = ["--exclude", "resource_type:test", "--vars", BUILD_VARS]
    proc = run_dbt(info, "build", selection, config.as_of_text, target, config.timezone)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with warehouse.connect(info) as conn:
        return _relation_digests(conn, relations, publishing.BUILD_SUFFIX)


def test_the_first_cycle_builds_everything_and_the_second_only_what_new_data_and_the_clock_reach(cycles):
    first, second = cycles["first"], cycles["second"]
    assert first.built and first.plan.selection is None and first.plan.why == "nothing published yet"
    assert first.pipeline.success, first.pipeline.failed_steps
    assert second.built and second.pipeline.success, (second.pipeline.failed_steps, second.pipeline.failed_checks)
    chosen = second.plan.selection
    assert chosen is not None and chosen.changed_tables == ("bot_leads.leads", "crm.leads") and chosen.clock_moved
    manifest = selective.load_manifest(ensure_manifest())
    total = len(selective.built_nodes(manifest))
    assert 0 < len(chosen.nodes) < total
    assert "model.lead_analytics.fct_bot_leads" in chosen.nodes
    assert "model.lead_analytics.stg_omnichannel__users" not in chosen.nodes
    # the run summary's publication line says what the partial build rebuilt and why
    assert f"{len(chosen.nodes)} of " in cycles["status"].line()
    assert "new data in bot_leads.leads, crm.leads; the as-of moment moved" in cycles["status"].line()


def test_an_untouched_relation_is_the_published_one_and_a_rebuilt_one_is_new(cycles):
    before, after = cycles["oids"]
    assert after["staging.stg_omnichannel__users"] == before["staging.stg_omnichannel__users"]
    assert after["marts.fct_bot_leads"] != before["marts.fct_bot_leads"]


def test_the_late_file_and_the_changed_file_reach_the_marts(cycles):
    with warehouse.connect(cycles["info"]) as conn:
        late = conn.execute(
            "select lead_id, confidence_score::text from marts.fct_bot_leads where lead_id like 'LATE-%' order by 1"
        ).fetchall()
        score = conn.execute("select score from staging.stg_crm__leads where lead_id = 'L-000001'").fetchone()[0]
    assert late == [("LATE-1", "0.81"), ("LATE-2", "0.35")]
    assert cycles["old_score"] != "12" and score == 12


def test_every_published_relation_equals_a_full_rebuild_row_for_row(cycles):
    incremental, full = cycles["incremental"], cycles["full"]
    assert sorted(incremental) == sorted(full) and len(incremental) > 100
    different = {rel: (incremental[rel], full[rel]) for rel in incremental if incremental[rel] != full[rel]}
    assert different == {}, json.dumps(different, indent=1)
    assert incremental["marts.fct_bot_leads"][0] > 2  # the comparison compares rows, not empty relations
