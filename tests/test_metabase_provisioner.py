"""Provisioning Metabase from the compiled specs, against the fake server (tests/fake_metabase.py).

The example specs are tests/fixtures/metabase_specs (five lead-capture cards covering a field-filtered scalar, a
stacked bar, a combo, a heatmap and a metric selector, on a dashboard with two tabs and a text block). The fake
"sees" the marts of the hand-built fixture warehouse (`lead_capture_fixture_db`), and the provisioner's records
live in a fresh database per test. Expected payloads are written out here from the spec files and the dbt YAML,
not read back from the provisioner; field ids come from the fake's own sync.
"""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from conftest import METABASE_PASSWORD as PASSWORD
from conftest import METABASE_USER as USER
from fake_metabase import FakeMetabase, normalize_settings  # tests/ is on sys.path

from orchestration.bi import compiler
from orchestration.bi import metabase as mp
from orchestration.bi.metabase_state import WarehouseState
from orchestration.bi.specs import SpecError, Tab

SPECS = Path(__file__).parent / "fixtures" / "metabase_specs"
COMPILED = compiler.compile_specs(SPECS, cache_dir=None)

DB = {
    "name": "Lead Analytics warehouse",
    "host": "warehouse.internal",
    "port": 5432,
    "dbname": "lead_analytics",
    "user": "metabase_reader",
    "password": "reader-pw",
}
COLLECTION = "Lead Analytics (test)"
TOTAL, STACKED, COMBO, HEATMAP, SELECTOR = (
    "lead_capture__total_leads",
    "lead_capture__confidence_by_source",
    "lead_capture__leads_and_conversion",
    "lead_capture__bot_type_by_source",
    "lead_capture__metric_by_service",
)
CARD_KEYS = sorted([TOTAL, STACKED, COMBO, HEATMAP, SELECTOR])


@pytest.fixture(autouse=True)
def no_dbt_metabase_pause(monkeypatch):
    # dbt-metabase sleeps 5 s before it first reads the metadata; the provisioner has already waited for the sync
    monkeypatch.setattr("dbtmetabase._models._SYNC_PERIOD", 0)


def run(fake: FakeMetabase, state: WarehouseState, specs=COMPILED, **kwargs) -> mp.ProvisionReport:
    return mp.provision(specs, fake.url, USER, PASSWORD, DB, state=state, **kwargs)


@pytest.fixture(scope="module")
def first(marts, database_factory):
    """One first run, shared by the tests that only look at its result: (fake, state, report)."""
    info = database_factory.create("mb_state")
    store = WarehouseState(info)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dbtmetabase._models._SYNC_PERIOD", 0)
        with FakeMetabase(users={USER: PASSWORD}, tables=marts) as fake:
            yield fake, store, run(fake, store)
    store.close()
    database_factory.drop(info)


def person(fake: FakeMetabase) -> dict[str, str]:
    """Auth headers of somebody using Metabase by hand (their own session)."""
    response = requests.post(f"{fake.url}/api/session", json={"username": USER, "password": PASSWORD})
    return {"X-Metabase-Session": response.json()["id"]}


def card_of(fake: FakeMetabase, name: str) -> dict:
    (card,) = [c for c in fake.cards.values() if c["name"] == name and not c["archived"]]
    return card


def ids(fake: FakeMetabase, state: WarehouseState, kind: str) -> dict[str, int]:
    return {k: r.metabase_id for (kd, k), r in state.load(mp.instance_key(fake.url)).items() if kd == kind}


def with_card(specs: compiler.CompiledSpecs, key: str, **changes) -> compiler.CompiledSpecs:
    return replace(specs, cards={**specs.cards, key: specs.cards[key].model_copy(update=changes)})


def with_dashboard(specs: compiler.CompiledSpecs, **changes) -> compiler.CompiledSpecs:
    dashboard = specs.dashboards["lead_capture"].model_copy(update=changes)
    return replace(specs, dashboards={"lead_capture": dashboard})


def without_card(specs: compiler.CompiledSpecs, key: str) -> compiler.CompiledSpecs:
    dashboard = specs.dashboards["lead_capture"]
    specs = with_dashboard(specs, cards=[p for p in dashboard.cards if p.card != key])
    return replace(specs, cards={k: c for k, c in specs.cards.items() if k != key})


# ---------------------------------------------------------------- the first run


def test_first_run_creates_the_connection_collection_cards_and_dashboard(first):
    fake, state, report = first

    assert report.created == [
        "database:Lead Analytics warehouse",
        f"collection:{COLLECTION}",
        *[f"card:{k}" for k in CARD_KEYS],
        "dashboard:lead_capture",
    ]
    assert report.archived == [] and report.foreign == []
    (db,) = fake.databases.values()
    assert db["details"]["schema-filters-type"] == "inclusion" and db["details"]["schema-filters-patterns"] == "marts"
    (coll,) = [c for c in fake.collections.values() if c["name"] == COLLECTION]
    assert {c["collection_id"] for c in fake.cards.values()} == {coll["id"]}
    assert {c["name"] for c in fake.cards.values()} == {
        "Total leads (example)",
        "Confidence by source (example)",
        "Leads and conversion by source (example)",
        "Bot type by source (example)",
        "Chosen metric by service (example)",
    }
    # every object is recorded by its spec key, with the entity_id Metabase gave it
    records = state.load(mp.instance_key(fake.url))
    assert sorted(k for k in records if k[0] == "card") == [("card", k) for k in CARD_KEYS]
    total = fake.cards[records[("card", TOTAL)].metabase_id]
    assert records[("card", TOTAL)].entity_id == total["entity_id"]
    assert (
        ("dashboard", "lead_capture") in records
        and ("collection", COLLECTION) in records
        and ("database", DB["name"]) in records
    )


