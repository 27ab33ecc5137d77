"""Every bad input to the command line gets one line saying what is wrong and a non-zero exit, before any
work starts (issue 11)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "lead-analytics")


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ANALYTICS_")}
    environment.update(env, LEAD_ANALYTICS_HOME="/nonexistent/never-created")
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=environment, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--months", "0"], "argument --months: must be at least 1 (got 0)"),
        (["generate", "--months", "-3"], "argument --months: must be at least 1 (got -3)"),
        (["generate", "--volume", "0"], "argument --volume: must be more than 0 (got 0)"),
        (["generate", "--organizations", "two"], "argument --organizations: 'two' is not a whole number"),
        (
            ["generate", "--malformed-share", "1.5"],
            "argument --malformed-share: must be from 0 up to (not including) 1 (got 1.5)",
        ),
        (["demo", "--end-date", "2025-02-30"], "argument --end-date: '2025-02-30' is not a date like 2025-03-31"),
        (["ui", "--port", "0"], "argument --port: must be at least 1 (got 0)"),
    ],
)
def test_bad_generator_and_ui_options(args, message):
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(message)


@pytest.mark.parametrize("value", ["yesterday", "2025-03-31 17:00", "31/03/2025", "2025-03-31T25:00:00Z"])
def test_an_as_of_that_is_not_a_timestamp_with_a_zone_is_refused_up_front(value):
    proc = run("warehouse", "status", LEAD_ANALYTICS_AS_OF=value)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"lead-analytics: error: LEAD_ANALYTICS_AS_OF={value!r} is not a timestamp with a "
        f"time zone; use e.g. 2025-03-31T17:00:00Z or 2025-03-31T12:00:00-05:00 (unset it "
        f"for now)"
    )


def test_a_time_zone_that_does_not_exist_is_refused():
    proc = run("warehouse", "status", LEAD_ANALYTICS_TIMEZONE="Mars/Base")
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "lead-analytics: error: LEAD_ANALYTICS_TIMEZONE='Mars/Base' "
        "is not an IANA time zone (e.g. America/Chicago, Europe/Amsterdam)",
    )


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["load", "--landing", "/nonexistent"], "run `lead-analytics generate` first"),
        (["run", "--landing", "/nonexistent"], "run `lead-analytics generate` first"),
        (["demo", "--landing", "/nonexistent"], "create it, or leave out --landing for data/landing"),
    ],
)
def test_a_landing_folder_that_does_not_exist_is_refused_before_any_work(args, hint):
    proc = run(*args)
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"lead-analytics: error: landing directory /nonexistent does not exist ({hint})",
    )


def test_ui_refuses_a_port_that_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run("ui", "--port", str(port))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"lead-analytics: error: port {port} on 127.0.0.1 is already in use (another "
        f"`lead-analytics ui`?); stop it or pick another with --port"
    )


def test_help_explains_the_settings_and_their_formats():
    proc = run("--help")
    assert proc.returncode == 0
    assert "LEAD_ANALYTICS_AS_OF" in proc.stdout and "2025-03-31T17:00:00Z" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "--timezone", "Mars/Base"],
            "--timezone='Mars/Base' is not an IANA time zone (e.g. America/Chicago, Europe/Amsterdam)",
        ),
        (
            ["demo", "--as-of", "yesterday"],
            "--as-of='yesterday' is not a timestamp with a time zone; use e.g. 2025-03-31T17:00:00Z or "
            "2025-03-31T12:00:00-05:00 (leave it out for now)",
        ),
    ],
)
def test_a_bad_time_zone_or_as_of_option_is_refused_before_any_work(args, message):
    proc = run(*args, "--landing", "/nonexistent")  # the setting is refused before the landing folder is looked at
    assert (proc.returncode, proc.stderr.strip()) == (2, f"lead-analytics: error: {message}")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("generate", {"--landing", "--timezone"}),
        ("load", {"--landing"}),
        ("run", {"--landing", "--timezone", "--as-of"}),
        ("refresh", {"--landing", "--timezone", "--as-of"}),
        ("demo", {"--landing", "--timezone", "--as-of"}),
        ("ui", {"--landing", "--timezone", "--as-of"}),
        ("dbt", {"--timezone", "--as-of"}),
        ("mf", {"--timezone", "--as-of"}),
    ],
)
def test_each_command_explains_the_shared_options_it_takes(command, options):
    proc = run(command, "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    shared = {
        "--landing": "--landing DIR landing directory (default: LEAD_ANALYTICS_LANDING_DIR or data/landing)",
        "--timezone": "--timezone ZONE reporting time zone, an IANA name such as Europe/Amsterdam (default: "
        "LEAD_ANALYTICS_TIMEZONE or America/Chicago)",
        "--as-of": '--as-of TIMESTAMP pin "now" for today/this week/this month, an ISO timestamp with a time '
        "zone such as 2025-03-31T17:00:00Z (default: LEAD_ANALYTICS_AS_OF or the build time)",
    }
    for option, help_text in shared.items():
        assert (help_text in text) == (option in options), (command, option)


def test_work_beside_the_main_thread_hands_its_error_back(monkeypatch):
    """The demo parses the dbt project beside the data generation (D196): a failed parse is raised in the main thread,
    where the one-line error handling is, once the generation is done."""
    from orchestration import cli, dbt_project, settings, warehouse
    from orchestration.dbt_project import ParseError

    def fail(**kwargs) -> None:
        raise ParseError("dbt parse failed: models/x.yml: not valid YAML")

    info = warehouse.ConnectionInfo("localhost", 5432, "owner", "", "lead_analytics", "external")
    monkeypatch.setattr(dbt_project, "is_fresh", lambda **kwargs: True)
    monkeypatch.setattr(dbt_project, "ensure_manifest", fail)
    beside = cli._parse_beside(info, settings.current())
    with pytest.raises(ParseError, match=r"^dbt parse failed: models/x\.yml: not valid YAML$"):
        beside.result()
    monkeypatch.setattr(dbt_project, "ensure_manifest", lambda **kwargs: None)
    done = cli._parse_beside(info, settings.current())
    assert done.result() is None  # nothing to raise
