"""The provisioner is safe on a real Metabase (issue 19): each test is named after the probe's finding it fixes.

A second local HTTP server stands in for "another host": whatever reaches it is recorded, so a password or a
session header that followed a redirect would show up there. A front server in between plays a Metabase behind a
proxy (it forwards to the fake, and redirects, echoes or stalls where a test says so).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import METABASE_PASSWORD as PASSWORD
from conftest import METABASE_USER as USER
from fake_metabase import FakeMetabase  # tests/ is on sys.path

from orchestration import access, warehouse
from orchestration.bi import compiler
from orchestration.bi import metabase as mp
from orchestration.bi.metabase_client import Client, Redactor, check_url
from orchestration.bi.metabase_state import WarehouseState

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


@pytest.fixture(autouse=True)
def no_dbt_metabase_pause(monkeypatch):
    monkeypatch.setattr("dbtmetabase._models._SYNC_PERIOD", 0)


def run(url: str, state: WarehouseState, **kwargs: Any) -> mp.ProvisionReport:
    return mp.provision(COMPILED, url, USER, PASSWORD, DB, state=state, **kwargs)


# ---------------------------------------------------------------- local servers


class Recorder:
    """Another host: records every request that reaches it (method, path, headers, body) and answers 200 {}."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorder.seen.append((self.command, self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "15")
                self.end_headers()
                self.wfile.write(b'{"id": "stolen"}'[:15])

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # "localhost" for the URL: another host name than the 127.0.0.1 the client was given
        self.url = f"http://localhost:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Front:
    """A proxy in front of the fake. `behave(method, path) -> None | ("redirect", url) | ("echo", status) |
    "stall"`: None forwards the request to the fake."""

    def __init__(self, fake: FakeMetabase, behave) -> None:
        self.release = threading.Event()
        front = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                what = behave(self.command, self.path)
                if what == "stall":
                    front.release.wait(30)
                    return
                if what is None:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    answer = requests.request(
                        self.command,
                        fake.url + self.path,
                        data=body or None,
                        headers=headers,
                        allow_redirects=False,
                        timeout=10,
                    )
                    status, payload = answer.status_code, answer.content
                    extra = {"Content-Type": answer.headers.get("Content-Type", "text/plain")}
                elif what[0] == "redirect":
                    status, payload, extra = 307, b"", {"Location": what[1] + self.path}
                else:  # a proxy that echoes the request it could not pass on
                    echoed = {
                        "error": "upstream failed",
                        "request": {  # the first 400 characters are shown
                            "X-Metabase-Session": self.headers.get("X-Metabase-Session"),
                            "body": body.decode(),
                        },
                    }
                    status, payload, extra = what[1], json.dumps(echoed).encode(), {"Content-Type": "application/json"}
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    other = Recorder()
    yield other
    other.stop()


@pytest.fixture
def front_of(fake):
    fronts: list[Front] = []

    def make(behave) -> Front:
        fronts.append(Front(fake, behave))
        return fronts[-1]

    yield make
    for front in fronts:
        front.stop()


# ---------------------------------------------------------------- a person's own connection


def test_a_persons_own_connection_with_the_same_name_is_left_alone(fake, state):
    theirs = {"host": "their-db.example.com", "port": 5432, "dbname": "sales", "user": "maria", "password": "marias-pw"}
    made = requests.post(
        f"{fake.url}/api/database",
        json={"name": DB["name"], "engine": "postgres", "details": theirs},
        headers={
            "X-Metabase-Session": requests.post(
                f"{fake.url}/api/session", json={"username": USER, "password": PASSWORD}
            ).json()["id"]
        },
    ).json()
    before = len(fake.writes())

    with pytest.raises(mp.MetabaseError) as exc:
        run(fake.url, state)

    assert str(exc.value) == (
        f"Metabase already has a database connection named 'Lead Analytics warehouse' (id {made['id']}) that this "
        f"provisioner did not create: left it alone; name ours otherwise (METABASE_DB_NAME_IN_METABASE) or take that "
        f"one over once with adopt=True (METABASE_ADOPT=1)"
    )
    assert fake.databases[made["id"]]["details"] == theirs and fake.writes()[before:] == []

    renamed = {**DB, "name": "Lead Analytics warehouse (provisioned)"}
    mp.provision(COMPILED, fake.url, USER, PASSWORD, renamed, state=state)
    (our_id,) = [i for i, d in fake.databases.items() if d["name"] == renamed["name"]]
    moved = {**renamed, "host": "warehouse2.internal"}  # ours changes: only ours is edited, by its recorded id
    mp.provision(COMPILED, fake.url, USER, PASSWORD, moved, state=state)
    assert fake.databases[our_id]["details"]["host"] == "warehouse2.internal"
    assert fake.databases[made["id"]]["details"] == theirs and fake.databases[made["id"]]["name"] == DB["name"]
    assert ("PUT", f"/api/database/{made['id']}") not in fake.writes()


