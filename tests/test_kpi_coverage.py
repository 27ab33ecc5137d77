"""Every item of a live seed is live: its id is in the dbt project, on a card or dashboard, and in a test.

docs/KPI_INVENTORY.md (a copy of the product team's inventory) lists every metric, chart, table, filter,
alert, report and rule of the five product documents with an id like `s000.total_leads`. An item is live
when its id is in the dbt project (a metric's or model's meta, a doc block, a test), unless it is a rule on a
card or dashboard under metabase/, and named by the test that proves it (a docstring, a `KPIS` list beside the
hand-computed rows, an assertion) under tests/. An id only in a comment does not count. Items of kind `ops`
(running the software itself) are scoped separately and not checked, except those in LIVE_OPS: an `ops` item
becomes live when the data it needs is received (issue 18: the automation engine's own logs) and is then checked
like any other. A seed joins LIVE_SEEDS when its domain is built; a seed built dashboard by dashboard lists the id
prefixes of its live parts in LIVE_PARTS until it is whole.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest
import yaml

from orchestration import settings

INVENTORY = settings.PROJECT_ROOT / "docs" / "KPI_INVENTORY.md"
LIVE_SEEDS = ("s000", "s002", "s003", "s004")
# Issue 16's Lead analytics dashboard: the id prefixes of its seed-001 items.
S001_LEAD_ANALYTICS = (
    "s001.source_perf",
    "s001.lead_quality",
    "s001.rule_lead_score_bands",
    "s001.behav_",
    "s001.attr",
    "s001.lead_response_time_",
    "s001.conv_rate_",
    "s001.ent_multi_location",
    "s001.rule_data_retention",
    "s001.addon_predictive_analytics",
    "s001.addon_forecasting",
    "s001.addon_multi_touch_attribution",
)
# Issue 16's Agent performance dashboard: every Agent Performance item but goal and incentive tracking (issue 17).
S001_AGENT_PERFORMANCE = (
    "s001.agent_scorecard",
    "s001.agent.",
    "s001.team_",
    "s001.time_alloc_",
    "s001.top_performers_board",
    "s001.improvement_plans",
)
# Issue 17's Executive summary and Cost-benefit analysis (the ROI framework): its seed-001 items, by full id.
S001_ROI = (
    "s001.exec_roi_table",
    "s001.exec_roi_table.current_period",
    "s001.exec_roi_table.previous_period",
    "s001.exec_roi_table.target",
    "s001.exec_roi_table.status",
    "s001.exec_total_roi",
    "s001.exec_monthly_savings",
    "s001.exec_revenue_attribution",
    "s001.exec_time_savings",
    "s001.lead_response_time_avg",
    "s001.lead_response_time_median",
    "s001.lead_response_time_p95",
    "s001.conv_rate_lead_to_appointment",
    "s001.conv_rate_lead_to_close",
    "s001.chart_monthly_revenue_trend",
    "s001.chart_time_savings_accumulation",
    "s001.chart_conversion_rate_improvement",
    "s001.chart_cost_avoidance",
    "s001.alert_high_priority_leads_waiting_2h",
    "s001.alert_conversion_drop_10pct",
    "s001.alert_monthly_targets_at_risk",
    "s001.alert_business_conversion_drop",
    "s001.roi_monthly",
    "s001.rule_time_savings_value",
    "s001.rule_revenue_attribution",
    "s001.rule_cost_avoidance",
    "s001.rule_system_costs",
    "s001.roi_input.avg_hourly_rate",
    "s001.roi_input.number_of_agents",
    "s001.roi_input.automation_attribution_pct",
    "s001.roi_input.avg_deal_value",
    "s001.roi_input.manual_errors_prevented",
    "s001.roi_input.avg_error_cost",
    "s001.rule_attr_direct",
    "s001.rule_attr_assisted",
    "s001.rule_attr_influenced",
    "s001.cba_cost_table",
    "s001.cba_benefit_table",
    "s001.cba.monthly_amount",
    "s001.cba.annual_amount",
    "s001.cba.system_infrastructure",
    "s001.cba.api_service_costs",
    "s001.cba.support_maintenance",
    "s001.cba.total_investment",
    "s001.cba.time_savings",
    "s001.cba.revenue_attribution",
    "s001.cba.error_prevention",
    "s001.cba.total_benefits",
    "s001.cba.monthly_roi",
    "s001.cba.annual_roi",
    "s001.goal_tracking",
    "s001.incentive_tracking",
    "s001.team_productivity_improvement",
    "s001.custom_industry_kpis",
)
# Seeds live in part: seed -> the id prefixes of the items that are live (an id is live when it starts with one).
LIVE_PARTS: dict[str, tuple[str, ...]] = {
    "s001": S001_LEAD_ANALYTICS + S001_AGENT_PERFORMANCE + S001_ROI,
}
DBT_DIRS = ("models", "macros", "seeds", "snapshots", "tests/dbt")
# `ops` items made live by issue 18 (Operations monitor, System health, the executive uptime and error rates) and 19
LIVE_OPS = (
    "s001.system_uptime_current_month",
    "s001.system_uptime_12m_avg",
    "s001.error_rate_processing_failures",
    "s001.error_rate_data_accuracy",
    "s001.alert_system_degradation",
    "s001.component_health_table",
    "s001.component_health.status",
    "s001.component_health.response_time",
    "s001.component_health.success_rate",
    "s001.trend_success_rates",
    "s001.errors_active",
    "s001.errors_categories",
    "s001.errors_mttr",
    "s001.errors_trends",
    "s001.db_data_growth",
    "s001.ext_api_health_table",
    "s001.ext_api.status",
    "s001.ext_api.response_time",
    "s001.ext_api.rate_limit",
    "s001.ext_api.error_rate",
    "s001.ext_api.sla_compliance",
    # issue 19: who may see what (roles, masking, the access log, export controls)
    "s001.acl_role_permissions",
    "s001.acl_data_masking",
    "s001.acl_audit_logging",
    "s001.acl_export_controls",
)
# the other items issue 18 builds (kinds metric, chart, rule), live before seed 001 as a whole joins LIVE_SEEDS
ISSUE_18_ITEMS = (
    "s001.pipeline_flow",
    "s001.pipeline_web_forms_per_hour",
    "s001.pipeline_60s_response_success",
    "s001.pipeline_enrichment_success",
    "s001.pipeline_scoring_success",
    "s001.pipeline_routing_success",
    "s001.pipeline_nurture_success",
    "s001.component_health.last_24h",
    "s001.trend_throughput",
    "s001.trend_response_times",
    "s001.rule_data_freshness",
)
SUFFIXES = (".yml", ".sql", ".md", ".csv", ".py")
_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/|\{#.*?#\}", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def inventory() -> dict[str, str]:
    """id -> kind, from the inventory's tables."""
    items = {}
    for line in INVENTORY.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 5 and re.fullmatch(r"`s\d{3}\.[a-z0-9_.]+`", cells[1]):
            items[cells[1].strip("`")] = cells[4]
    return items


