"""The semantic layer and the card compiler: MetricFlow validates the configs, cards that cannot be
compiled are refused in one line, and compiled SQL is rendered the way Metabase fills field filters."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml

from orchestration import settings
from orchestration.bi import compiled as c
from orchestration.bi import compiler
from orchestration.bi.specs import SpecError

MF = Path(os.sys.executable).parent / "mf"


def test_metricflow_validates_the_semantic_layer():
    env = dict(os.environ, LEAD_ANALYTICS_PGHOST="localhost", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(
        [str(MF), "validate-configs", "--skip-dw"],
        cwd=settings.DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "ERRORS: 0" in proc.stdout


# ---------------------------------------------------------------- compiling


def write_specs(tmp_path: Path, cards: dict[str, dict], dashboard: dict | None = None) -> Path:
    (tmp_path / "cards").mkdir(parents=True)
    (tmp_path / "dashboards").mkdir()
    for key, card in cards.items():
        (tmp_path / "cards" / f"{key}.yml").write_text(yaml.safe_dump(card))
    if dashboard:
        (tmp_path / "dashboards" / "test.yml").write_text(yaml.safe_dump(dashboard))
    return tmp_path


CARD = {"name": "Leads", "kpis": ["s000.total_leads"], "display": "scalar", "metrics": ["leads"]}


def compile_one(tmp_path: Path, **changes) -> c.CompiledCard:
    specs = compiler.compile_specs(write_specs(tmp_path, {"test__card": {**CARD, **changes}}), cache_dir=None)
    return specs.cards["test__card"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": ["no_such_metric"]}, "unknown metric 'no_such_metric'"),
        ({"filters": {"source": "lead__nope"}}, "unknown dimension 'lead__nope'"),
        ({"display": "sparkline"}, "display: Input should be"),
        ({"metrics": ["leads", "leads_today"]}, "a scalar card shows one metric"),
        ({"order_by": ["-nope"]}, "order_by ['-nope'] names neither a metric nor a group-by"),
        ({"group_by": ["lead__source"], "display": "combo"}, "combo card says in `series`"),
    ],
)
def test_a_card_that_cannot_compile_is_refused_in_one_line(tmp_path, changes, message):
    with pytest.raises(SpecError) as error:
        compile_one(tmp_path, **changes)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_filter_must_filter_the_mart_the_metrics_read(tmp_path):
    # hours_begun_today reads marts.dim_as_of only: a source filter on the lead fact cannot narrow it
    with pytest.raises(SpecError, match="does not filter any metric of the card"):
        compile_one(tmp_path, metrics=["hours_begun_today"], filters={"source": "lead__source"})


def test_a_dashboard_filter_must_have_the_type_of_the_tag_it_feeds(tmp_path):
    card = {**CARD, "filters": {"created": "lead__created_date"}}
    dashboard = {
        "name": "T",
        "collection": "C",
        "filters": [{"slug": "day", "name": "Day", "type": "string/="}],
        "cards": [{"card": "test__card", "row": 0, "col": 0, "size_x": 4, "size_y": 2, "mappings": {"day": "created"}}],
    }
    with pytest.raises(
        SpecError, match="filter 'day' is string/= but card test__card tag 'created' takes date/all-options"
    ):
        compiler.compile_specs(write_specs(tmp_path, {"test__card": card}, dashboard), cache_dir=None)


def test_compiled_sql_reads_the_filtered_mart_through_a_field_filter_sub_select(tmp_path):
    card = compile_one(tmp_path, group_by=["lead__source"], display="bar", filters={"source": "lead__source"})
    assert "(select * from marts.fct_bot_leads where {{source}})" in card.sql
    assert '"lead_analytics"' not in card.sql  # no database-qualified names: runs in any database
    (tag,) = card.tags
    assert (tag.kind, tag.widget_type, tag.field.qualified) == ("dimension", "string/=", "marts.fct_bot_leads.source")
    assert card.columns == ("source", "leads") and card.labels == {"source": "Source", "leads": "Leads"}


def test_the_cache_is_keyed_by_the_cards_and_the_semantic_manifest(tmp_path, monkeypatch):
    specs_dir = write_specs(tmp_path / "specs", {"test__card": CARD})
    first = compiler.compile_specs(specs_dir, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("cards-*.json"))) == 1
    compiled = []
    real_compile = compiler.compile_card
    monkeypatch.setattr(
        compiler, "compile_card", lambda spec, layer: compiled.append(spec.key) or real_compile(spec, layer)
    )
    assert compiler.compile_specs(specs_dir, cache_dir=tmp_path / "cache").cards == first.cards
    assert compiled == []  # read from the cache, not compiled again
    (specs_dir / "cards" / "test__card.yml").write_text(yaml.safe_dump({**CARD, "name": "Renamed"}))
    assert compiler.compile_specs(specs_dir, cache_dir=tmp_path / "cache").cards["test__card"].name == "Renamed"
    assert compiled == ["test__card"]
    assert len(list((tmp_path / "cache").glob("cards-*.json"))) == 1
    (tmp_path / "cache" / next((tmp_path / "cache").glob("cards-*.json")).name).write_text('{"test__card": {}}')
    assert compiler.compile_specs(specs_dir, cache_dir=tmp_path / "cache").cards["test__card"].name == "Renamed"
    assert compiled == ["test__card", "test__card"]  # a cache that no longer fits is compiled again


# ---------------------------------------------------------------- rendering as Metabase does


def tagged(*tags: c.TemplateTag) -> c.CompiledCard:
    return c.CompiledCard(
        key="t__t",
        name="t",
        description="",
        kpis=("s000.total_leads",),
        display="table",
        sql="select 1 from (select * from marts.x where "
        + " and ".join("{{" + t.name + "}}" for t in tags)
        + ") x where '100%' = '100%'",
        tags=tags,
        columns=("a",),
        labels={"a": "A"},
        series={},
        metrics=(),
        relations=(),
        visualization_settings={},
    )


def field_tag(name: str, widget: str, data_type: str = "text") -> c.TemplateTag:
    return c.TemplateTag(
        name=name,
        display_name=name,
        kind="dimension",
        widget_type=widget,
        data_type=data_type,
        field=c.FieldRef(schema_name="marts", table="x", column=name),
    )


def test_field_filters_render_as_metabase_writes_them():
    card = tagged(
        field_tag("source", "string/="),
        field_tag("day", "date/all-options", "date"),
        field_tag("name", "string/contains"),
    )
    sql, params = c.render_sql(card, {"source": ["Website", "Ads"], "day": "2025-03-01~2025-03-31", "name": "50%_off"})
    assert sql == (
        'select 1 from (select * from marts.x where "source" in (%(p0)s, %(p1)s) and '
        '("day" >= %(p2)s and "day" <= %(p3)s) and ("name" ilike %(p4)s)) x where \'100%%\' = \'100%%\''
    )
    assert params == {
        "p0": "Website",
        "p1": "Ads",
        "p2": date(2025, 3, 1),
        "p3": date(2025, 3, 31),
        "p4": "%50\\%\\_off%",
    }
    sql, params = c.render_sql(card, {})
    assert "where 1 = 1 and 1 = 1 and 1 = 1)" in sql and params == {}


@pytest.mark.parametrize(
    ("value", "first", "last"),
    [
        ("2025-03-01~2025-03-31", date(2025, 3, 1), date(2025, 3, 31)),
        ("2025-03-10~", date(2025, 3, 10), None),
        ("~2025-03-10", None, date(2025, 3, 10)),
        ("2025-03-09", date(2025, 3, 9), date(2025, 3, 9)),
        ("2025-02", date(2025, 2, 1), date(2025, 2, 28)),
        ("Q1-2025", date(2025, 1, 1), date(2025, 3, 31)),
        # as of Monday 2025-03-31: relative periods exclude the current one unless they end with ~
        ("thismonth", date(2025, 3, 1), date(2025, 3, 31)),
        ("thisweek", date(2025, 3, 31), date(2025, 4, 6)),
        ("past7days", date(2025, 3, 24), date(2025, 3, 30)),
        ("past7days~", date(2025, 3, 24), date(2025, 3, 31)),  # Metabase: the 7 days before and the current one
        ("past1months", date(2025, 2, 1), date(2025, 2, 28)),
        ("past12months", date(2024, 3, 1), date(2025, 2, 28)),
        ("next1weeks", date(2025, 4, 7), date(2025, 4, 13)),
    ],
)
def test_date_filter_values(value, first, last):
    assert c.date_bounds(value, today=date(2025, 3, 31)) == (first, last)


@pytest.mark.parametrize("value", ["2025-13-01", "yesterday", "past7fortnights", "2025-03-01~soon"])
def test_a_bad_date_value_is_refused_with_the_formats(value):
    with pytest.raises(c.RenderError, match=r"is not a date filter value .*2025-03-01~2025-03-31"):
        c.date_bounds(value, today=date(2025, 3, 31))


def test_unknown_filters_and_selector_values_are_refused():
    card = tagged(field_tag("source", "string/="))
    with pytest.raises(c.RenderError, match="has no filter\\(s\\) nope"):
        c.render_sql(card, {"nope": "x"})
    selector = c.TemplateTag(
        name="metric",
        display_name="Metric",
        kind="text",
        widget_type="string/=",
        default="Leads",
        options={"Leads": "leads", "Messages": "messages"},
    )
    card = c.CompiledCard(**{**tagged().model_dump(), "sql": "select {{metric}}", "tags": (selector,)})
    assert c.render_sql(card, {}) == ("select %(p0)s", {"p0": "Leads"})
    assert c.render_sql(card, {"metric": ["Messages"]}) == ("select %(p0)s", {"p0": "Messages"})
    with pytest.raises(c.RenderError, match="Metric must be one of Leads, Messages"):
        c.render_sql(card, {"metric": "Sessions"})