def test_field_filters_point_at_the_synced_fields(first):
    fake, _, _ = first
    total = card_of(fake, "Total leads (example)")
    query = total["dataset_query"]
    assert query["type"] == "native" and query["database"] == next(iter(fake.databases))
    assert "from marts.fct_bot_leads where {{created}} and {{source}}" in query["native"]["query"]
    created_field = fake.field_id("marts", "fct_bot_leads", "created_date")
    source_field = fake.field_id("marts", "fct_bot_leads", "source")
    assert created_field != source_field
    assert query["native"]["template-tags"] == {
        "created": {
            "id": mp.tag_id(TOTAL, "created"),
            "name": "created",
            "display-name": "Created",
            "type": "dimension",
            "dimension": ["field", created_field, None],
            "widget-type": "date/all-options",
            "required": False,
        },
        "source": {
            "id": mp.tag_id(TOTAL, "source"),
            "name": "source",
            "display-name": "Source",
            "type": "dimension",
            "dimension": ["field", source_field, None],
            "widget-type": "string/=",
            "required": False,
        },
    }
    # the card's own parameters, derived as Metabase's front end does (fact sheet §5.6)
    assert total["parameters"] == [
        {
            "id": mp.tag_id(TOTAL, "created"),
            "type": "date/all-options",
            "name": "Created",
            "slug": "created",
            "target": ["dimension", ["template-tag", "created"]],
            "required": False,
        },
        {
            "id": mp.tag_id(TOTAL, "source"),
            "type": "string/=",
            "name": "Source",
            "slug": "source",
            "target": ["dimension", ["template-tag", "source"]],
            "required": False,
        },
    ]
    heatmap = card_of(fake, "Bot type by source (example)")
    assert heatmap["dataset_query"]["native"]["template-tags"]["created"]["dimension"] == ["field", created_field, None]


def test_sync_is_awaited_before_field_ids_are_used(marts, state):
    with FakeMetabase(users={USER: PASSWORD}, tables=marts, sync_reads=2) as fake:
        run(fake, state)
        calls = [(m, p) for m, p, _, _ in fake.requests]
        before_cards = calls[: calls.index(("POST", "/api/card"))]
        metadata = [c for c in before_cards if c[1].endswith(("/metadata", "/sync_schema"))]
        assert (
            metadata
            == [("GET", "/api/database/1/metadata"), ("POST", "/api/database/1/sync_schema")]
            + [("GET", "/api/database/1/metadata")] * 3
        )  # two reads while syncing, the third sees the tables
        source = card_of(fake, "Total leads (example)")["dataset_query"]["native"]["template-tags"]["source"]
        assert source["dimension"] == ["field", fake.field_id("marts", "fct_bot_leads", "source"), None]


def test_a_column_metabase_never_sees_is_one_clear_line(marts, state):
    tables = {**marts, "marts.fct_bot_leads": {k: v for k, v in marts["marts.fct_bot_leads"].items() if k != "source"}}
    with FakeMetabase(users={USER: PASSWORD}, tables=tables) as fake:
        with pytest.raises(mp.MetabaseError) as exc:
            run(fake, state, sync_timeout=1)
        assert str(exc.value) == (
            "database 'Lead Analytics warehouse' (id 1): Metabase still has no column marts.fct_bot_leads.source after "
            "a schema sync and 1 s: build the marts, check that the connection's schema filter includes their "
            "schema, or allow a longer sync_timeout"
        )
        assert not any(p == "/api/card" for _, p in fake.writes())