def test_the_old_name_matching_is_gone_even_after_our_connection_exists(fake, state):
    run(fake.url, state)
    auth = {
        "X-Metabase-Session": requests.post(
            f"{fake.url}/api/session", json={"username": USER, "password": PASSWORD}
        ).json()["id"]
    }
    theirs = {"host": "their-db.example.com", "port": 5432, "dbname": "sales", "user": "maria", "password": "marias-pw"}
    second = requests.post(
        f"{fake.url}/api/database", headers=auth, json={"name": DB["name"], "engine": "postgres", "details": theirs}
    ).json()
    before = len(fake.writes())

    report = run(fake.url, state)

    assert "database:Lead Analytics warehouse" in report.unchanged and fake.writes()[before:] == []
    assert fake.databases[second["id"]]["details"] == theirs


# ---------------------------------------------------------------- redirects


def test_a_redirect_on_login_does_not_send_the_password_to_another_host(fake, front_of, recorder):
    front = front_of(lambda method, path: ("redirect", recorder.url) if path == "/api/session" else None)
    # what plain requests would do: a 307 re-sends the body, password and all, to the other host
    requests.post(f"{front.url}/api/session", json={"username": USER, "password": PASSWORD}, timeout=5)
    assert PASSWORD in recorder.seen[-1][3]
    recorder.seen.clear()

    with pytest.raises(mp.MetabaseError) as exc:
        Client(front.url, USER, PASSWORD)

    assert str(exc.value) == (
        f"POST /api/session → 307: redirected to {recorder.url}/api/session; not followed "
        f"(credentials are never re-sent): set METABASE_URL to the address Metabase answers on"
    )
    assert recorder.seen == []


def test_a_redirect_on_a_call_does_not_forward_the_session_header(fake, state, front_of, recorder):
    front = front_of(lambda method, path: ("redirect", recorder.url) if path.startswith("/api/database") else None)
    session = requests.post(f"{fake.url}/api/session", json={"username": USER, "password": PASSWORD}).json()["id"]
    requests.get(f"{front.url}/api/database", headers={"X-Metabase-Session": session}, timeout=5)
    assert recorder.seen[-1][2].get("X-Metabase-Session") == session  # requests keeps a custom header across hosts
    recorder.seen.clear()

    with pytest.raises(mp.MetabaseError) as exc:
        run(front.url, state)

    assert str(exc.value).startswith(
        f"GET /api/database → 307: redirected to {recorder.url}/api/database; not "
        f"followed (credentials are never re-sent)"
    )
    assert recorder.seen == []
    assert ("DELETE", "/api/session") in [(m, p) for m, p, _, _ in fake.requests]  # still logged out


# ---------------------------------------------------------------- stalls


def test_a_stalled_login_times_out_in_one_line(state):
    with socket.socket() as stalled:  # accepts connections (the kernel does) and never answers
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(8)
        url = f"http://127.0.0.1:{stalled.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(mp.MetabaseError) as exc:
            run(url, state, timeout=0.5)
        assert time.monotonic() - started < 5
    assert str(exc.value) == f"POST /api/session → no answer within 0.5 s (is Metabase at {url} stalled?)"


def test_a_stalled_call_after_login_times_out_in_one_line(fake, state, front_of):
    front = front_of(lambda method, path: "stall" if path.startswith("/api/database") else None)
    started = time.monotonic()
    with pytest.raises(mp.MetabaseError) as exc:
        run(front.url, state, timeout=0.5)
    assert time.monotonic() - started < 5
    assert str(exc.value) == f"GET /api/database → no answer within 0.5 s (is Metabase at {front.url} stalled?)"


def test_the_timeout_setting_must_be_a_positive_number(fake, state, monkeypatch):
    monkeypatch.setenv("METABASE_TIMEOUT_SECONDS", "soon")
    with pytest.raises(mp.MetabaseError, match=r"^METABASE_TIMEOUT_SECONDS must be a number of seconds$"):
        run(fake.url, state)
    assert fake.requests == []


