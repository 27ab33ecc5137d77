"""The smaller findings of issue 19, each on the real thing: a bad database URL is never echoed, one run per
warehouse, a killed publish's leftovers go at the next start, `make clean` stays in the repository and off a
warehouse it did not start, control characters never reach the terminal, a filter off the calendar is one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from orchestration import publishing, settings, warehouse
from orchestration.bi import compiled
from orchestration.terminal import clean

CLI = str(Path(sys.executable).parent / "lead-analytics")


def run(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LEAD_ANALYTICS_", "PG"))}
    environment.update(env)
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=environment, timeout=60, cwd=cwd)


def url_of(info: warehouse.ConnectionInfo) -> str:
    if info.host.startswith("/"):
        return f"postgresql://{info.user}@/{info.dbname}?host={info.host}&port={info.port}"
    return f"postgresql://{info.user}:{info.password}@{info.host}:{info.port}/{info.dbname}"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ann:S3cretPw@db.example.com:5432/x?sslmode=bogus&&=",
        "host=db.example.com password=S3cretPw no_such_option=1",
    ],
)
def test_an_invalid_database_url_is_refused_in_one_line_without_its_password(url, tmp_path):
    done = run("warehouse", "status", LEAD_ANALYTICS_DATABASE_URL=url, LEAD_ANALYTICS_HOME=str(tmp_path))
    assert done.returncode == 2
    assert "S3cretPw" not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "lead-analytics: error: LEAD_ANALYTICS_DATABASE_URL is not a valid PostgreSQL URL (its value is not shown: "
        "it may hold a password); expected postgresql://user:password@host:5432/database"
    ]


def test_one_run_per_warehouse_a_second_is_told_in_one_line(fresh_db, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    with publishing.run_lock(fresh_db):
        with (
            pytest.raises(publishing.RunningElsewhere, match=r"^another run is using this warehouse since "),
            publishing.run_lock(fresh_db),
        ):
            pass
        for command in ("run", "refresh"):  # a refresh cycle (the demo's too) takes the same lock
            done = run(
                command,
                "--landing",
                str(landing),
                LEAD_ANALYTICS_DATABASE_URL=url_of(fresh_db),
                LEAD_ANALYTICS_HOME=str(tmp_path / "home"),
            )
            assert done.returncode == 2, command
            assert (
                done.stderr.strip()
                .splitlines()[-1]
                .startswith("lead-analytics: error: another run is using this warehouse since ")
            ), command
            assert "Traceback" not in done.stderr
    with publishing.run_lock(fresh_db):  # released at the end of the first
        pass


def test_a_killed_publishs_previous_copy_is_dropped_when_the_next_run_starts(fresh_db):
    with warehouse.connect(fresh_db, autocommit=True) as conn:
        for schema in ("marts", "marts__previous", "orphan__previous"):
            conn.execute(f"create schema {schema}")
        conn.execute("create table marts__previous.fct_leads as select 'ann@example.com' as email")
    with publishing.run_lock(fresh_db):
        pass
    with warehouse.connect(fresh_db) as conn:
        left = {r[0] for r in conn.execute("select nspname from pg_namespace where nspname like '%previous'")}
    assert left == {"orphan__previous"}  # no published successor: not a publish's copy, left alone


def _fake_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    shutil.copy(settings.PROJECT_ROOT / "Makefile", repo / "Makefile")
    for folder in ("data/landing", "reports", "target", ".warehouse/pgdata"):
        (repo / folder).mkdir(parents=True)
        (repo / folder / "kept.txt").write_text("x")
    return repo


def test_make_clean_acts_only_inside_the_repository_and_leaves_an_external_setups_warehouse(tmp_path):
    repo = _fake_repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    for folder in ("data", "reports"):
        (elsewhere / folder).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAD_ANALYTICS_", "PG", "MAKE"))}
    env["LEAD_ANALYTICS_DATABASE_URL"] = "postgresql://x@db.example.com/x"
    done = subprocess.run(
        ["make", "-s", "-f", str(repo / "Makefile"), "clean"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "data").is_dir() and (elsewhere / "reports").is_dir()
    assert not (repo / "data").exists() and not (repo / "reports").exists() and not (repo / "target").exists()
    assert (repo / ".warehouse/pgdata/kept.txt").exists()
    assert "external warehouse is configured" in done.stdout
    del env["LEAD_ANALYTICS_DATABASE_URL"]  # no external warehouse, none running: its state goes too
    done = subprocess.run(
        ["make", "-s", "-f", str(repo / "Makefile"), "clean"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not (repo / ".warehouse").exists() and (elsewhere / "data").is_dir()


def test_make_clean_refuses_to_remove_a_running_warehouse_it_cannot_stop(tmp_path):
    repo = _fake_repo(tmp_path)
    (repo / ".warehouse/pgdata/postmaster.pid").write_text(f"{os.getpid()}\n")  # a live process, no .venv to stop it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEAD_ANALYTICS_", "PG", "MAKE"))}
    done = subprocess.run(
        ["make", "-s", "-f", str(repo / "Makefile"), "clean"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert (repo / ".warehouse/pgdata/kept.txt").exists()
    assert "could not stop the embedded warehouse; nothing removed" in done.stdout + done.stderr


def test_control_characters_are_shown_escaped_never_sent_to_the_terminal(fresh_db, tmp_path):
    assert clean("Acme\x1b]0;pwned\x07 \x1b[2J\r\tok\n\x9b31m") == "Acme\\x1b]0;pwned\\x07 \\x1b[2J\\x0d\tok\n\\x9b31m"
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "evil\x1b[31mred.csv").write_text("x")
    done = run(
        "load",
        "--landing",
        str(landing),
        LEAD_ANALYTICS_HOME=str(tmp_path / "home"),
        LEAD_ANALYTICS_DATABASE_URL=url_of(fresh_db),
    )
    assert "\x1b" not in done.stdout + done.stderr
    assert "evil\\x1b[31mred.csv" in done.stderr, done.stderr


def test_a_relative_filter_value_past_the_calendar_is_a_filter_error_not_a_crash():
    with pytest.raises(compiled.RenderError, match="'past9999999days' is not a date filter value"):
        compiled.date_bounds("past9999999days", date(2025, 3, 31))
    with pytest.raises(compiled.RenderError, match="'next99999999years~' is not a date filter value"):
        compiled.date_bounds("next99999999years~", date(2025, 3, 31))


def test_the_access_log_is_created_by_the_owner_of_a_database_never_published(fresh_db):
    from orchestration import access

    with warehouse.connect(fresh_db) as conn:
        access.log_access(conn, "export", "card lead_capture__total_leads as csv", {"source": ["Website"]}, 4)
        logged = conn.execute("select who, action, what, filters, row_count from raw_audit.access_log").fetchall()
    assert logged == [(fresh_db.user, "export", "card lead_capture__total_leads as csv", {"source": ["Website"]}, 4)]
