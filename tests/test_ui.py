"""`lead-analytics ui` (what `make ui` runs): the Dagster UI on 127.0.0.1 serves the whole asset graph,
and stopping the command stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from orchestration.ingestion import contracts

GRAPH_QUERY = json.dumps({"query": "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _asset_nodes(port: int) -> list[dict] | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=GRAPH_QUERY.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]["assetNodes"]
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _processes_serving(port: int) -> list[str]:
    """Command lines of live processes started for this port (dagster dev, its webserver)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in args)
        if "dagster" in text and f" {port}" in text:
            found.append(text[:120])
    return found


def test_ui_serves_the_asset_graph_and_stops_cleanly(warehouse_info, tmp_path):
    port = _free_port()
    cli = Path(sys.executable).parent / "lead-analytics"
    env = dict(os.environ, LEAD_ANALYTICS_LANDING_DIR=str(tmp_path))
    proc = subprocess.Popen(
        [str(cli), "ui", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        nodes = None
        deadline = time.monotonic() + 120
        while nodes is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(2)
            nodes = _asset_nodes(port)
        assert nodes is not None, f"UI did not come up: {proc.stderr.read() if proc.poll() is not None else ''}"
        assert _processes_serving(port)  # the check below would pass vacuously otherwise

        keys = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        for c in contracts.all_contracts():
            assert f"landing/{c.source}/{c.name}" in keys
            assert keys[f"{c.source}/{c.name}"]["groupName"] == f"raw_{c.source}"
            assert f"staging/stg_{c.source}__{c.name}" in keys
        deps = {"/".join(d["path"]) for d in keys["reports/html_dashboards"]["dependencyKeys"]}
        assert "marts/fct_bot_leads" in deps
        with socket.socket() as s:  # bound to loopback only
            assert s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 30
    while _processes_serving(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_serving(port) == [], "processes of the Dagster UI were left running"