# ---------------------------------------------------------------- secrets in messages


def test_an_echoing_error_body_has_the_password_redacted(fake, front_of):
    front = front_of(lambda method, path: ("echo", 502) if path == "/api/session" else None)
    with pytest.raises(mp.MetabaseError) as exc:
        Client(front.url, USER, PASSWORD)
    message = str(exc.value)
    assert message.startswith("POST /api/session → 502: {") and "\n" not in message
    assert PASSWORD not in message and '\\"password\\": \\"***\\"' in message  # the echoed JSON body


def test_an_echoing_error_on_a_call_redacts_the_session_and_the_warehouse_password(fake, state, front_of):
    front = front_of(lambda method, path: ("echo", 500) if (method, path) == ("POST", "/api/database") else None)
    with pytest.raises(mp.MetabaseError) as exc:
        run(front.url, state)
    message = str(exc.value)
    assert message.startswith("POST /api/database → 500: {")
    assert DB["password"] not in message and PASSWORD not in message
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", message)  # no session id (a uuid)
    assert "X-Metabase-Session" in message and '"X-Metabase-Session": "***"' in message
    assert '\\"password\\": \\"***\\"' in message  # inside the echoed JSON body


def test_the_redactor_catches_encoded_secrets_and_url_passwords():
    redact = Redactor('pa"ss wörd')
    nested = json.dumps({"body": json.dumps({"password": 'pa"ss wörd'})})
    assert "ss w" not in redact(nested) and "\\u00f6rd" not in redact(nested)
    assert redact(json.dumps({"body": json.dumps({"password": "unregistered"})})) == (
        '{"body": "{\\"password\\": \\"***\\"}"}'
    )
    assert redact("login=pa%22ss%20w%C3%B6rd and pa%22ss+w%C3%B6rd") == "login=*** and ***"
    assert redact("postgresql://reader:hunter22@db:5432/x?password=hunter22") == (
        "postgresql://***@db:5432/x?password=***"
    )
    assert redact("password: did not match stored password") == "password: did not match stored password"


# ---------------------------------------------------------------- plain http


def test_http_to_a_non_local_host_is_refused(state):
    with pytest.raises(mp.MetabaseError) as exc:
        run("http://metabase.example.com", state)
    assert str(exc.value) == (
        "refusing http://metabase.example.com: the Metabase password and session would cross "
        "the network unencrypted; use https, or set METABASE_ALLOW_HTTP=1 for a trusted network"
    )
    assert check_url("http://metabase.example.com/", allow_http=True) == "http://metabase.example.com"
    assert check_url("https://metabase.example.com/mb/") == "https://metabase.example.com/mb"
    for local in ("http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000"):
        assert check_url(local) == local
    with pytest.raises(mp.MetabaseError, match="must not carry a user or password"):
        check_url("https://admin:pw@metabase.example.com")


# ---------------------------------------------------------------- logout


def test_the_session_is_logged_out_at_the_end(fake, state):
    run(fake.url, state)
    assert [(m, p, s) for m, p, _, s in fake.requests][-1] == ("DELETE", "/api/session", 204)
    assert fake.sessions == set()
    logins = [s for m, p, _, s in fake.requests if (m, p) == ("POST", "/api/session")]
    assert logins == [200]  # one login for the whole run (dbt-metabase included), no re-login


def test_the_session_is_logged_out_when_a_run_fails(fake, state):
    unset = {
        "groups": {},
        "clients": {
            "acme": {
                "name": "Acme",
                "organisation": "Acme",
                "role": "client_acme",
                "password_env": "H10_UNSET_PASSWORD_VARIABLE",
            }
        },
    }
    with pytest.raises(mp.MetabaseError, match=r"^client acme: set H10_UNSET_PASSWORD_VARIABLE to the password"):
        run(fake.url, state, access=mp.AccessSpec.model_validate(unset))
    assert [(m, p) for m, p, _, _ in fake.requests][-1] == ("DELETE", "/api/session")
    assert fake.sessions == set()


# ---------------------------------------------------------------- the connection's login (D184)


