"""Provisioning Metabase from specs, against the fake server (tests/fake_metabase.py); and render_sql.

No warehouse and no real Metabase needed. The example specs live in
tests/fixtures/metabase_specs (the real cards go to metabase/cards).
"""
from __future__ import annotations

import shutil
import socket
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import yaml

from orchestration.bi import specs as d
from orchestration.bi import metabase as mp
from fake_metabase import FakeMetabase  # tests/ is on sys.path (rootdir-relative test modules)

SPECS = Path(__file__).parent / "fixtures" / "metabase_specs"
USER, PASSWORD = "admin@example.com", "s3cret-pass"
DB = {"name": "Lead Analytics warehouse", "host": "warehouse.internal", "port": 5432, "dbname": "lead_analytics",
      "user": "metabase_reader", "password": "reader-pw"}
WEEK_CARD = "lead_capture__leads_created_this_week"
SOURCE_CARD = "lead_capture__leads_by_source"


@pytest.fixture
def fake():
    with FakeMetabase(users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture
def specs(tmp_path) -> Path:
    """A writable copy of the example specs."""
    return Path(shutil.copytree(SPECS, tmp_path / "specs"))


def run(fake: FakeMetabase, specs_dir: Path = SPECS) -> mp.ProvisionReport:
    return mp.provision(specs_dir, fake.url, USER, PASSWORD, DB)


def writes(fake: FakeMetabase) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _, _ in fake.requests if m != "GET" and p != "/api/session"]


def live_cards(fake: FakeMetabase) -> list[dict]:
    return [c for c in fake.cards.values() if not c["archived"]]


# ---------------------------------------------------------------- provisioning


def test_first_run_creates_database_collection_cards_and_dashboard(fake):
    report = run(fake)

    assert report.counts() == {"created": 5, "updated": 0, "unchanged": 0, "archived": 0}
    (db,) = fake.databases.values()
    assert db["engine"] == "postgres" and db["name"] == DB["name"]
    assert db["details"]["schema-filters-type"] == "inclusion" and db["details"]["schema-filters-patterns"] == "marts"
    (coll,) = [c for c in fake.collections.values() if c["name"] == "Lead Analytics (test)"]
    assert coll["location"] == "/"

    cards = {c["name"]: c for c in fake.cards.values()}
    assert set(cards) == {"Leads created this week", "Leads by source"}
    week = cards["Leads created this week"]
    assert week["collection_id"] == coll["id"] and week["display"] == "scalar" and week["type"] == "question"
    query = week["dataset_query"]
    assert query["type"] == "native" and query["database"] == db["id"]
    assert "[[ and source = {{source}} ]]" in query["native"]["query"]
    tags = query["native"]["template-tags"]
    assert tags["week_start"] == {"id": mp.tag_id(WEEK_CARD, "week_start"), "name": "week_start",
                                  "display-name": "Week start", "type": "date", "required": True,
                                  "default": "2025-03-03"}
    assert tags["source"]["type"] == "text" and tags["source"]["required"] is False
    assert tags["min_confidence"]["type"] == "number"
    assert {p["slug"]: p["type"] for p in week["parameters"]} == {
        "week_start": "date/single", "source": "category", "min_confidence": "number/="}

    (dash,) = fake.dashboards.values()
    assert dash["collection_id"] == coll["id"] and dash["name"] == "Lead capture (example)"
    params = {p["slug"]: p for p in dash["parameters"]}
    assert params["week"]["type"] == "date/single" and params["week"]["default"] == "2025-03-03"
    assert params["source"]["type"] == "string/="
    placed = {dc["card_id"]: dc for dc in dash["dashcards"]}
    assert (placed[week["id"]]["size_x"], placed[week["id"]]["size_y"]) == (6, 3)
    targets = {m["parameter_id"]: m["target"] for m in placed[week["id"]]["parameter_mappings"]}
    assert targets == {params["week"]["id"]: ["variable", ["template-tag", "week_start"]],
                       params["source"]["id"]: ["variable", ["template-tag", "source"]]}
    # the dashboard went through POST + two PUTs, never the removed /cards endpoint
    assert [w for w in writes(fake) if "dashboard" in w[1]] == [
        ("POST", "/api/dashboard"), ("PUT", f"/api/dashboard/{dash['id']}"), ("PUT", f"/api/dashboard/{dash['id']}")]