def test_displays_labels_and_settings_map_to_metabase(first):
    fake, _, _ = first
    stacked = card_of(fake, "Confidence by source (example)")
    assert stacked["display"] == "bar"
    assert stacked["visualization_settings"] == {
        "stackable.stack_type": "stacked",
        "graph.dimensions": ["source"],
        "graph.metrics": ["high_confidence_leads", "low_confidence_leads"],
        "column_settings": {
            '["name","source"]': {"column_title": "Channel"},
            '["name","high_confidence_leads"]': {"column_title": "High"},
            '["name","low_confidence_leads"]': {"column_title": "Low"},
        },
    }
    combo = card_of(fake, "Leads and conversion by source (example)")
    assert combo["display"] == "combo"
    settings = combo["visualization_settings"]
    assert settings["series_settings"] == {"leads": {"display": "bar"}, "conversion_rate": {"display": "line"}}
    assert settings["graph.dimensions"] == ["source"] and settings["graph.metrics"] == ["leads", "conversion_rate"]
    assert settings["column_settings"]['["name","conversion_rate"]'] == {  # the metric's meta: percent, 1 decimal
        "column_title": "Conversion rate",
        "number_style": "percent",
        "decimals": 1,
    }
    heatmap = card_of(fake, "Bot type by source (example)")
    assert heatmap["display"] == "table"
    assert {k: v for k, v in heatmap["visualization_settings"].items() if k.startswith("table.")} == {
        "table.pivot": True,
        "table.pivot_column": "source",
        "table.cell_column": "leads",
        "table.column_formatting": [
            {"columns": ["leads"], "type": "range", "colors": ["#FFFFFF", "#509EE3"], "highlight_row": False}
        ],
    }
    total = card_of(fake, "Total leads (example)")
    assert total["display"] == "scalar"
    assert total["visualization_settings"] == {
        "scalar.suffix": " leads",
        "column_settings": {'["name","leads"]': {"column_title": "Leads"}},
    }
    # a card's description in Metabase: its subtitle, its notes, and each dashboard filter it ignores with the reason
    assert total["description"] == "Every lead captured up to the as-of moment.\n\nRepeat leads count too."
    assert combo["description"] == (
        "Leads per source as bars and the share converted as a line.\n\n"
        "Not narrowed by Created: compares every source over all dates"
    )


def test_a_heatmap_needs_two_dimensions_and_fails_before_metabase_is_touched(fake, state):
    broken = with_card(COMPILED, HEATMAP, columns=("bot_type", "leads"))
    with pytest.raises(SpecError, match="a heatmap groups by two dimensions and shows one measure"):
        run(fake, state, broken)
    assert fake.requests == []


def test_metric_selector_is_a_text_variable_offered_as_a_static_list(first):
    fake, _, _ = first
    chosen = card_of(fake, "Chosen metric by service (example)")
    tag = chosen["dataset_query"]["native"]["template-tags"]["metric"]
    assert tag == {
        "id": mp.tag_id(SELECTOR, "metric"),
        "name": "metric",
        "display-name": "Metric",
        "type": "text",
        "required": True,
        "default": "Leads",
    }
    assert "case {{metric}} when 'Leads' then" in chosen["dataset_query"]["native"]["query"]
    (parameter,) = [p for p in chosen["parameters"] if p["slug"] == "metric"]
    assert parameter == {
        "id": mp.tag_id(SELECTOR, "metric"),
        "type": "category",
        "name": "Metric",
        "slug": "metric",
        "target": ["variable", ["template-tag", "metric"]],
        "required": True,
        "default": "Leads",
        "values_source_type": "static-list",
        "values_query_type": "list",
        "values_source_config": {"values": ["Leads", "Converted leads"]},
    }
    (dash,) = fake.dashboards.values()
    metric = next(p for p in dash["parameters"] if p["slug"] == "metric")
    assert metric == {
        "id": mp.filter_id("lead_capture", "metric"),
        "name": "Metric",
        "slug": "metric",
        "type": "string/=",
        "sectionId": "string",
        "values_source_type": "static-list",
        "values_source_config": {"values": ["Leads", "Converted leads"]},
        "values_query_type": "list",
        "default": ["Leads"],
    }
    dashcard = next(dc for dc in dash["dashcards"] if dc["card_id"] == chosen["id"])
    assert sorted(dashcard["parameter_mappings"], key=lambda m: m["parameter_id"]) == sorted(
        [
            {
                "parameter_id": mp.filter_id("lead_capture", "metric"),
                "card_id": chosen["id"],
                "target": ["variable", ["template-tag", "metric"]],
            },
            {
                "parameter_id": mp.filter_id("lead_capture", "source"),
                "card_id": chosen["id"],
                "target": ["dimension", ["template-tag", "source"]],
            },
        ],
        key=lambda m: m["parameter_id"],
    )


