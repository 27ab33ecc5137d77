"""Presentation on the metric: a metric's `config.meta` (format, decimals, unit, suffix) says how its values are
written; the HTML report (formats.py) and the Metabase payloads both take it from the compiled card, and a card
sets a format only to override one. Compiles against the project's semantic manifest; no warehouse needed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orchestration.bi import compiler, formats
from orchestration.bi import metabase_payloads as mp
from orchestration.bi.compiled import CompiledCard, Presentation
from orchestration.bi.specs import CardSpec, SpecError
from orchestration.dbt_project import SEMANTIC_MANIFEST, ensure_manifest

ensure_manifest()
LAYER = compiler.SemanticLayer()
FORMAT_KEYS = ("scalar.prefix", "scalar.suffix")  # besides column_settings


def card(display: str, metrics: list[str], **fields: Any) -> CompiledCard:
    return compiler.compile_card(
        CardSpec(key="test__card", name="Test card", kpis=["s004.revenue"], display=display, metrics=metrics, **fields),
        LAYER,
    )


def with_settings(compiled: CompiledCard, settings: dict[str, Any]) -> CompiledCard:
    return compiled.model_copy(update={"visualization_settings": settings})


def text(compiled: CompiledCard, column: str, value: Any, scalar: bool = False, option: str | None = None) -> str:
    return formats.format_value(value, formats.column_format(compiled, column, scalar, option=option))


MONEY = card("table", ["client_revenue", "total_costs", "roi"], group_by=["workspace_month__workspace_name"])
OPEN_RATE = card("scalar", ["open_rate"])
WAITING = card("table", ["after_sales_hours_waiting_for_customer"], group_by=["after_sales_phase__location"])
LEADS = card("scalar", ["leads"])
CHOSEN = card(
    "line",
    ["open_rate", "emails_sent"],
    group_by=["metric_time__month"],
    selector={
        "tag": "metric",
        "label": "Metric",
        "options": {"open_rate": "Open rate", "emails_sent": "Sent"},
        "default": "open_rate",
    },
)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("open_rate", Presentation(format="percent", decimals=1)),
        ("oca_dropoff_invited_to_activated", Presentation(format="percent", decimals=2)),
        ("client_revenue", Presentation(format="currency", decimals=2, unit="USD")),
        ("after_sales_hours_waiting_for_dealer", Presentation(format="duration", decimals=1, unit="hours")),
        ("roi", Presentation(decimals=2, suffix="×")),
        ("avg_leads_per_hour_today", Presentation(decimals=2, unit="leads/hour")),
        ("leads", Presentation(unit="leads")),
        ("emails_sent", Presentation()),  # a count: the default
    ],
)
def test_the_metric_meta_is_compiled_onto_the_card(metric, expected):
    assert LAYER.presentations[metric] == expected
    assert card("scalar", [metric]).presentation == {metric: expected}


def test_html_writes_percent_currency_duration_and_a_tiles_unit_from_the_metric():
    assert text(OPEN_RATE, "open_rate", Decimal("0.31578"), scalar=True) == "31.6%"
    assert text(MONEY, "client_revenue", Decimal(32800)) == "$32,800.00"
    assert text(MONEY, "total_costs", Decimal("1234.5")) == "$1,234.50"
    assert text(MONEY, "total_costs", Decimal("-80.25")) == "-$80.25"
    assert text(MONEY, "roi", Decimal("3.6")) == "3.60×"
    assert text(WAITING, "after_sales_hours_waiting_for_customer", Decimal("12.5")) == "12.5 h"
    assert text(WAITING, "after_sales_hours_waiting_for_customer", Decimal(3)) == "3.0 h"
    assert text(LEADS, "leads", 19, scalar=True) == "19 leads"  # the unit after a tile's big number...
    assert text(LEADS, "leads", 1234) == "1,234"  # ...not in a table cell or a chart label
    assert text(MONEY, "workspace_name", "Acme") == "Acme"
    # a selector's value column is written as the chosen metric
    assert text(CHOSEN, "value", Decimal("0.25"), option="open_rate") == "25.0%"
    assert text(CHOSEN, "value", 1200, option="emails_sent") == "1,200"
    # chart axes
    assert formats.column_format(OPEN_RATE, "open_rate").d3() == ".1%"
    assert formats.column_format(MONEY, "client_revenue").d3() == "$,.2f"
    assert formats.column_format(WAITING, "after_sales_hours_waiting_for_customer").d3() == ",.1f"


def test_a_column_is_a_percent_only_when_its_metric_says_so():
    assert text(None, "some_rate", Decimal("0.5")) == "0.50"  # no guess from the name any more
    assert text(OPEN_RATE, "not_a_metric_rate", Decimal("0.5")) == "0.50"


def test_a_card_override_wins_for_what_it_sets_only():
    rate = with_settings(OPEN_RATE, {"column_settings": {'["name","open_rate"]': {"decimals": 0}}})
    assert text(rate, "open_rate", Decimal("0.31578"), scalar=True) == "32%"
    plain = with_settings(OPEN_RATE, {"column_settings": {'["name", "open_rate"]': {"number_style": "decimal"}}})
    assert text(plain, "open_rate", Decimal("0.31578")) == "0.3"  # a plain number, still with the metric's 1 decimal
    euros = with_settings(
        MONEY, {"column_settings": {'["name","total_costs"]': {"number_style": "currency", "currency": "EUR"}}}
    )
    assert text(euros, "total_costs", Decimal(80)) == "€80.00"  # decimals still the metric's
    assert text(euros, "client_revenue", Decimal(80)) == "$80.00"
    tile = with_settings(LEADS, {"scalar.suffix": " new leads", "scalar.prefix": "≈ "})
    assert text(tile, "leads", 6, scalar=True) == "≈ 6 new leads"
    column_wins = with_settings(
        LEADS, {"scalar.suffix": " a", "column_settings": {'["name","leads"]': {"suffix": " b"}}}
    )
    assert text(column_wins, "leads", 6, scalar=True) == "6 b"
    metabase_rate = mp.visualization(rate)[1]["column_settings"]['["name","open_rate"]']
    assert metabase_rate == {"column_title": "Open rate", "number_style": "percent", "decimals": 0}
    assert mp.visualization(tile)[1]["scalar.suffix"] == " new leads"


def test_metabase_column_settings_come_from_the_metrics():
    settings = mp.visualization(MONEY)[1]["column_settings"]
    assert settings == {
        '["name","workspace_name"]': {"column_title": "Workspace"},  # the dimension's label
        '["name","client_revenue"]': {
            "column_title": "Revenue",
            "number_style": "currency",
            "currency": "USD",
            "decimals": 2,
        },
        '["name","total_costs"]': {
            "column_title": "Total costs",
            "number_style": "currency",
            "currency": "USD",
            "decimals": 2,
        },
        '["name","roi"]': {"column_title": "ROI (revenue / cost)", "decimals": 2, "suffix": "×"},
    }
    assert mp.visualization(WAITING)[1]["column_settings"]['["name","after_sales_hours_waiting_for_customer"]'] == {
        "column_title": "Hours waiting for the customer",
        "decimals": 1,
        "suffix": " h",
    }
    display, scalar = mp.visualization(OPEN_RATE)
    assert (display, scalar) == (
        "scalar",
        {
            "column_settings": {
                '["name","open_rate"]': {"column_title": "Open rate", "number_style": "percent", "decimals": 1}
            }
        },
    )
    assert mp.visualization(LEADS)[1] == {
        "scalar.suffix": " leads",
        "column_settings": {'["name","leads"]': {"column_title": "Leads"}},
    }
    # Metabase formats a column one way whatever the selector picks: the value column gets no format when the
    # options differ, and the shared one when they agree
    assert mp.visualization(CHOSEN)[1]["column_settings"]['["name","value"]'] == {"column_title": "Metric"}
    both = card(
        "bar",
        ["leads", "converted_leads"],
        group_by=["lead__source"],
        selector={
            "tag": "metric",
            "label": "Metric",
            "options": {"leads": "Leads", "converted_leads": "Won"},
            "default": "leads",
        },
    )
    assert mp.presentation_settings(Presentation(unit="leads")) == {}
    assert mp.visualization(both)[1]["column_settings"]['["name","value"]'] == {"column_title": "Metric"}


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (
            {"format": "percentage"},
            "metric open_rate: config.meta format 'percentage' is not one of number, percent, currency, duration",
        ),
        (
            {"format": "percent", "decimals": "one"},
            "metric open_rate: config.meta decimals 'one' is not a whole number from 0 to 10",
        ),
        (
            {"format": "duration"},
            "metric open_rate: config.meta unit None: a duration says the unit it is stored in, one "
            "of seconds, minutes, hours, days",
        ),
        (
            {"format": "currency", "unit": "dollars"},
            "metric open_rate: config.meta unit 'dollars': a currency's unit is its ISO code, e.g. USD",
        ),
        ({"format": "percent", "unit": "%"}, "metric open_rate: config.meta unit '%': a percent has no unit"),
    ],
)
def test_a_bad_presentation_fails_in_one_line_naming_the_metric(tmp_path, meta, message):
    manifest = json.loads(Path(SEMANTIC_MANIFEST).read_text())
    (metric,) = [m for m in manifest["metrics"] if m["name"] == "open_rate"]
    metric["config"]["meta"].update(meta)
    path = tmp_path / "semantic_manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(SpecError) as error:
        compiler.SemanticLayer(path)
    assert str(error.value) == message


# ---------------------------------------------------------------- the project's cards


def repeats(compiled: CompiledCard) -> list[str]:
    """The format settings of a card that only repeat what its metrics already give (Metabase's settings without
    them are the same)."""
    own = compiled.visualization_settings
    bare = {k: v for k, v in own.items() if k not in FORMAT_KEYS and k != "column_settings"}
    derived = mp.visualization(with_settings(compiled, bare))[1]
    found = [f"{compiled.key}: {k}" for k in FORMAT_KEYS if k in own and derived.get(k) == own[k]]
    for key, entry in (own.get("column_settings") or {}).items():
        ref = json.dumps(json.loads(key), separators=(",", ":"))
        found += [
            f"{compiled.key}: {ref} {k}"
            for k, v in entry.items()
            if derived["column_settings"].get(ref, {}).get(k) == v
        ]
    return found


COMPILED = compiler.compile_specs()


def test_no_card_repeats_its_metrics_format():
    assert [r for c in COMPILED.cards.values() for r in repeats(c)] == []
    # the check finds a repeat when there is one
    repeated = with_settings(
        OPEN_RATE, {"column_settings": {'["name", "open_rate"]': {"number_style": "percent", "decimals": 2}}}
    )
    assert repeats(repeated) == ['test__card: ["name","open_rate"] number_style']
    assert repeats(with_settings(LEADS, {"scalar.suffix": " leads"})) == ["test__card: scalar.suffix"]


@pytest.mark.parametrize("key", sorted(COMPILED.cards))
def test_metabase_and_the_html_report_write_every_measure_alike(key):
    """The settings sent to Metabase, read back as a card's own settings with no metric presentation, give the
    HTML report the same text as the metric's presentation: one definition, the same format in both."""
    compiled = COMPILED.cards[key]
    metabase_view = compiled.model_copy(
        update={"presentation": {}, "visualization_settings": mp.visualization(compiled)[1]}
    )
    tile = compiled.display in ("scalar", "smartscalar")
    shown = compiled.visualization_settings.get("scalar.field") or compiled.measure_columns[0]
    for column in compiled.measure_columns:
        scalar = tile and column == shown  # the big number; a tile's other columns are written as in a table
        options = list(compiled.selector.options.values()) if column == "value" and compiled.selector else [None]
        shared = len({compiled.presentation.get(o) for o in options}) == 1
        for option in options if shared else []:
            for value in (Decimal("1234.5"), Decimal("0.25"), 7):
                assert text(metabase_view, column, value, scalar) == text(compiled, column, value, scalar, option)


