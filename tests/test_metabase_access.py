"""Metabase permissions as code (issue 19): metabase/access.yml becomes groups, client connections and collections,
and the data and collection permission graphs, written with revision checks; only the provisioner's own groups and
objects (and All Users on them) are touched. Expected graphs are written out from the spec below by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from conftest import METABASE_PASSWORD as PASSWORD
from conftest import METABASE_USER as USER
from fake_metabase import ADMINISTRATORS, ALL_USERS, FakeMetabase  # tests/ is on sys.path

from orchestration.bi import compiler
from orchestration.bi import metabase as mp
from orchestration.bi.metabase_access import load_access
from orchestration.bi.metabase_state import WarehouseState
from orchestration.bi.specs import SpecError

SPECS = Path(__file__).parent / "fixtures" / "metabase_specs"
COMPILED = compiler.compile_specs(SPECS, cache_dir=None)

DB = {
    "name": "Lead Analytics warehouse",
    "host": "warehouse.internal",
    "port": 5432,
    "dbname": "lead_analytics",
    "user": "reporting_reader",
    "password": "reader-pw",
}
COLLECTION = "Lead Analytics (test)"
ACCESS = mp.AccessSpec.model_validate(
    {
        "groups": {
            "executive": {"name": "Executive", "collections": "read", "queries": "query-builder"},
            "manager": {"name": "Manager", "collections": "read", "queries": "query-builder"},
            "agent": {"name": "Agent", "collections": "read", "queries": "no"},
            "admin": {"name": "Admin", "collections": "write", "queries": "query-builder-and-native"},
        },
        "clients": {
            "acme": {
                "name": "Acme Realty",
                "organisation": "Acme Realty",
                "role": "client_acme",
                "password_env": "H10_ACME_PASSWORD",
            },
            "birch": {
                "name": "Birch Homes",
                "organisation": "Birch",
                "workspace": "Birch North",
                "role": "client_birch",
                "password_env": "H10_BIRCH_PASSWORD",
            },
        },
    }
)


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    monkeypatch.setattr("dbtmetabase._models._SYNC_PERIOD", 0)
    monkeypatch.setenv("H10_ACME_PASSWORD", "acme-pw-1")
    monkeypatch.setenv("H10_BIRCH_PASSWORD", "birch-pw-1")


def run(fake: FakeMetabase, state: WarehouseState, access=ACCESS, **kwargs) -> mp.ProvisionReport:
    return mp.provision(COMPILED, fake.url, USER, PASSWORD, DB, state=state, access=access, **kwargs)


def person(fake: FakeMetabase) -> dict[str, str]:
    session = requests.post(f"{fake.url}/api/session", json={"username": USER, "password": PASSWORD}).json()["id"]
    return {"X-Metabase-Session": session}


def named(table: dict[int, dict], name: str) -> int:
    (found,) = [i for i, obj in table.items() if obj["name"] == name]
    return found


# ---------------------------------------------------------------- the graphs


def test_permission_graphs_after_provisioning_and_zero_writes_the_second_time(fake, state):
    report = run(fake, state)

    groups = {g["name"]: g["id"] for g in fake.groups.values()}
    assert sorted(groups) == [
        "Admin",
        "Administrators",
        "Agent",
        "All Users",
        "Client: Acme Realty",
        "Client: Birch Homes",
        "Executive",
        "Manager",
    ]
    warehouse_db = named(fake.databases, "Lead Analytics warehouse")
    acme_db = named(fake.databases, "Lead Analytics warehouse (Acme Realty)")
    birch_db = named(fake.databases, "Lead Analytics warehouse (Birch Homes)")
    # a client's connection is the same warehouse, logged in as the client's own role
    assert {k: fake.databases[acme_db]["details"][k] for k in ("host", "port", "dbname", "user", "password")} == {
        "host": "warehouse.internal",
        "port": 5432,
        "dbname": "lead_analytics",
        "user": "client_acme",
        "password": "acme-pw-1",
    }
    assert fake.databases[birch_db]["details"]["user"] == "client_birch"
    assert fake.databases[acme_db]["details"]["schema-filters-patterns"] == "marts"

    data = requests.get(f"{fake.url}/api/permissions/graph", headers=person(fake)).json()["groups"]

    def queries(group: str) -> dict[int, str]:
        return {int(db): cell["create-queries"] for db, cell in data[str(groups[group])].items()}

    native = "query-builder-and-native"
    assert queries("All Users") == {warehouse_db: "no", acme_db: "no", birch_db: "no"}
    assert queries("Administrators") == {warehouse_db: native, acme_db: native, birch_db: native}  # untouched
    assert queries("Executive") == {warehouse_db: "query-builder", acme_db: "no", birch_db: "no"}
    assert queries("Manager") == {warehouse_db: "query-builder", acme_db: "no", birch_db: "no"}
    assert queries("Agent") == {warehouse_db: "no", acme_db: "no", birch_db: "no"}
    assert queries("Admin") == {warehouse_db: native, acme_db: "no", birch_db: "no"}
    assert queries("Client: Acme Realty") == {warehouse_db: "no", acme_db: "query-builder", birch_db: "no"}
    assert queries("Client: Birch Homes") == {warehouse_db: "no", acme_db: "no", birch_db: "query-builder"}
    assert {cell["view-data"] for dbs in data.values() for cell in dbs.values()} == {"unrestricted"}

    shared = named(fake.collections, COLLECTION)
    acme = named(fake.collections, "Acme Realty")
    birch = named(fake.collections, "Birch Homes")
    graph = requests.get(f"{fake.url}/api/collection/graph", headers=person(fake)).json()["groups"]
    ours = {str(shared), str(acme), str(birch)}

    def seen(group: str) -> dict[str, str]:
        return {c: p for c, p in graph[str(groups[group])].items() if c in ours}

    assert seen("All Users") == {}  # every "none" is omitted (0.56.13+)
    assert seen("Executive") == seen("Manager") == seen("Agent") == {str(shared): "read"}
    assert seen("Admin") == {str(shared): "write"}
    assert seen("Client: Acme Realty") == {str(acme): "write"}  # its own collection only
    assert seen("Client: Birch Homes") == {str(birch): "write"}
    assert seen("Administrators") == {str(shared): "write", str(acme): "write", str(birch): "write"}

    assert [e for e in report.created if e.split(":")[0] in ("group", "database", "collection")] == [
        "database:Lead Analytics warehouse",
        f"collection:{COLLECTION}",
        "database:client:acme",
        "database:client:birch",
        "collection:client:acme",
        "collection:client:birch",
        "group:executive",
        "group:manager",
        "group:agent",
        "group:admin",
        "group:acme",
        "group:birch",
    ]
    assert report.updated == ["permissions:data", "permissions:collections", "datamodel:marts.fct_bot_leads"]
    assert any("All Users may see the root collection" in n for n in report.notes)
    revisions = dict(fake.revisions)
    before = len(fake.writes())

    again = run(fake, state)

    assert fake.writes()[before:] == [] and fake.revisions == revisions
    assert again.created == again.updated == []
    assert {
        "permissions:data",
        "permissions:collections",
        "group:acme",
        "database:client:acme",
        "collection:client:acme",
    } <= set(again.unchanged)


def test_permissions_are_written_before_any_card_reaches_the_collection(fake, state):
    run(fake, state)
    calls = [(m, p) for m, p, _, _ in fake.requests]
    assert calls.index(("PUT", "/api/collection/graph")) < calls.index(("POST", "/api/card"))


def test_a_stale_revision_is_read_again_and_retried_once(fake, state, monkeypatch):
    real = fake._put_data_graph
    interfere = {"times": 1}

    def someone_else_saved_first(body):  # another admin saves between our GET and our PUT
        if interfere["times"]:
            interfere["times"] -= 1
            fake.revisions["data"] += 1
        return real(body)

    monkeypatch.setattr(fake, "_put_data_graph", someone_else_saved_first)

    report = run(fake, state)

    graph_calls = [(m, s) for m, p, _, s in fake.requests if p == "/api/permissions/graph"]
    assert graph_calls == [("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 200)]
    assert "permissions:data" in report.updated
    assert (
        fake.data_perms[named(fake.groups, "Client: Acme Realty")][
            named(fake.databases, "Lead Analytics warehouse (Acme Realty)")
        ]["create-queries"]
        == "query-builder"
    )


def test_a_revision_stale_twice_is_one_line_and_writes_nothing_more(fake, state, monkeypatch):
    real = fake._put_collection_graph

    def always_someone_else(body):
        fake.revisions["collection"] += 1
        return real(body)

    monkeypatch.setattr(fake, "_put_collection_graph", always_someone_else)
    with pytest.raises(mp.MetabaseError) as exc:
        run(fake, state)
    assert str(exc.value).startswith(
        "PUT /api/collection/graph → 409: the permissions changed again while they were being written (revision "
    )
    assert str(exc.value).endswith("); nothing written, run again")
    assert [s for m, p, _, s in fake.requests if (m, p) == ("PUT", "/api/collection/graph")] == [409, 409]
    assert not [p for m, p in fake.writes() if p == "/api/card"]  # it stopped before the cards


# ---------------------------------------------------------------- only its own


def test_only_the_provisioners_groups_and_objects_are_touched(fake, state):
    auth = person(fake)
    sales = requests.post(f"{fake.url}/api/permissions/group", headers=auth, json={"name": "Sales"}).json()
    theirs = requests.post(f"{fake.url}/api/collection", headers=auth, json={"name": "Sales corner"}).json()
    run(fake, state)
    shared = named(fake.collections, COLLECTION)
    warehouse_db = named(fake.databases, "Lead Analytics warehouse")
    graph = requests.get(f"{fake.url}/api/collection/graph", headers=auth).json()
    # a person gives their group read on our collection and shuts All Users out of theirs
    graph_put = {
        "revision": graph["revision"],
        "groups": {
            str(sales["id"]): {str(shared): "read", str(theirs["id"]): "write"},
            str(ALL_USERS): {str(theirs["id"]): "none"},
        },
    }
    assert requests.put(f"{fake.url}/api/collection/graph", headers=auth, json=graph_put).ok
    data = requests.get(f"{fake.url}/api/permissions/graph", headers=auth).json()
    sales_queries = {str(warehouse_db): {"view-data": "unrestricted", "create-queries": "query-builder"}}
    assert requests.put(
        f"{fake.url}/api/permissions/graph",
        headers=auth,
        json={"revision": data["revision"], "groups": {str(sales["id"]): sales_queries}},
    ).ok
    before = len(fake.writes())

    run(fake, state)

    assert fake.writes()[before:] == []  # their cells are theirs: nothing to put back
    assert fake.collection_perms[sales["id"]] == {shared: "read", theirs["id"]: "write"}
    assert fake.collection_perms[ALL_USERS][theirs["id"]] == "none"
    assert fake.data_perms[sales["id"]][warehouse_db]["create-queries"] == "query-builder"
    assert fake.groups[sales["id"]] == {"id": sales["id"], "name": "Sales"}


def test_a_group_of_people_with_a_managed_name_is_left_alone(fake, state):
    auth = person(fake)
    theirs = requests.post(f"{fake.url}/api/permissions/group", headers=auth, json={"name": "Executive"}).json()
    with pytest.raises(mp.MetabaseError) as exc:
        run(fake, state)
    assert str(exc.value) == (
        f"Metabase already has a group named 'Executive' (id {theirs['id']}) that this "
        f"provisioner did not create: left it alone; rename one of them, or take it over once "
        f"with adopt=True (METABASE_ADOPT=1)"
    )
    assert not [w for w in fake.writes() if "graph" in w[1]]


def test_a_collection_of_people_with_a_managed_name_is_left_alone(fake, state):
    theirs = requests.post(f"{fake.url}/api/collection", headers=person(fake), json={"name": COLLECTION}).json()
    with pytest.raises(
        mp.MetabaseError,
        match=rf"^Metabase already has a collection named '{re.escape(COLLECTION)}' "
        rf"\(id {theirs['id']}\) that this provisioner did not create",
    ):
        run(fake, state)
    assert not [w for w in fake.writes() if w[1].startswith(("/api/card", "/api/collection/"))]


def test_a_rotated_client_password_reaches_its_connection_and_then_nothing_is_written(fake, state, monkeypatch):
    run(fake, state)
    acme_db = named(fake.databases, "Lead Analytics warehouse (Acme Realty)")
    monkeypatch.setenv("H10_ACME_PASSWORD", "acme-pw-2")  # `access add-client` run again with a new password

    report = run(fake, state)

    assert report.updated[:1] == ["database:client:acme"] and "database:client:birch" in report.unchanged
    assert fake.databases[acme_db]["details"]["password"] == "acme-pw-2"
    records = state.load(mp.instance_key(fake.url))
    assert "acme-pw" not in json.dumps(records[("database", "client:acme")].detail)  # only a keyed hash is kept
    before = len(fake.writes())
    run(fake, state)
    assert fake.writes()[before:] == []


def test_a_renamed_client_role_is_written_to_its_connection(fake, state):
    run(fake, state)
    acme_db = named(fake.databases, "Lead Analytics warehouse (Acme Realty)")
    renamed = ACCESS.model_copy(
        update={
            "clients": {**ACCESS.clients, "acme": ACCESS.clients["acme"].model_copy(update={"role": "client_acme_v2"})}
        }
    )
    report = run(fake, state, access=renamed)
    assert "database:client:acme" in report.updated
    assert fake.databases[acme_db]["details"]["user"] == "client_acme_v2"


def test_a_clients_dashboard_copy_runs_on_its_own_connection_in_its_own_collection(fake, state):
    with_copy = ACCESS.model_copy(
        update={
            "clients": {
                **ACCESS.clients,
                "acme": ACCESS.clients["acme"].model_copy(update={"dashboards": ["lead_capture"]}),
            }
        }
    )

    report = run(fake, state, access=with_copy)

    acme_db = named(fake.databases, "Lead Analytics warehouse (Acme Realty)")
    warehouse_db = named(fake.databases, "Lead Analytics warehouse")
    acme, shared = named(fake.collections, "Acme Realty"), named(fake.collections, COLLECTION)
    copies = [c for c in fake.cards.values() if c["collection_id"] == acme]
    originals = [c for c in fake.cards.values() if c["collection_id"] == shared]
    assert len(copies) == len(originals) == 5
    assert sorted(c["name"] for c in copies) == sorted(c["name"] for c in originals)
    assert {c["dataset_query"]["database"] for c in copies} == {acme_db}
    assert {c["dataset_query"]["database"] for c in originals} == {warehouse_db}
    # its field filters point at the fields of its own connection (Metabase syncs each connection apart)
    total = next(c for c in copies if c["name"] == "Total leads (example)")
    source = total["dataset_query"]["native"]["template-tags"]["source"]["dimension"][1]
    assert fake.tables[fake.fields[source]["table_id"]]["db_id"] == acme_db
    (dash,) = [d for d in fake.dashboards.values() if d["collection_id"] == acme]
    assert {dc["card_id"] for dc in dash["dashcards"] if dc["card_id"]} == {c["id"] for c in copies}
    assert [t["name"] for t in dash["tabs"]] == ["Overview", "Detail"]
    assert "dashboard:lead_capture@acme" in report.created and "card:lead_capture__total_leads@acme" in report.created
    before = len(fake.writes())
    assert run(fake, state, access=with_copy).updated == [] and fake.writes()[before:] == []

    report = run(fake, state)  # the client no longer lists the dashboard: its copies go to the Trash

    assert "dashboard:lead_capture@acme" in report.archived and all(fake.cards[c["id"]]["archived"] for c in copies)
    assert not any(fake.cards[c["id"]]["archived"] for c in originals)


def test_a_client_named_like_a_dashboards_collection_is_refused(fake, state):
    clash = ACCESS.model_copy(
        update={"clients": {"acme": ACCESS.clients["acme"].model_copy(update={"name": COLLECTION})}}
    )
    with pytest.raises(SpecError, match=r"^access.yml: client acme: its collection would be named"):
        run(fake, state, access=clash)
    assert fake.requests == []


# ---------------------------------------------------------------- the spec file


def test_the_repository_access_file_declares_the_four_groups():
    """s001.acl_role_permissions (Executive, Manager, Agent, Admin) and s001.acl_export_controls (only the executive
    and admin groups may query, hence download; Manager and Agent read nothing through the shared connection)."""
    spec = load_access(Path(__file__).parents[1] / "metabase" / "access.yml")
    assert spec.kpis == [
        "s001.acl_role_permissions",
        "s001.acl_data_masking",
        "s001.acl_audit_logging",
        "s001.acl_export_controls",
    ]
    assert {k: (g.name, g.collections, g.queries) for k, g in spec.groups.items()} == {
        "executive": ("Executive", "read", "query-builder"),
        "manager": ("Manager", "none", "no"),
        "agent": ("Agent", "none", "no"),
        "admin": ("Admin", "write", "query-builder-and-native"),
    }
    assert spec.clients == {}


def test_the_access_file_rejects_native_sql_for_a_client_and_unknown_keys(tmp_path):
    path = tmp_path / "access.yml"
    path.write_text(
        "groups: {}\nclients:\n  acme: {name: A, organisation: A, role: client_a, password_env: A_PW,"
        " queries: query-builder-and-native}\n"
    )
    with pytest.raises(SpecError, match=r"access.yml: clients\.acme\.queries"):
        load_access(path)
    path.write_text("groups: {admin: {name: Admin, collections: write, queries: 'no', download: full}}\n")
    with pytest.raises(SpecError, match="download"):
        load_access(path)
    path.write_text(
        "groups: {x: {name: 'Client: Acme', collections: read, queries: 'no'}}\n"
        "clients: {acme: {name: Acme, organisation: A, role: client_a, password_env: A_PW}}\n"
    )
    with pytest.raises(SpecError, match="two groups would have the same name"):
        load_access(path)


# ---------------------------------------------------------------- the fake answers as Metabase does


def test_fake_permission_endpoints_check_revisions_and_refuse_paid_features(fake):
    auth = person(fake)
    assert requests.post(f"{fake.url}/api/permissions/group", headers=auth, json={"name": "Ops"}).ok
    duplicate = requests.post(f"{fake.url}/api/permissions/group", headers=auth, json={"name": "ops"})
    assert duplicate.status_code == 400
    db = requests.post(
        f"{fake.url}/api/database",
        headers=auth,
        json={"name": "w", "engine": "postgres", "details": {"host": "h", "dbname": "d"}},
    ).json()
    graph = requests.get(f"{fake.url}/api/permissions/graph", headers=auth).json()
    assert graph["groups"][str(ALL_USERS)][str(db["id"])] == {
        "view-data": "unrestricted",
        "create-queries": "query-builder-and-native",
    }
    stale = requests.put(
        f"{fake.url}/api/permissions/graph", headers=auth, json={"revision": graph["revision"] - 1, "groups": {}}
    )
    assert stale.status_code == 409
    blocked = requests.put(
        f"{fake.url}/api/permissions/graph",
        headers=auth,
        json={
            "revision": graph["revision"],
            "groups": {str(ALL_USERS): {str(db["id"]): {"view-data": "blocked", "create-queries": "no"}}},
        },
    )
    assert blocked.status_code == 402  # blocking and sandboxing are paid features
    admins = requests.put(
        f"{fake.url}/api/permissions/graph",
        headers=auth,
        json={
            "revision": graph["revision"],
            "groups": {str(ADMINISTRATORS): {str(db["id"]): {"create-queries": "no"}}},
        },
    )
    assert admins.status_code == 400
    coll = requests.post(f"{fake.url}/api/collection", headers=auth, json={"name": "New"}).json()
    cgraph = requests.get(f"{fake.url}/api/collection/graph", headers=auth).json()
    assert cgraph["groups"][str(ALL_USERS)][str(coll["id"])] == "write"  # inherited from the root
    assert str(fake.personal_collection_id) not in cgraph["groups"][str(ALL_USERS)]
    assert requests.put(
        f"{fake.url}/api/collection/graph",
        headers=auth,
        json={"revision": cgraph["revision"], "groups": {str(ALL_USERS): {str(coll["id"]): "none"}}},
    ).ok
    after = requests.get(f"{fake.url}/api/collection/graph", headers=auth).json()
    assert after["revision"] == cgraph["revision"] + 1 and str(coll["id"]) not in after["groups"][str(ALL_USERS)]