def test_dashboard_has_the_spec_tabs_text_and_wiring_in_one_put(first):
    fake, _, _ = first
    (dash,) = fake.dashboards.values()
    assert [t["name"] for t in dash["tabs"]] == ["Overview", "Detail"]
    overview, detail = (t["id"] for t in dash["tabs"])
    placed = {(dc["dashboard_tab_id"], dc["row"], dc["col"]): dc for dc in dash["dashcards"]}
    assert len(dash["dashcards"]) == 6
    text = placed[(overview, 0, 0)]
    assert text["card_id"] is None and (text["size_x"], text["size_y"]) == (24, 1)
    assert text["visualization_settings"] == {
        "virtual_card": {"display": "text", "visualization_settings": {}, "dataset_query": {}, "archived": False},
        "text": "**Lead capture.** Dates are local dates (America/Chicago).",
    }
    cards = {c["id"]: c["name"] for c in fake.cards.values()}
    assert {(pos, cards.get(dc["card_id"])) for pos, dc in placed.items()} == {
        ((overview, 0, 0), None),
        ((overview, 1, 0), "Total leads (example)"),
        ((overview, 1, 6), "Confidence by source (example)"),
        ((detail, 0, 0), "Leads and conversion by source (example)"),
        ((detail, 0, 12), "Bot type by source (example)"),
        ((detail, 6, 0), "Chosen metric by service (example)"),
    }
    total = placed[(overview, 1, 0)]
    assert sorted(map(json.dumps, total["parameter_mappings"])) == sorted(
        map(
            json.dumps,
            [
                {
                    "parameter_id": mp.filter_id("lead_capture", "created"),
                    "card_id": total["card_id"],
                    "target": ["dimension", ["template-tag", "created"]],
                },
                {
                    "parameter_id": mp.filter_id("lead_capture", "source"),
                    "card_id": total["card_id"],
                    "target": ["dimension", ["template-tag", "source"]],
                },
            ],
        )
    )
    params = {p["slug"]: p for p in dash["parameters"]}
    assert params["created"] == {
        "id": mp.filter_id("lead_capture", "created"),
        "name": "Created",
        "slug": "created",
        "type": "date/all-options",
        "sectionId": "date",
    }
    assert params["source"] == {
        "id": mp.filter_id("lead_capture", "source"),
        "name": "Source",
        "slug": "source",
        "type": "string/=",
        "sectionId": "string",
        "values_query_type": "list",
    }
    dashboard_writes = [w for w in fake.writes() if "/api/dashboard" in w[1]]
    assert dashboard_writes == [("POST", "/api/dashboard"), ("PUT", f"/api/dashboard/{dash['id']}")]
    (put,) = [b for m, p, b, _ in fake.requests if (m, p) == ("PUT", f"/api/dashboard/{dash['id']}")]
    assert {"parameters", "tabs", "dashcards"} <= set(put)


def test_the_texts_name_the_configured_time_zone(fake, state):
    """The specs write {timezone}; the payloads name the reporting time zone the provisioner is given."""
    run(fake, state, timezone="Europe/Amsterdam")
    (dash,) = fake.dashboards.values()
    texts = [dc["visualization_settings"]["text"] for dc in dash["dashcards"] if dc["card_id"] is None]
    assert texts == ["**Lead capture.** Dates are local dates (Europe/Amsterdam)."]
    sent = json.dumps([b for m, p, b, _ in fake.requests if m in ("POST", "PUT")])
    assert "America/Chicago" not in sent and "{timezone}" not in sent
    assert run(fake, state, timezone="Europe/Amsterdam").updated == []
    assert run(fake, state, timezone="America/Chicago").updated == ["dashboard:lead_capture"]  # the text changed


# ---------------------------------------------------------------- later runs


def test_second_run_writes_nothing_although_metabase_normalises_what_it_returns(fake, state):
    run(fake, state)
    before = fake.writes()
    combo = card_of(fake, "Leads and conversion by source (example)")
    sent = next(b for m, p, b, _ in fake.requests if (m, p) == ("POST", "/api/card") and b["name"] == combo["name"])
    returned = requests.get(f"{fake.url}/api/card/{combo['id']}", headers=person(fake)).json()
    assert sent["visualization_settings"]["graph.y_axis.title_text"] is None
    assert "graph.y_axis.title_text" not in returned["visualization_settings"]  # read back differs from the body

    report = run(fake, state)

    assert fake.writes()[len(before) :] == [], "a second run must not write"
    assert report.created == report.updated == report.archived == []
    assert sorted(report.unchanged) == sorted(
        [
            "database:Lead Analytics warehouse",
            f"collection:{COLLECTION}",
            *[f"card:{k}" for k in CARD_KEYS],
            "dashboard:lead_capture",
            "datamodel:marts.fct_bot_leads",
        ]
    )


def test_renamed_card_dashboard_and_tab_are_updated_in_place(fake, state):
    run(fake, state)
    card_ids, (dash,) = ids(fake, state, "card"), fake.dashboards.values()
    dashcard_ids = sorted(dc["id"] for dc in dash["dashcards"])
    tab_ids = [t["id"] for t in dash["tabs"]]
    renamed = with_card(COMPILED, TOTAL, name="All leads (example)")
    renamed = with_dashboard(
        renamed,
        name="Lead capture, renamed",
        tabs=[Tab(key="overview", name="Summary"), Tab(key="detail", name="Detail")],
    )

    report = run(fake, state, renamed)

    assert report.updated == [f"card:{TOTAL}", "dashboard:lead_capture"] and report.created == []
    assert ids(fake, state, "card") == card_ids and len(fake.cards) == 5
    assert fake.cards[card_ids[TOTAL]]["name"] == "All leads (example)"
    assert dash["name"] == "Lead capture, renamed" and [t["name"] for t in dash["tabs"]] == ["Summary", "Detail"]
    assert [t["id"] for t in dash["tabs"]] == tab_ids
    assert sorted(dc["id"] for dc in dash["dashcards"]) == dashcard_ids
    assert run(fake, state, renamed).counts()["updated"] == 0


