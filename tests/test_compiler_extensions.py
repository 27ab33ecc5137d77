"""The two generic additions to the card compiler: range-wide metrics (`config.meta.range_wide`) and listed groups
(`listed_by`). They compile against the project's semantic manifest; what they return is checked against a
hand-built fixture in tests/test_messaging_cards.py (the Distribution heatmap and the after-sales and bot tables)."""

from __future__ import annotations

import re

import pytest

from orchestration.bi import compiler
from orchestration.bi.specs import CardSpec, SpecError

LAYER = compiler.SemanticLayer()


def spec(**fields) -> CardSpec:
    return CardSpec(key="test__card", name="Test card", kpis=["s003.msg_distribution_heatmap"], **fields)


def _subqueries_reading(sql: str, relation: str) -> list[str]:
    return re.findall(rf"\(select \* from {re.escape(relation)} where ([^)]*)\)", sql)


def test_a_range_wide_input_is_computed_once_over_the_filtered_range_and_joined_to_every_group():
    card = compiler.compile_card(
        spec(
            display="heatmap",
            metrics=["weekly_avg_messages"],
            group_by=["conversation_hour__local_hour", "conversation_hour__weekday"],
            filters={"date": "conversation_hour__local_date", "organisation": "conversation_hour__organization_name"},
        ),
        LAYER,
    )
    grouped, _, wide = card.sql.partition(") as grouped\n  cross join (")
    assert wide, card.sql
    # the weeks are counted without the card's groups, the messages per group; both read the filtered mart
    assert "GROUP BY" in grouped and "GROUP BY" not in wide.split(") as range_wide")[0]
    assert _subqueries_reading(card.sql, "marts.fct_messaging_conversation_hours") == [
        "{{date}} and {{organisation}}",
        "{{date}} and {{organisation}}",
    ]
    # the derived metric's own formula, evaluated over both
    assert '(messaging_messages / nullif(messaging_weeks_in_range, 0)) as "weekly_avg_messages"' in card.sql
    assert [t.name for t in card.tags] == ["date", "organisation"]


def test_a_range_wide_metric_alone_is_one_ungrouped_query():
    card = compiler.compile_card(
        spec(display="scalar", metrics=["messaging_weeks_in_range"], filters={"date": "conversation_hour__local_date"}),
        LAYER,
    )
    assert "as range_wide" in card.sql and "cross join" not in card.sql and "GROUP BY" not in card.sql


def test_a_grouped_card_needs_a_metric_that_is_not_range_wide():
    with pytest.raises(SpecError, match="needs a metric that is not range-wide"):
        compiler.compile_card(
            spec(display="bar", metrics=["messaging_days_in_range"], group_by=["conversation_hour__weekday"]), LAYER
        )


def test_metrics_without_a_range_wide_input_compile_as_before():
    assert (
        compiler._range_wide_plan(
            spec(display="bar", metrics=["messaging_messages"], group_by=["conversation_hour__device"]), LAYER
        )
        is None
    )


def test_listed_groups_take_every_filter_but_the_date_and_show_zero():
    card = compiler.compile_card(
        spec(
            display="table",
            metrics=["after_sales_sessions", "after_sales_messages"],
            group_by=["after_sales_row__channel"],
            listed_by="after_sales_row__is_listed",
            filters={
                "date": "after_sales_row__local_date",
                "organisation": "after_sales_row__organization_name",
                "location": "after_sales_row__location",
            },
        ),
        LAYER,
    )
    listed = card.sql.split("union all")[1]
    assert 'where "is_listed" and {{organisation}} and {{location}}' in listed and "{{date}}" not in listed
    assert 'select distinct "channel_label" as "after_sales_row__channel"' in listed
    assert 'coalesce(max("after_sales_sessions"), 0) as "after_sales_sessions"' in card.sql
    assert card.columns == ("channel", "after_sales_sessions", "after_sales_messages")


