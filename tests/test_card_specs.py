"""Card and dashboard specs as people write them: dashboard filters resolved by concept on each card's own
semantic model, `ignores` with a reason, card variants, shared metric selectors, and words (the time zone) that
live in settings, not in the YAML. Compiled against the project's real semantic manifest; no database."""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path

import pytest
import yaml

from orchestration import settings
from orchestration.bi import compiler
from orchestration.bi import metabase as mp
from orchestration.bi.specs import SpecError

LEADS = {
    "name": "Leads",
    "description": "Leads captured.",
    "kpis": ["s000.total_leads"],
    "display": "scalar",
    "metrics": ["leads"],
}
CHATS = {
    "name": "Conversations",
    "description": "Active conversations.",
    "kpis": ["s003.msg_overview_chart"],
    "display": "scalar",
    "metrics": ["messaging_active_conversations"],
}
SENT = {
    "name": "E-mails sent",
    "description": "E-mails sent.",
    "kpis": ["s004.emails_sent"],
    "display": "scalar",
    "metrics": ["emails_sent"],
}
REVENUE = {
    "name": "Revenue",
    "description": "Revenue.",
    "kpis": ["s004.client_revenue"],
    "display": "scalar",
    "metrics": ["client_revenue"],
}


def place(*keys: str) -> list[dict]:
    return [{"card": key, "row": 0, "col": 4 * i, "size_x": 4, "size_y": 2} for i, key in enumerate(keys)]


def dashboard(filters: list[dict], cards: list[dict], **more) -> dict:
    return {"name": "Test", "collection": "Test", "filters": filters, "cards": cards, **more}


def write(
    tmp_path: Path, cards: dict[str, dict], dashboards: dict[str, dict] | None = None, **registries: dict
) -> Path:
    (tmp_path / "cards").mkdir()
    (tmp_path / "dashboards").mkdir()
    for key, card in cards.items():
        (tmp_path / "cards" / f"{key}.yml").write_text(yaml.safe_dump(card, sort_keys=False))
    for key, spec in (dashboards or {}).items():
        (tmp_path / "dashboards" / f"{key}.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for name, content in registries.items():  # concepts=..., selectors=...
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump(content, sort_keys=False))
    return tmp_path


def compile_(tmp_path: Path, *args, **kwargs) -> compiler.CompiledSpecs:
    return compiler.compile_specs(write(tmp_path, *args, **kwargs), cache_dir=None)