def test_second_run_changes_nothing(fake):
    run(fake)
    before = len(writes(fake))
    report = run(fake)

    assert report.counts() == {"created": 0, "updated": 0, "unchanged": 5, "archived": 0}
    assert len(writes(fake)) == before, "a second run must not write"
    assert len(fake.databases) == 1 and len(live_cards(fake)) == 2 and len(fake.dashboards) == 1
    assert [c["name"] for c in fake.collections.values()].count("Lead Analytics (test)") == 1


def test_changed_card_is_updated_in_place(fake, specs):
    run(fake)
    path = specs / "cards" / f"{WEEK_CARD}.yml"
    spec = yaml.safe_load(path.read_text())
    spec["display"] = "smartscalar"
    path.write_text(yaml.safe_dump(spec))

    report = run(fake, specs)

    assert report.updated == ["card:Leads created this week"]
    assert report.created == [] and len(fake.cards) == 2
    (week,) = [c for c in fake.cards.values() if c["name"] == "Leads created this week"]
    assert week["display"] == "smartscalar"


def test_removed_card_is_archived_and_dashcards_keep_their_ids(fake, specs):
    run(fake)
    (dash,) = fake.dashboards.values()
    week_id = next(c["id"] for c in fake.cards.values() if c["name"] == "Leads created this week")
    kept_dashcard = next(dc["id"] for dc in dash["dashcards"] if dc["card_id"] == week_id)
    (specs / "cards" / f"{SOURCE_CARD}.yml").unlink()
    dash_path = specs / "dashboards" / "lead_capture.yml"
    spec = yaml.safe_load(dash_path.read_text())
    spec["cards"] = [c for c in spec["cards"] if c["card"] != SOURCE_CARD]
    dash_path.write_text(yaml.safe_dump(spec))

    report = run(fake, specs)

    assert report.archived == ["card:Leads by source"]
    assert report.updated == ["dashboard:Lead capture (example)"]
    (archived,) = [c for c in fake.cards.values() if c["archived"]]
    assert archived["name"] == "Leads by source"
    assert [dc["id"] for dc in fake.dashboards[dash["id"]]["dashcards"]] == [kept_dashcard]
    assert run(fake, specs).counts()["unchanged"] == 4  # and stable afterwards


def test_duplicate_card_made_by_hand_is_archived(fake):
    run(fake)
    original = next(c for c in fake.cards.values() if c["name"] == "Leads by source")
    session = fake.sessions.copy().pop()
    response = requests.post(f"{fake.url}/api/card", headers={"X-Metabase-Session": session}, json={
        k: original[k] for k in ("name", "dataset_query", "display", "visualization_settings", "collection_id")})
    assert response.status_code == 200

    report = run(fake)

    assert report.archived == ["card:Leads by source"]
    assert [c["id"] for c in live_cards(fake) if c["name"] == "Leads by source"] == [original["id"]]


def test_bad_credentials_give_one_line_error(fake):
    with pytest.raises(mp.MetabaseError) as exc:
        mp.provision(SPECS, fake.url, USER, "wrong", DB)
    assert str(exc.value) == "POST /api/session → 401: password: did not match stored password"
    assert writes(fake) == []


def test_unreachable_metabase_gives_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(mp.MetabaseError, match=r"^POST /api/session → connection failed"):
        mp.provision(SPECS, f"http://127.0.0.1:{port}", USER, PASSWORD, DB)


def test_a_payload_the_server_rejects_surfaces_as_metabase_error(fake, monkeypatch):
    real = mp._template_tag

    def without_id(card, parameter):
        tag = real(card, parameter)
        del tag["id"]
        return tag

    monkeypatch.setattr(mp, "_template_tag", without_id)
    with pytest.raises(mp.MetabaseError) as exc:
        run(fake)
    message = str(exc.value)
    assert message.startswith("POST /api/card → 400: dataset_query: invalid template-tags")
    assert "missing id" in message and "\n" not in message
    assert f"{type(exc.value).__name__}: {message}".startswith("MetabaseError: POST /api/card → 400")