def test_listed_groups_need_metrics_whose_empty_value_is_zero():
    with pytest.raises(SpecError, match="fill_nulls_with: 0; not \\['after_sales_hours_waiting_for_customer'\\]"):
        compiler.compile_card(
            spec(
                display="table",
                metrics=["after_sales_hours_waiting_for_customer"],
                group_by=["after_sales_phase__location"],
                listed_by="after_sales_phase__is_listed",
            ),
            LAYER,
        )


def test_listed_groups_must_be_columns_of_the_listing_mart():
    with pytest.raises(SpecError, match="listed_by after_sales_row__is_listed is on messaging_after_sales_activity"):
        compiler.compile_card(
            spec(
                display="table",
                metrics=["bot_messages"],
                group_by=["bot_day__bot_name"],
                listed_by="after_sales_row__is_listed",
            ),
            LAYER,
        )
    with pytest.raises(SpecError, match="every group-by must be a column"):
        compiler.compile_card(
            spec(
                display="line", metrics=["bot_messages"], group_by=["metric_time__week"], listed_by="bot_day__is_listed"
            ),
            LAYER,
        )


def test_listed_by_needs_a_group_by():
    with pytest.raises(ValueError, match="needs a group_by"):
        spec(display="scalar", metrics=["bot_messages"], listed_by="bot_day__is_listed")


def test_metrics_of_the_same_measures_come_from_one_aggregation_unless_a_measure_is_narrowed_two_ways():
    """D203: MetricFlow's passthrough metric evaluation (off by default) computes a card's simple, ratio and derived
    metrics from one aggregation of their measures; it is on only when no measure is read twice, narrowed two ways
    (a funnel's steps compile to an ambiguous column with it)."""
    # s001.behav_channel_performance: attempts, answered touches and their ratio
    channel = ["crm_contact_attempts", "crm_answered_touches", "crm_touch_response_rate"]
    assert LAYER.passes_through(channel)
    sql = LAYER.explain(channel, ["crm_touch__channel_label"])
    assert sql.count("GROUP BY") == 1 and "FULL OUTER JOIN" not in sql and "WITH " not in sql
    # the response rate is the two sums' ratio, in the same select
    ratio = "CAST(NULLIF(COALESCE(__crm_contact_attempts, 0), 0) AS DOUBLE PRECISION) AS crm_touch_response_rate"
    assert f"/ {ratio}" in sql
    # one measure, a filter per funnel step: each step keeps its own aggregation
    assert not LAYER.passes_through(["oca_invited_users", "oca_activated_users"])
    # a metric and its year-ago offset read the same measure two ways
    assert not LAYER.passes_through(["crm_leads", "crm_leads_year_ago"])
    steps = LAYER.explain(["oca_invited_users", "oca_activated_users"])
    assert "WHERE oca_invitation_step__step_order = 1" in steps and "WHERE oca_invitation_step__step_order = 2" in steps


def _repeated_columns(sql: str) -> list[str]:
    """Column names a select of `sql` (its filter tags read as true) lists twice."""
    import collections

    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(re.sub(r"\{\{\s*\w+\s*\}\}", "true", sql), read="postgres")
    repeated = []
    for select in tree.find_all(exp.Select):
        names = [e.alias_or_name for e in select.expressions if isinstance(e, (exp.Alias, exp.Column))]
        repeated += [name for name, count in collections.Counter(names).items() if count > 1]
    return repeated


def test_no_compiled_card_selects_a_column_name_twice(monkeypatch):
    """D203: what passthrough evaluation breaks when two branches pass the same input up is a select listing one
    name twice, which PostgreSQL refuses as ambiguous. No card compiles to one; forced on, the funnel would."""
    compiled = compiler.compile_specs()
    assert {key: r for key, card in compiled.cards.items() if (r := _repeated_columns(card.sql))} == {}
    funnel = compiler.wire(compiler.load_specs(compiler.SPECS_DIR), LAYER).cards["omnichannel__invitation_conversion"]
    monkeypatch.setattr(LAYER, "passes_through", lambda metrics: True)
    assert set(_repeated_columns(compiler.compile_card(funnel, LAYER).sql)) == {
        "oca_invited_users",
        "oca_activated_users",
    }