# ---------------------------------------------------------------- status colours, from the status dimension


def test_a_status_dimension_colours_metabase_and_the_html_table_alike():
    """`config.meta.statuses` on the dimension (value -> tone) is the one rule: Metabase's column formatting and the
    HTML table's chips both take each value's colour from the tone, and the chip keeps the word."""
    from orchestration.bi import tiles
    from orchestration.bi.run import CardResult

    health = COMPILED.cards["operations__component_health"]
    assert health.statuses == {
        "component_status": {"Healthy": "good", "Degraded": "warning", "Down": "bad", "No heartbeat": "unknown"}
    }
    assert health.visualization_settings == {}  # the card itself says nothing about colours
    rules = mp.visualization(health)[1]["table.column_formatting"]
    assert [(r["columns"], r["value"], r["color"]) for r in rules] == [
        (["component_status"], "Healthy", "#84BB4C"),
        (["component_status"], "Degraded", "#F9CF48"),
        (["component_status"], "Down", "#ED6E6E"),
        (["component_status"], "No heartbeat", "#A7A7A7"),
    ]
    columns = list(health.columns)
    result = CardResult(None, health, None, columns, [], query_ms=0, truncated=False, values={})  # type: ignore[arg-type]
    index = health.columns.index("component_status")
    for rule in rules:
        cell = tiles._td(result, index, rule["value"], numeric=False)
        assert f'style="background-color:{rule["color"]}">{rule["value"]}</span>' in cell, cell
    assert tiles._td(result, 0, "Down", numeric=False) == "<td>Down</td>"  # the component name is no status
    apis = COMPILED.cards["system_health__external_apis"]
    assert apis.statuses == {"vendor_status": {"Healthy": "good", "Degraded": "warning", "Down": "bad"}}


@pytest.mark.parametrize(
    ("statuses", "message"),
    [
        (
            {"Healthy": "green"},
            "dimension component_status: config.meta statuses 'Healthy': 'green' is not one of good, warning, bad, "
            "unknown",
        ),
        (["Healthy"], "dimension component_status: config.meta statuses must map each status value to a tone"),
    ],
)
def test_a_bad_status_tone_fails_in_one_line_naming_the_dimension(tmp_path, statuses, message):
    manifest = json.loads(Path(SEMANTIC_MANIFEST).read_text())
    (model,) = [m for m in manifest["semantic_models"] if m["name"] == "ops_component_health"]
    (dim,) = [d for d in model["dimensions"] if d["name"] == "component_status"]
    dim["config"]["meta"]["statuses"] = statuses
    path = tmp_path / "semantic_manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(SpecError) as error:
        compiler.SemanticLayer(path)
    assert str(error.value) == message