def refusal(tmp_path: Path, *args, **kwargs) -> str:
    with pytest.raises(SpecError) as error:
        compile_(tmp_path, *args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


ORGANISATION = {"slug": "org", "name": "Organisation", "type": "string/=", "concept": "organisation"}


# ---------------------------------------------------------------- filters by concept


def test_each_card_takes_a_filter_on_its_own_models_column_for_the_concept(tmp_path):
    """One Organisation filter over a Web1on1 card and a Bison card: the concept stands for organization_name in
    one mart and workspace_name in the other (concepts.yml), and each card's tag filters its own mart."""
    specs = compile_(
        tmp_path,
        {"test__chats": CHATS, "test__sent": SENT},
        {"both": dashboard([ORGANISATION], place("test__chats", "test__sent"))},
        concepts={"organisation": ["organization_name", "workspace_name"]},
    )
    chats, sent = specs.cards["test__chats"], specs.cards["test__sent"]
    assert [(t.name, t.display_name, t.widget_type, t.field.qualified) for t in chats.tags] == [
        ("org", "Organisation", "string/=", "marts.fct_messaging_conversation_hours.organization_name")
    ]
    assert [(t.name, t.field.qualified) for t in sent.tags] == [("org", "marts.fct_campaign_daily.workspace_name")]
    assert "(select * from marts.fct_campaign_daily where {{org}})" in sent.sql
    assert [p.mappings for p in specs.dashboards["both"].cards] == [{"org": "org"}, {"org": "org"}]


def test_a_concept_not_in_the_registry_is_the_dimension_of_its_name(tmp_path):
    specs = compile_(
        tmp_path,
        {"test__leads": LEADS},
        {
            "d": dashboard(
                [{"slug": "src", "name": "Channel", "type": "string/=", "concept": "source"}], place("test__leads")
            )
        },
    )
    (tag,) = specs.cards["test__leads"].tags
    assert (tag.name, tag.display_name, tag.field.column) == ("src", "Channel", "source")


def test_a_date_filter_narrows_the_models_time_dimension_by_day_or_coarser(tmp_path):
    """The lead fact aggregates by the local hour; a date filter takes its day dimension. A month-grained mart
    takes its month, with the filter's own widget (a month picker)."""
    filters = [
        {"slug": "created", "name": "Created", "type": "date/all-options"},
        {"slug": "month", "name": "Month", "type": "date/month-year"},
    ]
    specs = compile_(
        tmp_path,
        {"test__leads": LEADS, "test__revenue": REVENUE},
        {"d": dashboard(filters, place("test__leads", "test__revenue"))},
    )
    assert [(t.name, t.widget_type, t.field.qualified) for t in specs.cards["test__leads"].tags] == [
        ("created", "date/all-options", "marts.fct_bot_leads.created_date"),
        ("month", "date/month-year", "marts.fct_bot_leads.created_date"),
    ]
    assert {t.field.qualified for t in specs.cards["test__revenue"].tags} == {"marts.fct_workspace_months.month_start"}
    assert specs.dashboards["d"].filters[0].concept == specs.dashboards["d"].filters[1].concept == "date"


def test_an_ignored_concept_gives_no_tag_and_keeps_its_reason(tmp_path):
    today = {**LEADS, "metrics": ["leads_today"], "ignores": {"date": "counts from the as-of moment"}}
    filters = [
        {"slug": "created", "name": "Created", "type": "date/all-options"},
        {"slug": "source", "name": "Source", "type": "string/="},
    ]
    specs = compile_(tmp_path, {"test__today": today}, {"d": dashboard(filters, place("test__today"))})
    card = specs.cards["test__today"]
    assert [t.name for t in card.tags] == ["source"] and card.ignores == {"date": "counts from the as-of moment"}
    assert specs.dashboards["d"].cards[0].mappings == {"source": "source"}
    worded = mp.worded(specs, "Europe/Amsterdam").cards["test__today"]
    assert worded.description == "Leads captured.\n\nNot narrowed by Created: counts from the as-of moment"


def test_a_filter_a_card_neither_takes_nor_ignores_is_one_line_naming_dashboard_card_and_filter(tmp_path):
    loaded = {
        "name": "Loaded",
        "description": "When Bison data was last loaded.",
        "kpis": ["s004.data_last_loaded"],
        "display": "scalar",
        "metrics": ["bison_data_last_loaded_at"],
    }
    workspace = {"slug": "workspace", "name": "Workspace", "type": "string/="}
    message = refusal(tmp_path, {"test__loaded": loaded}, {"campaigns": dashboard([workspace], place("test__loaded"))})
    assert message == (
        "dashboard campaigns: card test__loaded neither takes nor ignores filter 'workspace' (concept workspace): "
        "campaign_data_loads has no dimension workspace on a mart column; add `ignores: {workspace: <reason>}` to the "
        "card, or a `filters: {workspace: <dimension>}` entry"
    )


def test_an_ignore_no_dashboard_filter_is_about_is_refused(tmp_path):
    stale = {**LEADS, "ignores": {"workspace": "not a Bison card"}}
    message = refusal(tmp_path, {"test__leads": stale}, {"d": dashboard([], place("test__leads"))})
    assert message == "card test__leads ignores workspace, which no filter of its dashboards is"


def test_a_card_that_maps_a_filter_it_ignores_is_refused(tmp_path):
    both = {**LEADS, "ignores": {"source": "x"}, "filters": {"src": "lead__source"}}
    cards = [{**place("test__leads")[0], "mappings": {"source": "src"}}]
    message = refusal(
        tmp_path,
        {"test__leads": both},
        {"d": dashboard([{"slug": "source", "name": "Source", "type": "string/="}], cards)},
    )
    assert message == "dashboard d: card test__leads maps filter 'source' but ignores its concept source"


def test_a_card_filter_or_a_written_mapping_overrides_the_resolution(tmp_path):
    """A card that needs another dimension or label writes the tag; a placement feeding a tag of another name
    writes the mapping. Nothing is resolved for them."""
    typed = {**LEADS, "filters": {"source": {"dimension": "lead__bot_type", "label": "Bot"}}}
    renamed = {**LEADS, "name": "Leads 2", "filters": {"channel": "lead__source"}}
    typed_at, renamed_at = place("test__typed", "test__renamed")
    filters = [{"slug": "source", "name": "Source", "type": "string/="}]
    specs = compile_(
        tmp_path,
        {"test__typed": typed, "test__renamed": renamed},
        {"d": dashboard(filters, [typed_at, {**renamed_at, "mappings": {"source": "channel"}}])},
    )
    (typed_tag,) = specs.cards["test__typed"].tags
    assert (typed_tag.name, typed_tag.display_name, typed_tag.field.column) == ("source", "Bot", "bot_type")
    (renamed_tag,) = specs.cards["test__renamed"].tags
    assert (renamed_tag.name, renamed_tag.field.column) == ("channel", "source")
    assert [p.mappings for p in specs.dashboards["d"].cards] == [{"source": "source"}, {"source": "channel"}]


# ---------------------------------------------------------------- shared selectors and variants

SELECTORS = {
    "messaging": {
        "tag": "metric",
        "label": "Metric",
        "default": "messaging_leads",
        "options": {"messaging_leads": "Leads", "messaging_sessions": "Sessions"},
    }
}


def test_a_shared_selector_is_named_once_and_its_filter_feeds_only_the_cards_that_show_it(tmp_path):
    picked = {
        **CHATS,
        "name": "Picked",
        "display": "bar",
        "group_by": ["conversation_hour__device"],
        "selector": "messaging",
    }
    del picked["metrics"]  # a named selector brings its options as the card's metrics
    filters = [{"slug": "metric", "name": "Metric", "type": "string/=", "default": "Leads"}, ORGANISATION]
    specs = compile_(
        tmp_path,
        {"test__picked": picked, "test__chats": CHATS},
        {"d": dashboard(filters, place("test__picked", "test__chats"))},
        selectors=SELECTORS,
        concepts={"organisation": ["organization_name"]},
    )
    card = specs.cards["test__picked"]
    assert [m.name for m in card.metrics] == ["messaging_leads", "messaging_sessions"]
    assert (card.selector.name, card.selector.default, card.selector.options) == (
        "metric",
        "Leads",
        {"Leads": "messaging_leads", "Sessions": "messaging_sessions"},
    )
    # the plain card needs no `ignores` for the Metric filter: a selector's filter feeds its selector only
    assert [p.mappings for p in specs.dashboards["d"].cards] == [{"metric": "metric", "org": "org"}, {"org": "org"}]


def test_an_unknown_selector_name_is_one_line(tmp_path):
    message = refusal(tmp_path, {"test__picked": {**CHATS, "selector": "nope"}}, selectors=SELECTORS)
    assert message.endswith("test__picked.yml: unknown selector 'nope' (selectors.yml has messaging)")


def test_variants_draw_one_query_as_two_cards_with_derived_keys(tmp_path):
    per_device = {
        **CHATS,
        "name": "Per device",
        "group_by": ["conversation_hour__device"],
        "kpis": ["s003.rule_no_device"],
        "variants": {
            "pie": {"name": "Per device (%)", "display": "pie", "kpis": ["s003.msg_device_pie"]},
            "bar": {"name": "Per device (absolute)", "display": "bar", "kpis": ["s003.msg_device_bar"]},
        },
    }
    del per_device["display"]
    specs = compile_(
        tmp_path,
        {"messaging__per_device": per_device},
        {"d": dashboard([ORGANISATION], place("messaging__per_device_pie", "messaging__per_device_bar"))},
        concepts={"organisation": ["organization_name"]},
    )
    pie, bar = specs.cards["messaging__per_device_pie"], specs.cards["messaging__per_device_bar"]
    assert set(specs.cards) == {"messaging__per_device_pie", "messaging__per_device_bar"}
    assert (pie.name, pie.display, pie.kpis) == (
        "Per device (%)",
        "pie",
        ("s003.rule_no_device", "s003.msg_device_pie"),
    )
    assert (bar.name, bar.display, bar.kpis) == (
        "Per device (absolute)",
        "bar",
        ("s003.rule_no_device", "s003.msg_device_bar"),
    )
    assert pie.sql.replace("messaging__per_device_pie", "") == bar.sql.replace("messaging__per_device_bar", "")
    assert pie.tags == bar.tags and pie.description == bar.description == "Active conversations."


def test_a_variant_that_breaks_the_card_names_the_variant(tmp_path):
    broken = {**LEADS, "variants": {"pie": {"display": "doughnut"}}}
    message = refusal(tmp_path, {"test__leads": broken})
    assert "test__leads.yml: variant pie: display: Input should be" in message


# ---------------------------------------------------------------- words once


def test_no_time_zone_is_named_under_metabase():
    """Texts write {timezone}; the zone is a setting (LEAD_ANALYTICS_TIMEZONE)."""
    zones = sorted((z for z in zoneinfo.available_timezones() if "/" in z), key=len, reverse=True)
    zone = re.compile(r"\b(?:" + "|".join(map(re.escape, zones)) + r")\b")
    assert zone.findall("local dates (America/Chicago), or Europe/Amsterdam") == ["America/Chicago", "Europe/Amsterdam"]
    named = {
        str(p.relative_to(settings.PROJECT_ROOT)): sorted(set(zone.findall(p.read_text())))
        for p in (settings.PROJECT_ROOT / "metabase").rglob("*")
        if p.is_file() and zone.search(p.read_text())
    }
    assert named == {}


def test_card_subtitles_are_one_line_and_the_notes_say_the_rest():
    specs = compiler.compile_specs()
    for key, card in specs.cards.items():
        assert card.description and "\n" not in card.description and len(card.description) <= 110, key
        assert "{timezone}" not in card.description, key  # the zone belongs in the notes or the dashboard
    worded = mp.worded(specs, "Europe/Amsterdam")
    texts = [c.description for c in worded.cards.values()] + [d.description for d in worded.dashboards.values()]
    texts += [p.text for d in worded.dashboards.values() for p in d.cards if p.text]
    assert not [t for t in texts if "America/Chicago" in t or "{timezone}" in t]
    assert sum("Europe/Amsterdam" in t for t in texts) >= 7  # every dashboard names the zone at least once