def test_peoples_own_questions_and_dashboards_in_the_collection_survive(fake, state):
    run(fake, state)
    auth = person(fake)
    coll_id = next(c["id"] for c in fake.collections.values() if c["name"] == COLLECTION)
    ours = card_of(fake, "Confidence by source (example)")
    theirs = [
        requests.post(
            f"{fake.url}/api/card",
            headers=auth,
            json={
                "name": name,
                "dataset_query": {"type": "native", "database": 1, "native": {"query": "select 1"}},
                "display": "table",
                "visualization_settings": {},
                "collection_id": coll_id,
            },
        ).json()
        for name in ("My leads question", "Confidence by source (example)")
    ]  # the second has the name of ours
    their_dashboard = requests.post(
        f"{fake.url}/api/dashboard", headers=auth, json={"name": "My dashboard", "collection_id": coll_id}
    ).json()
    before = {c["id"]: dict(fake.cards[c["id"]]) for c in theirs}
    writes = len(fake.writes())

    report = run(fake, state, without_card(COMPILED, STACKED))

    assert report.archived == [f"card:{STACKED}"]
    assert fake.cards[ours["id"]]["archived"] is True
    for card in theirs:
        assert fake.cards[card["id"]] == before[card["id"]]  # not archived, not edited
    assert not fake.dashboards[their_dashboard["id"]]["archived"]
    touched = {p for _, p in fake.writes()[writes:]}
    assert not touched & ({f"/api/card/{c['id']}" for c in theirs} | {f"/api/dashboard/{their_dashboard['id']}"})
    assert sorted(report.foreign) == sorted(
        [
            f"card:My leads question (id {theirs[0]['id']}, in {COLLECTION!r})",
            f"card:Confidence by source (example) (id {theirs[1]['id']}, in {COLLECTION!r})",
            f"dashboard:My dashboard (id {their_dashboard['id']}, in {COLLECTION!r})",
        ]
    )


def test_removed_card_is_archived_and_comes_back_with_its_id(fake, state):
    run(fake, state)
    stacked_id = ids(fake, state, "card")[STACKED]
    report = run(fake, state, without_card(COMPILED, STACKED))
    assert report.archived == [f"card:{STACKED}"] and report.updated == ["dashboard:lead_capture"]
    (dash,) = fake.dashboards.values()
    assert stacked_id not in {dc["card_id"] for dc in dash["dashcards"]}
    assert run(fake, state, without_card(COMPILED, STACKED)).archived == []  # archived once

    back = run(fake, state)

    assert back.updated == [f"card:{STACKED}", "dashboard:lead_capture"] and back.created == []
    assert fake.cards[stacked_id]["archived"] is False and ids(fake, state, "card")[STACKED] == stacked_id


def test_card_someone_archived_is_restored_keeping_its_id(fake, state):
    run(fake, state)
    total_id = ids(fake, state, "card")[TOTAL]
    assert requests.put(f"{fake.url}/api/card/{total_id}", headers=person(fake), json={"archived": True}).ok

    report = run(fake, state)

    assert report.updated == [f"card:{TOTAL}"] and report.created == []
    assert fake.cards[total_id]["archived"] is False and len(fake.cards) == 5
    assert fake.cards[total_id]["collection_id"] == next(
        c["id"] for c in fake.collections.values() if c["name"] == COLLECTION
    )
    assert any("was in the Trash: restored it" in n for n in report.notes)
    before = len(fake.writes())
    run(fake, state)
    assert fake.writes()[before:] == []


def test_card_moved_into_its_dashboard_is_found_and_not_duplicated(fake, state):
    run(fake, state)
    total_id = ids(fake, state, "card")[TOTAL]
    (dash,) = fake.dashboards.values()
    auth = person(fake)
    assert requests.put(f"{fake.url}/api/card/{total_id}", headers=auth, json={"dashboard_id": dash["id"]}).ok
    coll_id = fake.cards[total_id]["collection_id"]
    listed = requests.get(f"{fake.url}/api/collection/{coll_id}/items", headers=auth).json()["data"]
    assert total_id not in [i["id"] for i in listed]  # 0.53+: hidden from a plain listing
    before = len(fake.writes())

    report = run(fake, state)

    assert fake.writes()[before:] == []  # nothing to change: it is where its dashboard shows it
    assert f"card:{TOTAL}" in report.unchanged and len(fake.cards) == 5
    assert fake.cards[total_id]["dashboard_id"] == dash["id"] and not fake.cards[total_id]["archived"]
    assert not any(f"(id {total_id}," in f for f in report.foreign)


def test_a_question_someone_saved_inside_our_dashboard_survives(fake, state):
    run(fake, state)
    (dash,) = fake.dashboards.values()
    theirs = requests.post(
        f"{fake.url}/api/card",
        headers=person(fake),
        json={
            "name": "My question in the dashboard",
            "display": "table",
            "visualization_settings": {},
            "dataset_query": {"type": "native", "database": 1, "native": {"query": "select 3"}},
            "dashboard_id": dash["id"],
        },
    ).json()  # 0.53+: saved into the dashboard, placed on it by Metabase
    assert theirs["dashboard_id"] == dash["id"]
    renamed = with_dashboard(COMPILED, name="Lead capture, renamed")  # forces a dashboard PUT

    report = run(fake, state, renamed)

    assert report.updated == ["dashboard:lead_capture"]
    assert fake.cards[theirs["id"]]["archived"] is False  # its dashcard was kept, so Metabase did not trash it
    assert theirs["id"] in {dc["card_id"] for dc in dash["dashcards"]}
    assert f"card:My question in the dashboard (id {theirs['id']}, in {COLLECTION!r})" in report.foreign


