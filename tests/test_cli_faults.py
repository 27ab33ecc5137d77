"""The command line under faults, as a user meets them: `lead-analytics load` with a bad file, two first
loads at once on a new database, the warehouse going away mid-load, `warehouse status` of a warehouse
that is not there. Each is one clear line and an exit code, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from orchestration import warehouse

CLI = str(Path(sys.executable).parent / "lead-analytics")
BOT_HEADER = (
    "lead_id,source,bot_type,service_needed,confidence_score,status,name,email,phone,region,created_at,updated_at"
)


def bot(lead_id: str) -> str:
    return f"{lead_id},Website,chat,AllyChat,0.8,new,Ann,,,,2025-01-06T08:00:00Z,2025-01-06T10:00:00Z"


def env_for(info: warehouse.ConnectionInfo, landing: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LEAD_ANALYTICS_DATABASE_URL=f"postgresql://{info.user}@/{info.dbname}?host={info.host}&port={info.port}",
        LEAD_ANALYTICS_LANDING_DIR=str(landing),
    )
    return env


def write(root: Path, rel: str, content: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def test_load_reports_failed_and_unseen_files_loads_the_rest_and_exits_non_zero(fresh_db, landing):
    write(landing, "bot_leads/leads/leads_2025-01.csv", BOT_HEADER + "\n" + bot("C1") + "\n")
    write(landing, "bot_leads/leads/leads_2025-02.csv", b"")
    write(landing, "bot_leads/leads/leads_2025-03.CSV", BOT_HEADER + "\n")
    write(
        landing,
        "crm/system_costs/system_costs_2025-01.csv",
        "month,category,amount,updated_at\n2025-01-01,hosting,12.50,2025-01-31T00:00:00Z\n",
    )
    proc = subprocess.run([CLI, "load"], env=env_for(fresh_db, landing), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert "failed: bot_leads/leads/leads_2025-02.csv: empty file (0 bytes, no header line); nothing loaded" in lines
    assert (
        "not loaded: bot_leads/leads/leads_2025-03.CSV: extension .CSV is not .csv (extensions are case-sensitive)"
    ) in lines
    assert lines[-1] == "1 file(s) failed to load (the other files loaded); fix or remove them and load again"
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select lead_id from raw_bot_leads.leads").fetchall() == [("C1",)]
        assert conn.execute("select category, amount::text from raw_crm.system_costs").fetchall() == [
            ("hosting", "12.50")
        ]


def test_two_first_loads_at_once_on_a_new_database_both_succeed(warehouse_info, landing):
    info = replace(warehouse_info, dbname=f"first_{uuid.uuid4().hex[:8]}")
    for month in range(1, 3):
        write(landing, f"bot_leads/leads/leads_2025-0{month}.csv", BOT_HEADER + "\n" + bot(f"F{month}") + "\n")
    env = env_for(info, landing)
    try:
        procs = [
            subprocess.Popen([CLI, "load"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        assert [rc for rc, _ in outcomes] == [0, 0], outcomes
        with warehouse.connect(info) as conn:
            assert conn.execute("select count(*) from raw_bot_leads.leads").fetchone() == (2,)
            assert conn.execute(
                "select count(*), count(distinct file_path) from raw_audit.loaded_files"
            ).fetchone() == (2, 2)
    finally:
        warehouse.drop_database(info)


def test_the_warehouse_going_away_mid_load_is_one_line(fresh_db, landing):
    # 40 files of about 250 kB: several transactions (the files of one table prepared together, about
    # loaders.GROUP_BYTES, share one), so the first ledger row appears while later files are still to load.
    rows = "\n".join(bot(f"W{i}") for i in range(3000))
    for month in range(1, 41):
        write(
            landing,
            f"bot_leads/leads/leads_{2000 + month}-01.csv",
            BOT_HEADER + "\n" + rows.replace("W", f"W{month}-") + "\n",
        )
    proc = subprocess.Popen(
        [CLI, "load", "--table", "bot_leads__leads"],
        env=env_for(fresh_db, landing),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with warehouse.connect(fresh_db, autocommit=True) as admin:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (
                admin.execute("select to_regclass('raw_audit.loaded_files')").fetchone()[0]
                and admin.execute("select count(*) from raw_audit.loaded_files").fetchone()[0] > 0
            ):
                break
            time.sleep(0.01)
        # What `warehouse stop` (fast shutdown) does to every session: terminate it.
        admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        )
    stderr = proc.communicate(timeout=120)[1]
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(
        "lead-analytics: error: lost the connection to the warehouse while loading bot_leads/leads/leads_20"
    ), stderr
    # The files written before it in the same transaction (if any) are lost with it, and the line says so.
    assert re.search(
        r"\(that file (was|and the \d+ before it in its transaction were) not loaded; run the load again\)$", last
    )


@pytest.mark.parametrize("url", ["postgresql://postgres@/lead_analytics?host=/nonexistent/socket/dir"])
def test_warehouse_status_exits_non_zero_when_the_warehouse_is_unreachable(url):
    env = dict(os.environ, LEAD_ANALYTICS_DATABASE_URL=url)
    proc = subprocess.run([CLI, "warehouse", "status"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout.startswith(
        "external warehouse unreachable: external PostgreSQL, database lead_analytics on "
        "socket /nonexistent/socket/dir as postgres: "
    )
    assert len(proc.stdout.strip().splitlines()) == 1 and proc.stderr == ""


def test_a_second_landing_folder_is_loaded_but_said_to_be_mixed_in(fresh_db, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write(first, "bot_leads/leads/leads_2025-01.csv", BOT_HEADER + "\n" + bot("M1") + "\n")
    write(second, "bot_leads/leads/leads_2025-01.csv", BOT_HEADER + "\n" + bot("M2") + "\n")
    once = subprocess.run([CLI, "load"], env=env_for(fresh_db, first), capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    assert "note:" not in once.stderr
    mixed = subprocess.run([CLI, "load"], env=env_for(fresh_db, second), capture_output=True, text=True, timeout=120)
    assert mixed.returncode == 0, mixed.stderr
    assert (
        f"note: this warehouse also holds data loaded from {first} (1 file); files from {second} are mixed in "
        "with it (use another LEAD_ANALYTICS_HOME or LEAD_ANALYTICS_DATABASE_URL to keep them apart)"
    ) in mixed.stderr.splitlines()
    with warehouse.connect(fresh_db) as conn:
        assert conn.execute("select lead_id from raw_bot_leads.leads order by 1").fetchall() == [("M1",), ("M2",)]