def without_comments(text: str, suffix: str) -> str:
    """The text a reader (dbt, Metabase, pytest) acts on: comments dropped, strings and docstrings kept."""
    if suffix == ".py":
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        return " ".join(t.string for t in tokens if t.type != tokenize.COMMENT)
    if suffix == ".yml":
        return repr(yaml.safe_load(text))  # the loaded values: comments are gone, every string is kept
    if suffix == ".sql":
        return _SQL_COMMENT.sub(" ", text)
    if suffix == ".md":
        return _HTML_COMMENT.sub(" ", text)
    return text


def live_items(seed: str) -> dict[str, str]:
    """id -> kind of the seed's items that must be live: all but ops, or the live parts of a seed in LIVE_PARTS."""
    items = {k: kind for k, kind in inventory().items() if k.startswith(f"{seed}.") and kind != "ops"}
    if seed in LIVE_PARTS:
        items = {k: kind for k, kind in items.items() if k.startswith(LIVE_PARTS[seed])}
    return items


def _text_under(
    folders: tuple[str, ...], suffixes: tuple[str, ...] = (".yml", ".sql", ".md", ".csv"), skip: tuple[Path, ...] = ()
) -> str:
    root = settings.PROJECT_ROOT
    return "\n".join(
        without_comments(p.read_text(errors="replace"), p.suffix)
        for folder in folders
        if (root / folder).exists()
        for p in sorted((root / folder).rglob("*"))
        if p.is_file() and p.suffix in suffixes and p.resolve() not in skip
    )


def _mentions(text: str, item_id: str) -> bool:
    # an id may end a sentence ("... s003.mec."), but s003.mec is not s003.mec_potential or s003.mec.part
    return re.search(rf"(?<![a-z0-9_.]){re.escape(item_id)}(?!\.?[a-z0-9_])", text) is not None


def test_the_inventory_is_the_product_teams():
    items = inventory()
    assert len(items) == 382
    assert sum(1 for kind in items.values() if kind != "ops") == 302
    shared = Path(__file__).resolve().parents[2] / "shared" / "KPI_INVENTORY.md"
    if shared.exists():  # the monorepo checkout; CI clones only this repository
        assert shared.read_text() == INVENTORY.read_text(), "docs/KPI_INVENTORY.md is out of date"


@pytest.mark.parametrize("seed", LIVE_SEEDS + tuple(LIVE_PARTS))
def test_every_item_of_a_live_seed_is_live(seed):
    dbt_text = _text_under(DBT_DIRS)
    bi_text = _text_under(("metabase",))
    items = live_items(seed)
    assert items
    missing_in_dbt = sorted(k for k in items if not _mentions(dbt_text, k))
    missing_on_dashboards = sorted(k for k, kind in items.items() if kind != "rule" and not _mentions(bi_text, k))
    assert missing_in_dbt == [], "not in the dbt project"
    assert missing_on_dashboards == [], "on no card or dashboard"