def test_card_moved_into_someone_elses_dashboard_is_moved_back(fake, state):
    run(fake, state)
    total_id = ids(fake, state, "card")[TOTAL]
    auth = person(fake)
    coll_id = fake.cards[total_id]["collection_id"]
    theirs = requests.post(
        f"{fake.url}/api/dashboard", headers=auth, json={"name": "My dashboard", "collection_id": coll_id}
    ).json()
    moved = requests.put(
        f"{fake.url}/api/card/{total_id}?delete_old_dashcards=true", headers=auth, json={"dashboard_id": theirs["id"]}
    )
    assert moved.ok and fake.cards[total_id]["dashboard_id"] == theirs["id"]

    report = run(fake, state)

    assert f"card:{TOTAL}" in report.updated and len(fake.cards) == 5
    assert fake.cards[total_id]["dashboard_id"] is None and fake.cards[total_id]["collection_id"] == coll_id
    (ours,) = [d for d in fake.dashboards.values() if d["id"] != theirs["id"]]
    assert total_id in {dc["card_id"] for dc in ours["dashcards"]}
    assert total_id in {dc["card_id"] for dc in fake.dashboards[theirs["id"]]["dashcards"]}  # their copy stays
    before = len(fake.writes())
    run(fake, state)
    assert fake.writes()[before:] == []


def test_tabs_and_cards_people_added_to_the_dashboard_are_kept(fake, state):
    run(fake, state)
    (dash,) = fake.dashboards.values()
    auth = person(fake)
    their_card = requests.post(
        f"{fake.url}/api/card",
        headers=auth,
        json={
            "name": "My scratch",
            "dataset_query": {"type": "native", "database": 1, "native": {"query": "select 2"}},
            "display": "table",
            "visualization_settings": {},
            "collection_id": dash["collection_id"],
        },
    ).json()
    current = requests.get(f"{fake.url}/api/dashboard/{dash['id']}", headers=auth).json()
    ui_edit = {
        "tabs": [{"id": t["id"], "name": t["name"]} for t in current["tabs"]] + [{"id": -1, "name": "Scratch"}],
        "dashcards": [
            {
                k: dc[k]
                for k in (
                    "id",
                    "card_id",
                    "dashboard_tab_id",
                    "row",
                    "col",
                    "size_x",
                    "size_y",
                    "parameter_mappings",
                    "visualization_settings",
                )
            }
            for dc in current["dashcards"]
        ]
        + [
            {
                "id": -1,
                "card_id": their_card["id"],
                "dashboard_tab_id": -1,
                "row": 0,
                "col": 0,
                "size_x": 6,
                "size_y": 4,
                "parameter_mappings": [],
                "visualization_settings": {},
            }
        ],
    }
    assert requests.put(f"{fake.url}/api/dashboard/{dash['id']}", headers=auth, json=ui_edit).ok
    scratch = next(t["id"] for t in dash["tabs"] if t["name"] == "Scratch")
    their_dashcard = next(dc["id"] for dc in dash["dashcards"] if dc["card_id"] == their_card["id"])
    before = len(fake.writes())

    assert run(fake, state).counts()["updated"] == 0 and fake.writes()[before:] == []
    renamed = with_dashboard(COMPILED, tabs=[Tab(key="overview", name="Summary"), Tab(key="detail", name="Detail")])
    report = run(fake, state, renamed)

    assert report.updated == ["dashboard:lead_capture"]
    assert [t["name"] for t in dash["tabs"]] == ["Summary", "Detail", "Scratch"]
    kept = next(dc for dc in dash["dashcards"] if dc["id"] == their_dashcard)
    assert (kept["dashboard_tab_id"], kept["card_id"]) == (scratch, their_card["id"])
    assert f"card:My scratch (id {their_card['id']}, in {COLLECTION!r})" in report.foreign
    # no dashboard PUT of the provisioner ever dropped the tabs
    for method, path, body, _ in fake.requests:
        if method == "PUT" and path == f"/api/dashboard/{dash['id']}" and "dashcards" in body:
            assert body.get("tabs"), body


def test_fake_deletes_tabs_and_their_cards_when_sent_no_tabs(fake, state):
    """§13.1: the fake answers `tabs: []` as Metabase does, by deleting, so a provisioner bug there shows up."""
    run(fake, state)
    (dash,) = fake.dashboards.values()
    auth = person(fake)
    overview = dash["tabs"][0]["id"]
    keep = [dc for dc in dash["dashcards"] if dc["dashboard_tab_id"] == overview]
    sent = [
        {**{k: dc[k] for k in ("id", "card_id", "row", "col", "size_x", "size_y")}, "dashboard_tab_id": None}
        for dc in keep
    ]
    response = requests.put(
        f"{fake.url}/api/dashboard/{dash['id']}", headers=auth, json={"tabs": [], "dashcards": sent}
    )
    assert response.status_code == 200
    assert dash["tabs"] == [] and len(dash["dashcards"]) == len(keep)
    assert {dc["id"] for dc in dash["dashcards"]}.isdisjoint({dc["id"] for dc in keep})  # recreated, not kept


