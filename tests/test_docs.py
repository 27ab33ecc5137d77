"""dbt docs open on an overview that leads from every dashboard to its exposure, marts and metrics."""

from __future__ import annotations

import re

from orchestration import settings
from orchestration.bi import compiler

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