def test_is_configured(monkeypatch):
    for key in ("METABASE_URL", "METABASE_USER", "METABASE_PASSWORD"):
        monkeypatch.setenv(key, "x")
    assert mp.is_configured()
    monkeypatch.delenv("METABASE_PASSWORD")
    assert not mp.is_configured()
    with pytest.raises(mp.MetabaseError, match="not configured"):
        mp.provision(SPECS, database_settings=DB)


# ---------------------------------------------------------------- the fake rejects what Metabase rejects


def test_fake_rejects_like_metabase(fake):
    run(fake)
    session = fake.sessions.copy().pop()
    auth = {"X-Metabase-Session": session}
    (dash,) = fake.dashboards.values()
    dash_url = f"{fake.url}/api/dashboard/{dash['id']}"

    assert requests.get(f"{fake.url}/api/card/1").status_code == 401
    assert requests.get(f"{fake.url}/api/card/1").text == "Unauthenticated"
    removed = requests.post(f"{dash_url}/cards", headers=auth, json={"cardId": 1})
    assert (removed.status_code, removed.text) == (404, "API endpoint does not exist.")

    no_name = requests.post(f"{fake.url}/api/card", headers=auth, json={"dataset_query": {}, "display": "table",
                                                                        "visualization_settings": {}})
    assert no_name.status_code == 400
    assert no_name.json()["specific-errors"]["name"] == ["missing required key, received: nil"]
    blank_description = requests.post(f"{fake.url}/api/card", headers=auth, json={
        "name": "x", "dataset_query": {}, "display": "table", "visualization_settings": {}, "description": ""})
    assert blank_description.status_code == 400

    no_size = requests.put(dash_url, headers=auth, json={"dashcards": [{"id": -1, "card_id": 1, "row": 0, "col": 0}]})
    assert no_size.status_code == 400 and "dashcards" in no_size.json()["errors"]
    unknown_parameter = requests.put(dash_url, headers=auth, json={"dashcards": [
        {"id": -1, "card_id": 1, "row": 0, "col": 0, "size_x": 4, "size_y": 4,
         "parameter_mappings": [{"parameter_id": "nope", "target": ["variable", ["template-tag", "week_start"]]}]}]})
    assert unknown_parameter.status_code == 400
    unknown_tag = requests.put(dash_url, headers=auth, json={
        "parameters": [{"id": "p1", "type": "date/single"}],
        "dashcards": [{"id": -1, "card_id": 1, "row": 0, "col": 0, "size_x": 4, "size_y": 4,
                       "parameter_mappings": [{"parameter_id": "p1",
                                               "target": ["variable", ["template-tag", "nope"]]}]}]})
    assert unknown_tag.status_code == 400
    assert len(fake.dashboards[dash["id"]]["dashcards"]) == 2  # nothing was applied


def test_fake_accepts_what_metabase_accepts(fake):
    run(fake)
    auth = {"X-Metabase-Session": fake.sessions.copy().pop()}
    lenient = requests.post(f"{fake.url}/api/card", headers=auth, json={
        "name": "Leads by source", "dataset_query": {}, "display": "no-such-viz", "visualization_settings": {},
        "dataset": False, "description": None, "collection_id": None})
    assert lenient.status_code == 200  # duplicate name, unknown display, extra key, nulls
    dashboard = requests.post(f"{fake.url}/api/dashboard", headers=auth, json={"name": "d", "description": "",
                                                                             "color": "#123456"})
    assert dashboard.status_code == 200


# ---------------------------------------------------------------- specs and render_sql


def card(sql: str, *parameters: d.Parameter) -> d.Card:
    return d.Card(key="t__card", name="t", description="", kpis=("s000.x",), display="table", sql=sql,
                  parameters=parameters)


DAY = d.Parameter("day", "date", "Day")
SOURCE = d.Parameter("source", "text", "Source")
MIN = d.Parameter("min_score", "number", "Min score")


def test_render_keeps_optional_clause_only_when_all_its_variables_have_values():
    c = card("select 1 where d = {{day}} [[and s = {{source}} and m > {{min_score}}]]", DAY, SOURCE, MIN)
    assert d.render_sql(c, {"day": "2025-03-03", "source": "web"}) == (
        "select 1 where d = %(day)s ", {"day": date(2025, 3, 3)})
    assert d.render_sql(c, {"day": "2025-03-03", "source": "web", "min_score": 2}) == (
        "select 1 where d = %(day)s and s = %(source)s and m > %(min_score)s",
        {"day": date(2025, 3, 3), "source": "web", "min_score": Decimal("2")})
    assert d.render_sql(c, {"day": date(2025, 3, 3), "source": "", "min_score": None})[1] == {"day": date(2025, 3, 3)}