def test_no_record_but_objects_named_like_the_specs_stops_or_adopts(fake, state, database_factory):
    run(fake, state)
    card_ids = ids(fake, state, "card")
    lost = database_factory.create("lost_state")
    try:
        empty = WarehouseState(lost)
        before = len(fake.writes())
        with pytest.raises(mp.MetabaseError) as exc:
            run(fake, empty)
        assert str(exc.value).startswith(
            f"no record of {mp.instance_key(fake.url)} in raw_audit.metabase_objects, "
            f"but Metabase already has 6 card(s)/dashboard(s) named like the specs"
        )
        assert "adopt=True" in str(exc.value) and fake.writes()[before:] == []

        report = run(fake, empty, adopt=True)

        assert report.created == [] and report.updated == [] and fake.writes()[before:] == []
        assert ids(fake, empty, "card") == card_ids and len(fake.cards) == 5 and len(fake.dashboards) == 1
        assert {r.origin for r in empty.load(mp.instance_key(fake.url)).values() if r.kind == "card"} == {"adopted"}
        run(fake, empty)
        assert fake.writes()[before:] == []
        empty.close()
    finally:
        database_factory.drop(lost)


def test_a_recorded_id_now_holding_another_object_is_left_alone(fake, state):
    run(fake, state)
    total_id = ids(fake, state, "card")[TOTAL]
    fake.cards[total_id].update(entity_id="someoneelse0000000000", name="Not ours any more")  # a reset Metabase
    snapshot = dict(fake.cards[total_id])

    report = run(fake, state)

    assert report.created == [f"card:{TOTAL}"] and fake.cards[total_id] == snapshot
    new_id = ids(fake, state, "card")[TOTAL]
    assert new_id != total_id and fake.cards[new_id]["name"] == "Total leads (example)"
    assert any(f"id {total_id} is now another object" in n for n in report.notes)


def test_dbt_descriptions_kpi_definitions_and_semantic_types_reach_the_data_model(first):
    fake, _, report = first
    assert [e for e in report.updated if e.startswith("datamodel:")] == ["datamodel:marts.fct_bot_leads"]
    (facts,) = [t for t in fake.tables.values() if (t["schema"], t["name"]) == ("marts", "fct_bot_leads")]
    description = facts["description"]
    assert description.startswith(
        "One row per bot lead (seed 000) captured up to the as-of moment: the fact table behind the lead-capture cards"
    )
    assert "KPIs computed from this table (definitions from the dbt Semantic Layer):" in description
    assert (
        "- **Leads** (`leads`): **Total Leads** (`s000.total_leads`, seed 000 Recommended Minimal Dashboard)"
        in description
    )
    assert "- **Conversion rate** (`conversion_rate`):" in description
    fields = {f["name"]: f for f in fake.fields.values() if f["table_id"] == facts["id"]}
    assert fields["source"]["description"] == "Source/channel: Website, WhatsApp, Ads, Social (s000.leads_by_source)."
    assert (fields["source"]["semantic_type"], fields["source"]["has_field_values"]) == ("type/Category", "list")
    assert fields["lead_id"]["semantic_type"] == "type/PK"
    assert fields["is_repeat_lead"]["semantic_type"] is None  # a boolean stays a boolean
    assert fields["confidence_score"]["semantic_type"] is None
    assert ("PUT", f"/api/field/{fields['source']['id']}") in fake.writes()  # sent by dbt-metabase, on our session


# ---------------------------------------------------------------- errors


def test_wrong_password_is_one_line(fake, state):
    with pytest.raises(mp.MetabaseError) as exc:
        mp.provision(COMPILED, fake.url, USER, "wrong", DB, state=state)
    assert str(exc.value) == "POST /api/session → 401: password: did not match stored password"
    assert fake.writes() == []


def test_unreachable_metabase_is_one_line(state):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(mp.MetabaseError) as exc:
        mp.provision(COMPILED, f"http://127.0.0.1:{port}", USER, PASSWORD, DB, state=state)
    assert str(exc.value) == (
        f"POST /api/session → connection failed: ConnectionError (is Metabase running at http://127.0.0.1:{port}?)"
    )


def test_a_payload_metabase_rejects_is_one_line(fake, state, monkeypatch):
    from orchestration.bi import metabase_payloads

    real = metabase_payloads.template_tag

    def without_widget(card, tag, field_ids):
        out = real(card, tag, field_ids)
        out.pop("widget-type", None)
        return out

    monkeypatch.setattr(metabase_payloads, "template_tag", without_widget)
    with pytest.raises(mp.MetabaseError) as exc:
        run(fake, state)
    message = str(exc.value)
    assert message.startswith("POST /api/card → 400: dataset_query: invalid template-tags: ")
    assert "unknown widget-type None" in message and "\n" not in message


def test_expired_session_that_cannot_be_renewed_names_the_failing_call(fake):
    from orchestration.bi.metabase_client import Client

    client = Client(fake.url, USER, PASSWORD)
    fake.sessions.clear()  # the session expires...
    fake.users[USER] = "rotated"  # ...and the password changed meanwhile
    with pytest.raises(mp.MetabaseError, match=r"^POST /api/session → 401: password: did not match"):
        client.request("GET", "/api/collection")


