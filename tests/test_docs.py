"""dbt docs open on an overview that leads from every dashboard to its exposure, marts and metrics."""

from __future__ import annotations

import re
from datetime import date

from orchestration import settings
from orchestration.bi import compiler
from orchestration.bi.compiled import date_bounds

OVERVIEW = settings.DBT_PROJECT_DIR / "models" / "overview.md"


def test_the_overview_links_every_dashboard_to_its_exposure_marts_and_metrics():
    text = OVERVIEW.read_text()
    assert text.lstrip().startswith("{% docs __overview__ %}")
    links = set(re.findall(r"\(#!/(\w+)/\1\.lead_analytics\.(\w+)\)", text))
    specs = compiler.compile_specs()
    for key, dashboard in specs.dashboards.items():
        cards = [specs.cards[p.card] for p in dashboard.cards if p.card]
        assert ("exposure", f"{key}_dashboard") in links, f"{key}: exposure not linked"
        missing_metrics = {m.name for card in cards for m in card.metrics} - {
            n for kind, n in links if kind == "metric"
        }
        assert not missing_metrics, f"{key}: metrics not linked from the overview: {sorted(missing_metrics)}"
        marts = {r.split(".", 1)[1] for card in cards for r in card.relations}
        assert marts <= {n for kind, n in links if kind == "model"}, f"{key}: marts not linked"


def test_every_dashboard_has_an_exposure_that_depends_on_the_marts_its_cards_read():
    import json

    specs = compiler.compile_specs()  # parses the project first when the manifest is stale
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    for key, dashboard in specs.dashboards.items():
        exposure = exposures[f"{key}_dashboard"]
        depends = {node.rsplit(".", 1)[1] for node in exposure["depends_on"]["nodes"]}
        marts = {r.split(".", 1)[1] for p in dashboard.cards if p.card for r in specs.cards[p.card].relations}
        assert marts <= depends, f"{key}: exposure misses {sorted(marts - depends)}"


def test_every_report_and_alert_has_an_exposure_with_its_ids_that_depends_on_the_marts_it_reads():
    """A scheduled report or alert rule is in the dbt lineage (`dbt ls --select +exposure:daily_report`), and its
    inventory ids are in the dbt project as well as in its spec (what makes an item live)."""
    import json

    from orchestration.reporting import alerts, specs

    compiled = compiler.compile_specs()
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    expected: dict[str, tuple[list[str], set[str]]] = {}
    for key, report in specs.load_reports().items():
        dashboards = [p.dashboard for p in report.pages]
        tables = set(compiler.marts_read(compiled, dashboards))
        tables |= {compiled.dashboards[d].as_of.table for d in dashboards if compiled.dashboards[d].as_of}
        expected[f"{key}_report"] = (report.kpis, {t.split(".", 1)[1] for t in tables if t.startswith("marts.")})
    for key, rule in alerts.load_rules().items():
        expected[f"{key}_alert"] = (rule.kpis, {t.split(".", 1)[1] for t in rule.reads if t.startswith("marts.")})
    assert {"daily_report", "weekly_executive_report", "monthly_review_report", "system_down_alert"} <= set(expected)
    for name, (kpis, marts) in expected.items():
        exposure = exposures[name]
        assert exposure["meta"]["kpis"] == kpis, name
        depends = {node.rsplit(".", 1)[1] for node in exposure["depends_on"]["nodes"]}
        assert marts <= depends, f"{name}: exposure misses {sorted(marts - depends)}"


# Marts a short default window reads, left without an index on its date because they are small by grain.
UNINDEXED_BY_GRAIN = {
    ("fct_ops_incidents", "started_date"): "one row per incident",
    ("fct_warehouse_loads", "load_date"): "one row per loaded landing file",
}


def _short_window(default: str) -> bool:
    """A date filter default that spans a month or less (this month, the past 30 days, ...), read as the filter
    reads it (`date_bounds`) on a 31-day month's last day."""
    first, last = date_bounds(default, date(2026, 12, 31))
    return first is not None and last is not None and (last - first).days < 31


def test_a_mart_read_through_a_short_default_window_is_indexed_on_that_date():
    """D204 (after D89): a dashboard that opens on a month or less reads a few percent of its marts' rows; a btree
    index on the filtered date lets it read only those (at 10x, 37 ms -> a few ms per operations card). Marts of a
    monthly grain (`month_start`) and the small ones above are exempt."""
    import json

    specs = compiler.compile_specs()
    manifest = json.loads((settings.DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    indexed = {
        (node["name"], column)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        for index in node["config"].get("indexes") or []
        for column in index["columns"][:1]  # a btree index serves a range filter on its first column
    }
    read: set[tuple[str, str]] = set()
    for dashboard in specs.dashboards.values():
        for f in dashboard.filters:
            if not (f.type.startswith("date") and f.default and _short_window(str(f.default))):
                continue
            for placement in dashboard.placements():
                tag_name = placement.mappings.get(f.slug) if placement.card else None
                for tag in specs.cards[placement.card].tags if tag_name else []:
                    if tag.name == tag_name and tag.field:
                        read.add((tag.field.table, tag.field.column))
    assert ("fct_ops_workflow_attempts", "event_date") in read and ("fct_crm_leads", "created_date") in read
    needed = {pair for pair in read if pair[1] != "month_start"} - set(UNINDEXED_BY_GRAIN)
    assert needed - indexed == set()