@pytest.mark.parametrize("seed", LIVE_SEEDS + tuple(LIVE_PARTS))
def test_every_item_of_a_live_seed_is_named_by_its_test(seed):
    """Searching an id finds the test that proves it. This file names ids only as examples, so it does not count;
    neither do the fixtures' data files."""
    tests_text = _text_under(("tests",), suffixes=(".py", ".sql", ".yml"), skip=(Path(__file__).resolve(),))
    items = live_items(seed)
    assert items
    assert sorted(k for k in items if not _mentions(tests_text, k)) == [], "named by no test under tests/"


@pytest.mark.parametrize(
    ("text", "suffix", "kept"),
    [
        ("kpis: [s003.mec]  # s003.mec_potential too\n", ".yml", ["s003.mec"]),
        ("description: 'see s003.mec # and more'\n", ".yml", ["s003.mec"]),  # a '#' inside a string is not a comment
        ("select 1 -- s003.mec\n/* s003.users_active */ {# s003.chats_lead #} ", ".sql", []),
        ("x = 's003.mec'  # s003.mec_potential\n", ".py", ["s003.mec"]),
        ('def t():\n    """Proves s003.mec."""\n', ".py", ["s003.mec"]),
        ("<!-- s003.mec --> s003.chats_lead", ".md", ["s003.chats_lead"]),
        (
            "s003.mec_potential, s003.mec.part and s003.users_active.",
            ".md",
            ["s003.mec_potential", "s003.users_active"],
        ),
    ],
)
def test_an_id_only_in_a_comment_does_not_count(text, suffix, kept):
    ids = ("s003.mec", "s003.mec_potential", "s003.users_active", "s003.chats_lead")
    assert [i for i in ids if _mentions(without_comments(text, suffix), i)] == kept


def test_the_live_parts_of_seed_001_are_the_lead_analytics_items():
    """31 items: source performance, lead quality, behaviour, attribution, lead response time, conversion rates,
    multi-location, retention and the three analytics add-ons."""
    items = {k: kind for k, kind in live_items("s001").items() if k.startswith(S001_LEAD_ANALYTICS)}
    assert len(items) == 31
    assert set(items.values()) == {"metric", "chart", "table", "rule", "filter"}


def test_the_live_parts_of_seed_001_include_the_roi_items():
    """54 items of the Executive summary (but uptime and error rates, which the operations issue adds), the ROI
    Calculation Framework, goal and incentive tracking, productivity improvement and industry KPIs; every one a
    non-ops inventory id."""
    items = inventory()
    assert len(S001_ROI) == len(set(S001_ROI)) == 54
    assert [i for i in S001_ROI if items.get(i, "ops") == "ops"] == []
    assert set(S001_ROI) <= set(live_items("s001"))


def test_live_ops_items_and_issue_18_items_are_live():
    """Like a live seed's items: in the dbt project, on a card or dashboard (rules excepted), named by a test."""
    items = inventory()
    assert {items[k] for k in LIVE_OPS} == {"ops"}
    assert "ops" not in {items[k] for k in ISSUE_18_ITEMS}
    dbt_text = _text_under(DBT_DIRS)
    bi_text = _text_under(("metabase",))
    tests_text = _text_under(("tests",), suffixes=(".py", ".sql", ".yml"), skip=(Path(__file__).resolve(),))
    ids = (*LIVE_OPS, *ISSUE_18_ITEMS)
    assert sorted(k for k in ids if not _mentions(dbt_text, k)) == [], "not in the dbt project"
    assert sorted(k for k in ids if items[k] != "rule" and not _mentions(bi_text, k)) == [], "on no card"
    assert sorted(k for k in ids if not _mentions(tests_text, k)) == [], "named by no test under tests/"


def test_every_id_of_a_report_or_alert_spec_is_live():
    """Issue 20: the ids a report or alert spec names (s001.report_*, s001.alert_*, s001.custom_report_templates,
    s001.addon_machine_learning, s001.ent_regulatory_reporting) are in the dbt project too: each spec has an
    exposure carrying them (models/marts/_reporting__exposures.yml, kept in step by tests/test_docs.py)."""
    from orchestration.reporting import alerts, specs

    ids = {k for r in specs.load_reports().values() for k in r.kpis} | {
        k for rule in alerts.load_rules().values() for k in rule.kpis
    }
    assert {"s001.report_daily", "s001.alert_critical", "s001.addon_machine_learning"} <= ids
    assert not ids - set(inventory()), "not inventory ids"
    dbt_text = _text_under(DBT_DIRS)
    assert sorted(k for k in ids if not _mentions(dbt_text, k)) == [], "not in the dbt project"
