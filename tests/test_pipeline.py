"""The whole thing, as a user runs it: `lead-analytics demo` on a small generated dataset against a
fresh database on the test warehouse, twice (the second finds nothing new and rebuilds nothing); then a refresh
cycle that rebuilds only what new data reaches (below); then `lead-analytics run` twice more with bad data
landing, to see write-audit-publish hold it back: a bot lead with confidence 1.5 (fails the raw
Great Expectations suite, so dbt does not build), then, with that lead fixed, a Bison campaign whose
status fails a dbt test (dbt builds in the shadow schemas, so nothing is published). Both times the
published marts stay as the first run published them, and the run says which check failed and why.

Expected raw row counts are computed here from the landing files themselves (distinct natural keys
among the rows the generator's manifest does not list as malformed), not from the loader. The generator is
deterministic for a fixed seed and end date, and the as-of moment is pinned, so the marts hold exactly the rows
written in MART_ROWS.

The refresh cycle (issue 21, D191): after the demo published, a late file (two bot leads of an old day) lands, an
old CRM leads file changes (one lead's score), and the as-of moment moves a quarter of an hour. The cycle rebuilds
only the models downstream of those two raw tables and of the clock, deferring to the published relations for the
rest, and publishes them relation by relation. Every published relation is then compared, all rows, with a full
rebuild of every relation from the same raw data (dbt, every model and seed, into the shadow schemas). It runs on
the demo's warehouse, after the demo's own tests, so that the suite builds this dataset whole once, not twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import run_dbt

from orchestration import publishing, refresh, selective, settings, warehouse
from orchestration.dbt_project import BUILD_VARS, ensure_manifest
from orchestration.ingestion import contracts

DEMO_ARGS = ["--volume", "0.02", "--months", "3", "--end-date", "2026-11-23", "--seed", "11"]
# the morning after the generated data ends (06:00 in Chicago): every generated event is before it, and the marts'
# date spines end on 2026-11-24 whatever day the test runs
AS_OF = "2026-11-24T12:00:00Z"
# one relation per model of each dbt folder (38 + 31 + 45 = 114 models), plus the 15 dbt seeds, which live in staging
RELATIONS = {"staging": 38 + 15, "intermediate": 31, "marts": 45}
# Rows per mart after the first run (a run of this dataset, then each number checked against what fixes it)
MART_ROWS = {
    "dim_as_of": 1,  # the one as-of moment
    "dim_calendar": 4018,  # 2020-01-01 .. 2030-12-31: 11 x 365 + 3 leap days
    "dim_calendar_hour": 96432,  # 24 per calendar date
    "fct_bot_leads": 32,  # one per valid raw lead (the raw counts test)
    "fct_campaign_daily": 162,
    "fct_crm_attribution": 18,  # two models per won lead
    "fct_crm_lead_funnel": 64,  # 22 leads + automated responses + appointments + deals closed
    "fct_crm_leads": 22,  # one per raw CRM lead (nothing is dropped, D119)
    "fct_crm_touches": 81,  # one per outbound activity at or after its lead's arrival
    "fct_crm_won_deals": 9,  # one per lead with a won deal
    # live at the as-of moment: 19 targets at risk and 1 high-priority lead answered only by the automation 2 h-7 days
    # ago (D13/D189; a query on raw_crm leads, activities and deals finds the same 1 listed, 0 in the backlog)
    "fct_exec_action_items": 20,
    "fct_industry_benchmarks": 18,  # 3 KPIs x 2 organisations x 3 months with leads
    "fct_kpi_target_status": 69,  # 5 team targets x 3 months + 2 agent goals x 27 agent-months
    "fct_lead_funnel_daily": 364,
    "fct_messaging_after_sales_activity": 262,
    "fct_messaging_after_sales_funnel": 46,
    "fct_messaging_bot_activity": 50,
    "fct_messaging_conversation_hours": 812,
    "fct_messaging_potential_daily": 722,  # dense: every organisation's days from its creation to 2026-11-24
    "fct_messaging_user_activity": 54,
    # omnichannel, counted by hand from the 8 invitations, 3 users, 28 events, 4 blasts and 4 charges (D202):
    # 4 segments (WhatsApp and Email x Promotional and Transactional) x 78 dates of zeros, plus 4 user rows
    "fct_omnichannel_channel_usage": 316,
    "fct_omnichannel_daily_usage": 78,  # dense: the first invitation's date (2026-09-08) to 2026-11-24
    "fct_omnichannel_hourly_blast_users": 1872,  # 24 per date of fct_omnichannel_daily_usage
    "fct_omnichannel_hourly_charges": 316,  # 4 x 78 zero rows at hour 0, plus each charge's own hour (8, 10, 16, 21)
    "fct_omnichannel_invitation_steps": 247,  # 8 people invited, 3 activated, 2 charged; 3 steps x 78 dates of zeros
    "fct_omnichannel_user_days": 26,  # 22 user-dates with events (12 + 6 + 4) and 4 user-channel-dates with a blast
    "fct_roi_cost_benefit": 24,  # 8 cost and benefit rows per ROI month
    "fct_roi_months": 3,  # dense: the system's first month (Sep 2026) to the as-of month
    "fct_workspace_months": 28,  # dense: every workspace's months
    "rpt_campaigns__data_loads": 6,  # one per Bison raw table
    "rpt_roi_assumptions": 96,  # per month: agent rates and 2 team rows, 9 unit minutes, 3 estimates,
    # 4 weights, 5 team targets (27 agent-months + 3 x 23)
    "fct_ops_executions": 22,  # one per execution_id of the raw workflow events
    "fct_ops_incidents": 15,
    "fct_ops_pipeline_steps": 120,  # one per lead and step reached
    "fct_ops_uptime_monthly": 20,  # 5 components x Aug-Nov: heartbeats start 2026-09-01 00:00Z = 08-31 CDT
    "fct_ops_workflow_attempts": 125,  # one per raw workflow event
    "fct_warehouse_loads": 106,  # one per loaded landing file (the generator writes 106, 11 of them omnichannel)
    "rpt_ops__component_health": 5,  # one per component of the SLA seed
    "rpt_ops__data_loads": 2,  # workflow_events, health_checks
    "fct_agent_leads": 22,  # one per lead assigned to an agent
    "fct_agent_months": 151,  # agent performance (issue 16), as the demo run built them
    "fct_agent_time_entries": 458,
    "rpt_agent_coaching_notes": 10,
    "rpt_agent_training_gaps": 56,
    "fct_compliance_messages": 75,  # the compliance report (issue 20)
}


def _natural_keys(landing: Path, contract: contracts.TableContract, bad: set[tuple[str, int]]) -> set[tuple]:
    keys: set[tuple] = set()
    for path in sorted((landing / contract.landing_path).glob(f"*.{contract.file_format}")):
        rel = path.relative_to(landing).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        first = 2 if contract.file_format == "csv" else 1
        header = next(csv.reader([lines[0]])) if contract.file_format == "csv" else None
        for number, line in enumerate(lines[first - 1 :], start=first):
            if (rel, number) in bad:
                continue
            row = dict(zip(header, next(csv.reader([line])), strict=False)) if header else json.loads(line)
            keys.add(tuple(str(row[k]) for k in contract.natural_key))
    return keys


def _run_demo(env: dict[str, str], command: str = "demo") -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "lead-analytics"
    args = DEMO_ARGS if command == "demo" else []
    return subprocess.run([str(cli), command, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo_runs(warehouse_info, tmp_path_factory, database_factory):
    info = database_factory.create("demo")
    root = tmp_path_factory.mktemp("demo")
    env = dict(os.environ)
    env.update(
        LEAD_ANALYTICS_DATABASE_URL=f"postgresql://{info.user}@/{info.dbname}?host={info.host}&port={info.port}",
        LEAD_ANALYTICS_LANDING_DIR=str(root / "landing"),
        LEAD_ANALYTICS_REPORTS_DIR=str(root / "reports"),
        LEAD_ANALYTICS_AS_OF=AS_OF,
    )
    env.pop("METABASE_URL", None)
    first = _run_demo(env)
    with warehouse.connect(info) as conn:
        counts_after_first = _raw_counts(conn)
    second = _run_demo(env)
    yield info, root, first, second, counts_after_first, env
    database_factory.drop(info)


def _raw_counts(conn) -> dict[str, int]:
    return {
        c.key: conn.execute(f"select count(*) from {c.qualified_name}").fetchone()[0] for c in contracts.all_contracts()
    }


def test_demo_succeeds_and_prints_summary_dashboard_and_report(demo_runs):
    _, root, first, _, _, _ = demo_runs
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    out = first.stdout
    assert "Summary" in out and re.search(
        r"checks: \d+ passed \(\d+ Great Expectations suites, \d+ dbt tests\), 0 failed", out
    ), out
    assert "failed step" not in out
    assert "Recommended Minimal Dashboard" in out
    for label in (
        "Total leads",
        "Leads today",
        "Leads this week",
        "Top 3 lead sources",
        "Leads by service",
        "High vs low confidence",
    ):
        assert re.search(rf"^  {label}.*\d", out, re.MULTILINE), label  # each tile printed with its number
    report = root / "reports" / "lead_capture.html"
    assert str(report) in out and report.stat().st_size > 5_000
    assert "Metabase is not configured" in first.stderr  # the Metabase asset is skipped, not failed
    assert (
        "  skipped metabase/dashboards: Metabase is not configured (set METABASE_URL, METABASE_USER and "
        "METABASE_PASSWORD); the HTML dashboards in reports/ are still written"
    ) in out.splitlines()


def test_raw_tables_hold_every_valid_row_once_and_reject_exactly_the_malformed_ones(demo_runs):
    info, root, first, _, _, _ = demo_runs
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
    info, _, first, _, _, _ = demo_runs
    assert first.returncode == 0
    with warehouse.connect(info) as conn:
        relations = dict(
            conn.execute(
                "select table_schema, count(*) from information_schema.tables "
                "where table_schema in ('staging', 'intermediate', 'marts') group by 1"
            )
        )
        leads = conn.execute("select count(*) from marts.fct_bot_leads").fetchone()[0]
        as_of_rows = conn.execute("select count(*) from marts.dim_as_of").fetchone()[0]
    seeds = len(list((settings.DBT_PROJECT_DIR / "seeds").glob("*.csv")))  # dbt seeds live in staging too
    assert relations["staging"] == len(contracts.all_contracts()) + seeds
    assert relations == RELATIONS
    assert {
        folder: len(list((settings.DBT_PROJECT_DIR / "models" / folder).rglob("*.sql"))) for folder in RELATIONS
    } == {**RELATIONS, "staging": RELATIONS["staging"] - seeds}
    assert as_of_rows == 1
    with warehouse.connect(info) as conn:
        marts = [
            n
            for (n,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            )
        ]
        rows = {m: conn.execute(f'select count(*) from marts."{m}"').fetchone()[0] for m in marts}
    assert rows == MART_ROWS
    assert leads == MART_ROWS["fct_bot_leads"] == _raw_counts_of(info, "bot_leads__leads")
    assert rows["dim_calendar_hour"] == 24 * rows["dim_calendar"]
    assert rows["fct_omnichannel_hourly_blast_users"] == 24 * rows["fct_omnichannel_daily_usage"]
    assert rows["rpt_campaigns__data_loads"] == len([c for c in contracts.all_contracts() if c.source == "bison"])
    assert rows["fct_crm_leads"] == _raw_counts_of(info, "crm__leads")
    assert rows["fct_crm_attribution"] == 2 * rows["fct_crm_won_deals"]
    assert rows["fct_roi_cost_benefit"] == 8 * rows["fct_roi_months"]
    assert rows["fct_ops_workflow_attempts"] == _raw_counts_of(info, "crm__workflow_events")
    with warehouse.connect(info) as conn:
        assert rows["fct_warehouse_loads"] == conn.execute("select count(*) from raw_audit.loaded_files").fetchone()[0]
    # Published by swapping the audited shadow schemas in: none of them is left behind. The second demo found
    # nothing new and published nothing.
    with warehouse.connect(info) as conn:
        assert _leftover_schemas(conn) == []
        assert conn.execute("select status, held_back_by from raw_audit.publications").fetchall() == [
            ("published", None)
        ]
    assert re.search(
        r"^dashboards' data: published \d{4}-\d\d-\d\d \d\d:\d\d America/Chicago \(run [0-9a-f]{8}\)$",
        first.stdout,
        re.MULTILINE,
    ), first.stdout[-2000:]


def _raw_counts_of(info: warehouse.ConnectionInfo, key: str) -> int:
    with warehouse.connect(info) as conn:
        return _raw_counts(conn)[key]


def _leftover_schemas(conn) -> list[str]:
    return [
        n for (n,) in conn.execute("select nspname from pg_namespace where nspname ~ '__(build|previous)$' order by 1")
    ]


def test_second_run_is_idempotent(demo_runs):
    """The same landing files and the same (pinned) as-of moment: nothing is new, so nothing is loaded or rebuilt,
    and the summary and the minimal dashboard are printed from the published marts as before."""
    info, root, first, second, counts_after_first, _ = demo_runs
    assert "refresh: nothing published yet; rebuilding everything (nothing published yet)" in first.stderr
    assert second.returncode == 0, second.stderr[-3000:]
    assert "already match this configuration; not regenerating" in second.stderr
    assert re.search(r"^refresh: nothing new since the published build of .*; no rebuild$", second.stderr, re.MULTILINE)
    # what a run that loads and builds says (the first did), and the second does not
    assert "raw_tables: " in first.stderr and "Running dbt command" in first.stderr
    assert "raw_tables" not in second.stderr and "Running dbt command" not in second.stderr
    with warehouse.connect(info) as conn:
        assert _raw_counts(conn) == counts_after_first
    assert "Recommended Minimal Dashboard" in second.stdout
    assert _tiles(second.stdout) == _tiles(first.stdout)
    assert "HTML dashboards, unchanged since the published build (open in any browser):" in second.stdout
    assert f"  {root / 'reports' / 'lead_capture.html'}" in second.stdout.splitlines()


def _tiles(out: str) -> list[str]:
    start = out.index("Recommended Minimal Dashboard")
    return out[start:].split("\n\n", 1)[0].splitlines()


def test_analysts_query_the_published_marts_with_metricflow(demo_runs):
    info, _, _, second, _, env = demo_runs
    assert second.returncode == 0
    cli = Path(sys.executable).parent / "lead-analytics"
    proc = subprocess.run(
        [str(cli), "mf", "--", "query", "--metrics", "leads"], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with warehouse.connect(info) as conn:
        published = conn.execute("select count(*) from marts.fct_bot_leads").fetchone()[0]
    assert re.search(rf"^\s*{published}\s*$", proc.stdout, re.MULTILINE), proc.stdout[-2000:]


def test_bench_scale_times_every_placed_card_alone_and_every_dashboard_open(demo_runs):
    """`make bench-scale`'s measurements, on the demo's marts (a renamed helper once broke it unnoticed)."""
    from orchestration import bench_scale
    from orchestration.bi import compiler, run

    info = demo_runs[0]
    compiled = compiler.compile_specs()
    dashboards, cards = compiled.dashboards, compiled.cards
    placed = {f"{key}/{p.card}" for key, d in dashboards.items() for p in run.reading_order(d) if p.card}
    # a card with a metric selector is timed once per option: e.g. messaging's per-inbox pie, 5 metrics
    selectors = {name for name in placed if cards[name.split("/")[1]].selector}
    options = {f"{name} [{o}]" for name in selectors for o in cards[name.split("/")[1]].selector.options}
    assert "messaging/messaging__per_inbox_pie [Sessions]" in options
    scale = bench_scale.Scale(0.02)
    bench_scale._cards_alone(info, scale, repeat=2)
    bench_scale._clients(info, scale, clients=2)
    assert set(scale.cards) == (placed - selectors) | options and len(placed) > 150
    assert all(len(ms) == 2 and min(ms) > 0 for ms in scale.cards.values())
    assert set(scale.opens) == set(dashboards) and all(len(ms) == 2 for ms in scale.opens.values())
    # a dashboard open runs a selector card once, at the option the dashboard's Metric filter chooses by default
    messaging = dashboards["messaging"]
    pie = next(p for p in run.reading_order(messaging) if p.card == "messaging__per_inbox_pie")
    with run.read_only(info) as conn:
        today = run.as_of_date(run.read_as_of(conn, messaging))
        filters = run.validate_filters(conn, messaging, cards, None, today)
        every = run.run_card(conn, messaging, pie, cards[pie.card], filters, today)
        opened = run.run_card(conn, messaging, pie, cards[pie.card], filters, today, every_option=False)
    assert [r.option for r in every] == list(cards[pie.card].selector.options) and len(every) == 5
    assert len(opened) == 1 and opened[0].option == "Active conversations"
    assert opened[0].values[cards[pie.card].selector.name] == "Active conversations"
    assert opened[0].rows == next(r.rows for r in every if r.option == "Active conversations")
    lines = bench_scale.report(scale, scale).splitlines()
    assert lines[-1].startswith("at volume 0.02: slowest card p95 ")
    assert f" of {len(scale.cards)} card queries and " in lines[-1]
    assert lines[-1].endswith(f" of {len(dashboards)} dashboards within target")
    # the label column fits the longest "dashboard/card [option]", so the numbers stay in their columns
    start = lines.index("card alone, ms p50/p95/max") + 1
    card_rows = lines[start : lines.index("", start)]
    assert len(card_rows) == len(scale.cards) and len({len(line) for line in card_rows}) == 1


# ---------------------------------------------------------------- a refresh cycle rebuilds only what changed

SECOND_AS_OF = datetime(2026, 11, 24, 12, 15, tzinfo=UTC)  # a quarter of an hour after AS_OF
LATE_FILE = "bot_leads/leads/leads_2026-09-late.csv"
LATE_LEADS = (
    "LATE-1,Website,chat,AllyChat,0.81,new,Ann Late,,,West,2026-09-05T15:00:00Z,2026-09-05T15:00:00Z",
    "LATE-2,WhatsApp,chat,AllyChat,0.35,new,Bob Late,,,East,2026-09-05T16:30:00Z,2026-09-05T16:30:00Z",
)
CHANGED_FILE = "crm/leads/leads_2026-09.csv"
# A message loaded before the demo's build but stamped after its as-of moment (and before SECOND_AS_OF): the cut
# left it out of the published marts; once the clock passes its stamp it counts, though no file changed (D198).
PASSED_MESSAGE = "MSG-PASSED-1"
PASSED_AT = "2026-11-24T12:05:00Z"


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
def cycles(demo_runs):
    """After the demo published (as of AS_OF): a late file, a changed old file and the clock a quarter of an hour
    on; one refresh cycle in this process with the settings the demo ran with (its state folder holds the published
    dbt state the partial build defers to), then a full rebuild of every relation to compare with."""
    info, root, first, second, _, _ = demo_runs
    assert first.returncode == 0 and second.returncode == 0
    # The tests of the demo's own state (one publication, MART_ROWS, the raw counts) must stay above this section:
    # from here on the warehouse holds the cycle's publication too.
    with warehouse.connect(info) as conn:
        assert conn.execute("select count(*) from raw_audit.publications").fetchone()[0] == 1
    landing = root / "landing"
    config = settings.Settings.load().model_copy(
        update={
            "database_url": info.conninfo(),
            "libpq": {},
            "landing_dir": landing,
            "reports_dir": root / "reports",
            "as_of": SECOND_AS_OF,
        }
    )
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("METABASE_URL", raising=False)
        with warehouse.connect(info) as conn:
            oids_before = {r: _oid(conn, r) for r in ("marts.fct_bot_leads", "staging.stg_omnichannel__users")}
        header = (landing / "bot_leads/leads/leads_2026-09.csv").read_text().splitlines()[0]
        (landing / LATE_FILE).write_text("\n".join([header, *LATE_LEADS]) + "\n")
        old_score = _change_score(landing / CHANGED_FILE, "L-000001", "12")
        with warehouse.connect(info) as conn:
            conn.execute(
                "insert into raw_web1on1.messages (id, organization_id, conversation_id, author_type, author_id, "
                "channel, created_at, _source_file, _source_line) select %s, organization_id, conversation_id, "
                "author_type, author_id, channel, %s, _source_file, _source_line from raw_web1on1.messages "
                "where author_type = 'contact' order by id limit 1",  # a contact's message counts as messaging
                (PASSED_MESSAGE, PASSED_AT),
            )
            published_before = conn.execute(
                "select count(*) from intermediate.int_messaging__messages where message_id = %s", (PASSED_MESSAGE,)
            ).fetchone()[0]
        with settings.running(config):
            cycle = refresh.run_cycle(config, lines.append)
        with warehouse.connect(info) as conn:
            oids_after = {r: _oid(conn, r) for r in oids_before}
            status = publishing.publication_status(conn)
            incremental = _relation_digests(conn, publishing.published_relations(ensure_manifest()))
        full = _full_rebuild(info, config)
    return {
        "cycle": cycle,
        "incremental": incremental,
        "full": full,
        "oids": (oids_before, oids_after),
        "status": status,
        "old_score": old_score,
        "passed_message_before": published_before,
        "info": info,
        "lines": lines,
    }


def _full_rebuild(info: warehouse.ConnectionInfo, config: settings.Settings) -> dict[str, tuple[int, str]]:
    """Every model and seed rebuilt by dbt from the raw tables into the shadow schemas (tests are the cycle's
    business, not this comparison's), then digested the way the published relations were."""
    relations = publishing.published_relations(ensure_manifest())
    target = config.state_dir / "full-rebuild-target"
    selection = ["--exclude", "resource_type:test", "--vars", BUILD_VARS]
    proc = run_dbt(info, "build", selection, config.as_of_text, target, config.timezone, in_process=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    with warehouse.connect(info) as conn:
        return _relation_digests(conn, relations, publishing.BUILD_SUFFIX)


def test_a_cycle_after_the_demo_rebuilds_only_what_new_data_and_the_clock_reach(cycles):
    cycle = cycles["cycle"]
    assert cycle.built and cycle.pipeline.success, (cycle.pipeline.failed_steps, cycle.pipeline.failed_checks)
    chosen = cycle.plan.selection
    assert chosen is not None and chosen.changed_tables == ("bot_leads.leads", "crm.leads") and chosen.clock_moved
    manifest = selective.load_manifest(ensure_manifest())
    total = len(selective.built_nodes(manifest))
    assert 0 < len(chosen.nodes) < total
    assert "model.lead_analytics.fct_bot_leads" in chosen.nodes
    assert "model.lead_analytics.stg_omnichannel__users" not in chosen.nodes
    # the cycle said what it rebuilds, and the run summary's publication line says what it rebuilt and why
    assert any(line.startswith(f"partial rebuild: {len(chosen.nodes)} of {total} ") for line in cycles["lines"])
    assert f"{len(chosen.nodes)} of " in cycles["status"].line()
    assert "new data in bot_leads.leads, crm.leads; the as-of moment moved" in cycles["status"].line()
    # D198: a quarter of an hour on, the same day; the clock passed the stamp of one message
    assert not chosen.clock.date_changed and "web1on1.messages" in chosen.clock.crossed
    assert "model.lead_analytics.int_messaging__messages" in chosen.nodes  # its cut lets the message in now
    assert "model.lead_analytics.dim_as_of" in chosen.nodes  # reads the moment: always
    assert "model.lead_analytics.dim_calendar" not in chosen.nodes  # reads the date: the same
    assert "model.lead_analytics.int_common__as_of_date" not in chosen.nodes


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


def test_a_row_the_moved_clock_passed_reaches_the_marts_without_a_new_file(cycles):
    with warehouse.connect(cycles["info"]) as conn:
        after = conn.execute(
            "select created_at from intermediate.int_messaging__messages where message_id = %s", (PASSED_MESSAGE,)
        ).fetchall()
    assert cycles["passed_message_before"] == 0  # loaded, but after the demo's as-of moment
    assert after == [(datetime(2026, 11, 24, 12, 5, tzinfo=UTC),)]


def test_every_published_relation_equals_a_full_rebuild_row_for_row(cycles):
    incremental, full = cycles["incremental"], cycles["full"]
    assert sorted(incremental) == sorted(full) and len(incremental) > 100
    different = {rel: (incremental[rel], full[rel]) for rel in incremental if incremental[rel] != full[rel]}
    assert different == {}, json.dumps(different, indent=1)
    assert incremental["marts.fct_bot_leads"][0] > 2  # the comparison compares rows, not empty relations


# ---------------------------------------------------------------- write-audit-publish holds bad data back

BAD_LEAD = "WAPBAD1,Website,chat,AllyChat,{confidence},new,Ann,,,,2026-11-20T10:00:00Z,{updated_at}\n"
BAD_CAMPAIGN = (
    '{"id": 99901, "workspace_id": 99901, "name": "Bogus", "status": "bogus", "track_opens": true, '
    '"created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-20T10:00:00Z"}\n'
)


def _marts(conn) -> tuple:
    return (
        conn.execute(
            "select count(*), max(updated_at), bool_or(lead_id = 'WAPBAD1') from marts.fct_bot_leads"
        ).fetchone(),
        conn.execute("select built_at from marts.dim_as_of").fetchone(),
    )  # changes only when a build is published


@pytest.fixture(scope="module")
def held_back_runs(demo_runs, cycles):
    """Run 3 (`run`, the full job): a raw row fails the raw suite. Run 4 (`refresh`, the 15-minute schedule's
    cycle, which rebuilds only what the new files reach): that row fixed, a dbt test fails. (After the refresh
    cycle, whose tests read the marts it published.)"""
    info, root, _, second, _, env = demo_runs
    assert second.returncode == 0
    header = (
        "lead_id,source,bot_type,service_needed,confidence_score,status,name,email,phone,region,created_at,updated_at\n"
    )
    leads = root / "landing" / "bot_leads" / "leads"
    with warehouse.connect(info) as conn:
        published = _marts(conn)
    (leads / "leads_2026-11-wap1.csv").write_text(
        header + BAD_LEAD.format(confidence="1.5", updated_at="2026-11-20T10:00:00Z")
    )
    raw_check = _run_demo(env, "run")
    report = root / "reports" / "lead_capture.html"
    with warehouse.connect(info) as conn:
        after_raw_check = _marts(conn), publishing.publication_status(conn), report.read_text()
    (leads / "leads_2026-11-wap2.csv").write_text(
        header + BAD_LEAD.format(confidence="0.9", updated_at="2026-11-21T10:00:00Z")
    )
    (root / "landing" / "bison" / "campaigns" / "campaigns_2026-11-wap.jsonl").write_text(BAD_CAMPAIGN)
    # An organisation changes its potentials in the same run: the snapshot must keep both versions (D38).
    organizations = sorted((root / "landing" / "web1on1" / "organizations").glob("*.jsonl"))
    changed = json.loads(organizations[-1].read_text().splitlines()[-1])
    changed["potential_inbound_leads"] += 1
    changed["updated_at"] = "2026-11-23T23:00:00Z"  # after every version the generator wrote (end date 11-23)
    organizations[-1].with_name("organizations_2026-11-wap.jsonl").write_text(json.dumps(changed) + "\n")
    dbt_test = _run_demo(env, "refresh")
    with warehouse.connect(info) as conn:
        after_dbt_test = _marts(conn), publishing.publication_status(conn), _leftover_schemas(conn), report.read_text()
        fixed_in_shadow = conn.execute(
            "select confidence_score::text from marts__build.fct_bot_leads where lead_id = 'WAPBAD1'"
        ).fetchall()
        versions = conn.execute(
            "select potential_inbound_leads from snapshots.snp_web1on1__organizations "
            "where id = %s order by dbt_valid_from",
            (changed["id"],),
        ).fetchall()
    return (
        published,
        raw_check,
        after_raw_check,
        dbt_test,
        after_dbt_test,
        fixed_in_shadow,
        (changed["potential_inbound_leads"], versions),
    )


def test_a_failed_raw_check_stops_dbt_and_says_which_check_and_rows(held_back_runs):
    published, run, (marts, status, html), _, _, _, _ = held_back_runs
    assert run.returncode == 1
    out = run.stdout
    assert out, run.stderr[-3000:]
    assert (
        "  failed check bot_leads/leads:gx_raw_bot_leads__leads: 1 of 8 expectations failed on raw_bot_leads.leads "
        "(expect_column_values_to_be_between(confidence_score): 1 unexpected, e.g. [1.5])"
    ) in out.splitlines()
    assert re.search(r"^      \| WAPBAD1 \| 1\.5 \|$", out, re.MULTILINE), out
    # One step, raw_tables, loads every raw table (D180).
    assert (
        "  failed step raw_tables: 1 blocking asset check failed with ERROR severity: "
        "bot_leads/leads: gx_raw_bot_leads__leads"
    ) in out.splitlines()
    assert re.search(
        r"^  not run \(an upstream step or blocking check failed\): .*\bdbt_models\b.*"
        r"\bwarehouse__published_marts\b",
        out,
        re.MULTILINE,
    ), out
    assert "raw_tables: FAILED: 1 blocking asset check failed" in run.stderr
    assert "Running dbt command" not in run.stderr  # dbt did not build from the bad row
    assert "Recommended Minimal Dashboard" not in out  # no KPIs from the marts of an earlier run
    assert "HTML dashboards rewritten from the published marts, saying what held new data back:" in out
    assert marts == published and marts[0][2] is False  # the dashboards still read the marts published before
    assert status.held_back_by == "check gx_raw_bot_leads__leads"
    assert status.reason.startswith("1 of 8 expectations failed on raw_bot_leads.leads")
    # The HTML dashboard was rewritten from the published marts (the refresh cycle's, which rebuilt part of them)
    # and says what held new data back.
    data_line = re.search(r'<dd id="publication">([^<]*)</dd>', html).group(1)
    assert re.fullmatch(
        r"published \S+ \S+ America/Chicago \(run [0-9a-f]{8}; \d+ of \d+ relations rebuilt \(new data in "
        r"bot_leads\.leads, crm\.leads; the as-of moment moved \(same date; stamps passed in web1on1\.messages\)\)\); "
        r"newer data held back \S+ \S+ "
        r"America/Chicago by check gx_raw_bot_leads__leads: 1 of 8 expectations failed on "
        r"raw_bot_leads\.leads .*",
        data_line,
    ), data_line


def test_a_failed_dbt_test_leaves_the_published_marts_intact(held_back_runs):
    published, _, _, run, (marts, status, leftovers, html), fixed_in_shadow, (now, versions) = held_back_runs
    assert run.returncode == 1
    reason = re.search(r"^  failed step dbt_models: (.*)$", run.stdout, re.MULTILINE)
    assert reason, run.stdout[-3000:]
    assert reason.group(1).startswith("dbt build: 1 test(s) failed: accepted_values_stg_bison__campaigns_status")
    assert reason.group(1).endswith("the published marts are unchanged")
    assert marts == published  # the build that failed its test was never published
    assert fixed_in_shadow == [("0.9",)]  # it was built, out of sight, where it can be inspected
    assert leftovers == ["intermediate__build", "marts__build", "marts_restricted__build", "staging__build"]
    # the snapshot is not part of the held-back build: it kept the history it saw (the old and the new potential)
    assert versions == [(now - 1,), (now,)]
    assert "Recommended Minimal Dashboard" not in run.stdout  # no KPIs from the marts of an earlier run
    assert status.held_back_by == "dbt build" and "accepted_values_stg_bison__campaigns_status" in status.reason
    assert "dashboards' data: published" in run.stdout and "newer data held back" in run.stdout
    assert "by dbt build: 1 test(s) failed: accepted_values_stg_bison__campaigns_status" in html


def test_the_run_history_skips_fsync_only_while_the_run_lasts(tmp_path):
    """Dagster's SQLite run history commits per event (D196): during the CLI's run its connections skip the fsync;
    before and after, and in other processes, SQLite's default (FULL, 2) holds."""
    from sqlalchemy import create_engine, text

    from orchestration.pipeline import _run_history_without_fsync

    def synchronous() -> int:
        engine = create_engine(f"sqlite:///{tmp_path / 'history.db'}")
        with engine.connect() as conn:
            value = conn.execute(text("pragma synchronous")).scalar_one()
        engine.dispose()
        return value

    assert synchronous() == 2
    with _run_history_without_fsync():
        assert synchronous() == 0
    assert synchronous() == 2