def test_render_types_values_and_uses_defaults():
    c = card("select {{day}}, {{source}}, {{min_score}}", d.Parameter("day", "date", "Day", default="2025-01-06"),
             SOURCE, MIN)
    sql, params = d.render_sql(c, {"source": ["web"], "min_score": "0.75"})
    assert sql == "select %(day)s, %(source)s, %(min_score)s"
    assert params == {"day": date(2025, 1, 6), "source": "web", "min_score": Decimal("0.75")}
    assert type(params["min_score"]) is Decimal and type(params["day"]) is date


def test_render_missing_required_variable_names_it():
    c = card("select 1 where d = {{day}} [[and s = {{source}}]]", DAY, SOURCE)
    with pytest.raises(d.RenderError, match="'day'"):
        d.render_sql(c, {"source": "web"})


def test_render_rejects_bad_values_and_unknown_variables():
    c = card("select {{day}}, {{min_score}}", DAY, MIN)
    with pytest.raises(d.RenderError, match="day"):
        d.render_sql(c, {"day": "03/03/2025", "min_score": 1})
    with pytest.raises(d.RenderError, match="min_score"):
        d.render_sql(c, {"day": "2025-03-03", "min_score": "many"})
    with pytest.raises(d.RenderError, match="nope"):
        d.render_sql(c, {"day": "2025-03-03", "min_score": 1, "nope": 1})


def test_render_escapes_percent_signs_for_psycopg():
    c = card("select 1 where e like '%@x.com' [[and s = {{source}}]]", SOURCE)
    assert d.render_sql(c, {}) == ("select 1 where e like '%%@x.com' ", {})


@pytest.mark.parametrize("sql, message", [
    ("select [[ and a = {{x}} [[ and b = {{x}} ]] ]]", "nested"),
    ("select [[ and a = {{x}}", "no matching ']]'"),
    ("select {{x}} ]]", r"no matching '\[\['"),
    ("select {{x}} [[ and true ]]", "must contain"),
    ("select {{snippet: foo}} {{x}}", "unsupported"),
    ("select {{y}} {{x}}", "undeclared"),
    ("select 1", "not used"),
])
def test_invalid_card_specs_are_rejected(tmp_path, sql, message):
    path = tmp_path / "area__card.yml"
    path.write_text(yaml.safe_dump({"name": "c", "kpis": ["s000.x"], "display": "table", "sql": sql,
                                    "parameters": [{"name": "x", "type": "text", "display_name": "X"}]}))
    with pytest.raises(d.SpecError, match=message):
        d.load_card(path)


def test_example_specs_load_and_cross_check():
    specs = d.load_specs(SPECS)
    assert set(specs.cards) == {WEEK_CARD, SOURCE_CARD}
    week = specs.cards[WEEK_CARD]
    assert week.required_variables == ("week_start",) and week.kpis == ("s000.leads_created_this_week",)
    dashboard = specs.dashboards["lead_capture"]
    assert d.card_values(dashboard, dashboard.cards[0], {"source": ["web"]}) == {
        "week_start": "2025-03-03", "source": ["web"]}


def test_dashboard_mapping_to_a_wrong_tag_type_is_rejected(specs):
    path = specs / "dashboards" / "lead_capture.yml"
    spec = yaml.safe_load(path.read_text())
    spec["cards"][0]["mappings"] = {"week": "source"}  # date filter → text variable
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(d.SpecError, match="cannot feed"):
        d.load_specs(specs)


def test_expired_session_that_cannot_be_renewed_names_the_failing_call(fake):
    client = mp.Client(fake.url, USER, PASSWORD)
    fake.sessions.clear()  # the session expires...
    fake.users[USER] = "rotated"  # ...and the password changed meanwhile
    with pytest.raises(mp.MetabaseError, match=r"^POST /api/session → 401: password: did not match"):
        client.request("GET", "/api/collection")
