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