def test_metabase_connects_as_the_reader_by_default_and_its_password_is_in_no_output_or_record(
    fake, state, fresh_db, monkeypatch, capsys, caplog
):
    """Metabase connected as the warehouse owner unless configured otherwise: now reporting_reader is the default
    login, with the password the project keeps for it (D150), which appears in nothing the run prints or records."""
    for name in ("METABASE_DB_USER", "METABASE_DB_PASSWORD", "METABASE_DB_PORT", "METABASE_DB_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METABASE_DB_HOST", "127.0.0.1")  # the embedded warehouse listens on a socket only
    caplog.set_level("DEBUG")
    secret = access.reader_password()
    db = mp.warehouse_database_settings(fresh_db)
    assert (db.user, db.host, db.port, db.dbname) == ("reporting_reader", "127.0.0.1", fresh_db.port, fresh_db.dbname)
    assert db.password == secret and secret not in repr(db)

    report = mp.provision(COMPILED, fake.url, USER, PASSWORD, db, state=state)

    (created,) = [d for d in fake.databases.values() if d["name"] == "Lead Analytics warehouse"]
    assert (created["details"]["user"], created["details"]["password"]) == ("reporting_reader", secret)
    assert report.created[0] == "database:Lead Analytics warehouse"
    printed = capsys.readouterr()
    with warehouse.connect(fresh_db) as conn:
        recorded = conn.execute("select metabase_objects::text from raw_audit.metabase_objects").fetchall()
    assert len(recorded) > 1
    for text in (repr(report), report.summary(), *report.notes, printed.out, printed.err, caplog.text, *recorded):
        assert secret not in str(text)


def test_a_connection_as_the_owner_a_superuser_or_a_powerful_role_is_refused_in_one_line_unless_allowed(
    fake, state, fresh_db
):
    """The owner and a superuser read raw data and write; a createrole role can make itself anything (D184)."""
    tail = "; connect as reporting_reader (the default: unset METABASE_DB_USER) or set METABASE_DB_ALLOW_PRIVILEGED=1"
    with pytest.raises(mp.MetabaseError) as exc:
        mp.provision(COMPILED, fake.url, USER, PASSWORD, {**DB, "user": fresh_db.user}, state=state)
    # the test warehouse's login: the embedded warehouse's superuser, or an external one's owner
    assert str(exc.value) in {
        f"refusing to connect Metabase to the warehouse as {fresh_db.user!r}: it is {why}{tail} to allow it"
        for why in ("a superuser", "the warehouse owner (the login the pipeline builds with)")
    }
    powerful = f"mb_powerful_{uuid.uuid4().hex[:8]}"
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"create role {powerful} login createrole")
    try:
        with pytest.raises(mp.MetabaseError) as exc:
            mp.provision(COMPILED, fake.url, USER, PASSWORD, {**DB, "user": powerful}, state=state)
        assert str(exc.value) == (
            f"refusing to connect Metabase to the warehouse as {powerful!r}: it is a role with createdb, createrole "
            f"or bypassrls{tail} to allow it"
        )
        assert fake.requests == []  # refused before the first call: not even a login
        allowed = mp.provision(
            COMPILED, fake.url, USER, PASSWORD, {**DB, "user": powerful}, state=state, allow_privileged=True
        )
        assert allowed.created[0] == "database:Lead Analytics warehouse"
        assert [d["details"]["user"] for d in fake.databases.values()] == [powerful]
    finally:
        with warehouse.connect(fresh_db, autocommit=True) as conn:
            conn.execute(f"drop role {powerful}")


def test_another_login_needs_its_own_password_and_a_unix_socket_is_no_address_for_metabase(fresh_db):
    env = {"METABASE_DB_HOST": "db.internal", "METABASE_DB_USER": "analyst"}
    with pytest.raises(mp.MetabaseError) as exc:
        mp.warehouse_database_settings(fresh_db, env)
    assert str(exc.value) == "METABASE_DB_USER is 'analyst': set METABASE_DB_PASSWORD to its password"
    chosen = mp.warehouse_database_settings(fresh_db, {**env, "METABASE_DB_PASSWORD": "analyst-pw"})
    assert (chosen.user, chosen.password, chosen.host) == ("analyst", "analyst-pw", "db.internal")
    with pytest.raises(mp.MetabaseError) as exc:
        mp.warehouse_database_settings(replace(fresh_db, host="/run/postgresql"), {})
    assert str(exc.value) == (
        "Metabase needs a TCP address for the warehouse, but the embedded warehouse listens on a unix socket: "
        "set METABASE_DB_HOST (and METABASE_DB_PORT) or use an external warehouse"
    )