def test_is_configured(monkeypatch):
    for key in ("METABASE_URL", "METABASE_USER", "METABASE_PASSWORD"):
        monkeypatch.setenv(key, "x")
    assert mp.is_configured()
    monkeypatch.delenv("METABASE_PASSWORD")
    assert not mp.is_configured()
    with pytest.raises(mp.MetabaseError, match="not configured"):
        mp.provision(COMPILED, database_settings=DB)


def test_instance_key_writes_a_url_one_way():
    assert mp.instance_key("HTTPS://Metabase.Example.com:443/") == "https://metabase.example.com"
    assert mp.instance_key("http://127.0.0.1:3000/mb/") == "http://127.0.0.1:3000/mb"


# ---------------------------------------------------------------- the fake rejects what Metabase rejects


def test_fake_rejects_like_metabase(fake, state):
    run(fake, state)
    auth = person(fake)
    (dash,) = fake.dashboards.values()
    dash_url = f"{fake.url}/api/dashboard/{dash['id']}"
    total = card_of(fake, "Total leads (example)")

    assert requests.get(f"{fake.url}/api/card/1").status_code == 401
    assert requests.get(f"{fake.url}/api/card/1").text == "Unauthenticated"
    removed = requests.post(f"{dash_url}/cards", headers=auth, json={"cardId": 1})
    assert (removed.status_code, removed.text) == (404, "API endpoint does not exist.")

    no_name = requests.post(
        f"{fake.url}/api/card",
        headers=auth,
        json={"dataset_query": {}, "display": "table", "visualization_settings": {}},
    )
    assert no_name.status_code == 400
    assert no_name.json()["specific-errors"]["name"] == ["missing required key, received: nil"]
    blank_description = requests.post(
        f"{fake.url}/api/card",
        headers=auth,
        json={"name": "x", "dataset_query": {}, "display": "table", "visualization_settings": {}, "description": ""},
    )
    assert blank_description.status_code == 400
    unsynced = json.loads(json.dumps(total["dataset_query"]))
    unsynced["native"]["template-tags"]["source"]["dimension"] = ["field", 99999, None]
    bad_field = requests.post(
        f"{fake.url}/api/card",
        headers=auth,
        json={"name": "x", "dataset_query": unsynced, "display": "table", "visualization_settings": {}},
    )
    assert (bad_field.status_code, bad_field.text) == (400, "Invalid Field Filter: Field 99999 does not exist.")

    tabs = [{"id": t["id"], "name": t["name"]} for t in dash["tabs"]]
    no_size = requests.put(
        dash_url,
        headers=auth,
        json={
            "tabs": tabs,
            "dashcards": [{"id": -1, "card_id": 1, "row": 0, "col": 0, "dashboard_tab_id": tabs[0]["id"]}],
        },
    )
    assert no_size.status_code == 400 and "dashcards" in no_size.json()["errors"]
    no_tab = requests.put(
        dash_url,
        headers=auth,
        json={
            "tabs": tabs,
            "dashcards": [{"id": -1, "card_id": total["id"], "row": 0, "col": 0, "size_x": 4, "size_y": 4}],
        },
    )
    assert (no_tab.status_code, no_tab.text) == (400, "This dashboard has tab, makes sure every card has a tab")
    as_variable = requests.put(
        dash_url,
        headers=auth,
        json={
            "tabs": tabs,
            "dashcards": [
                {
                    "id": -1,
                    "card_id": total["id"],
                    "row": 0,
                    "col": 0,
                    "size_x": 4,
                    "size_y": 4,
                    "dashboard_tab_id": tabs[0]["id"],
                    "parameter_mappings": [
                        {
                            "parameter_id": mp.filter_id("lead_capture", "source"),
                            "target": ["variable", ["template-tag", "source"]],
                        }
                    ],
                }
            ],
        },
    )
    assert as_variable.status_code == 400 and "target variable" in as_variable.text  # a field filter is a dimension
    assert len(fake.dashboards[dash["id"]]["dashcards"]) == 6  # nothing was applied


def test_fake_accepts_what_metabase_accepts_and_ignores_a_sent_entity_id(fake, state):
    run(fake, state)
    auth = person(fake)
    lenient = requests.post(
        f"{fake.url}/api/card",
        headers=auth,
        json={
            "name": "Total leads (example)",
            "dataset_query": {},
            "display": "no-such-viz",
            "visualization_settings": {},
            "dataset": False,
            "description": None,
            "collection_id": None,
            "entity_id": "pinnedpinnedpinned123",
        },
    )
    assert lenient.status_code == 200  # duplicate name, unknown display, extra key, nulls
    assert lenient.json()["entity_id"] != "pinnedpinnedpinned123"  # §13.2
    dashboard = requests.post(
        f"{fake.url}/api/dashboard", headers=auth, json={"name": "d", "description": "", "color": "#123456"}
    )
    assert dashboard.status_code == 200


def test_fake_normalises_settings_on_read():
    assert normalize_settings({"a": None, "column_settings": {'["name", "x"]': {"decimals": None, "d": 1}}}) == {
        "column_settings": {'["name","x"]': {"d": 1}}
    }
