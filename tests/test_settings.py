"""Settings travel as one validated object (issue 15): loaded once from the environment and the command line's
options, passed on as an argument, and written only into the environment of a child process (dbt, `dagster dev`),
never into this process's `os.environ`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from orchestration import settings, warehouse
from orchestration.dbt_project import dbt_env
from orchestration.settings import PROJECT_ROOT, SettingError, Settings

INFO = warehouse.ConnectionInfo(
    host="db.example", port=6543, user="analyst", password="pw", dbname="warehouse", kind="external"
)


def test_the_command_line_options_win_over_the_environment():
    config = Settings.load(
        {
            "LEAD_ANALYTICS_TIMEZONE": "America/Chicago",
            "LEAD_ANALYTICS_AS_OF": "2025-03-31T12:00:00-05:00",
            "LEAD_ANALYTICS_LANDING_DIR": "/srv/landing-from-env",
            "LEAD_ANALYTICS_REPORTS_DIR": "/srv/reports",
            "LEAD_ANALYTICS_HOME": "/srv/state",
        },
        timezone="Europe/Amsterdam",
        landing_dir="/srv/landing-from-option",
    )
    assert config.timezone == "Europe/Amsterdam"
    assert config.as_of == datetime(2025, 3, 31, 17, 0, tzinfo=UTC)  # 12:00 at -05:00, from the environment
    assert config.as_of_text == "2025-03-31T17:00:00+00:00"
    assert (str(config.landing_dir), str(config.reports_dir), str(config.state_dir)) == (
        "/srv/landing-from-option",
        "/srv/reports",
        "/srv/state",
    )


def test_an_empty_environment_gives_the_defaults():
    config = Settings.load({})
    assert config.timezone == "America/Chicago"  # dbt_project.yml: vars.reporting_timezone_default
    assert (config.as_of, config.as_of_text) == (None, "")
    assert config.landing_dir == PROJECT_ROOT / "data" / "landing"
    assert config.reports_dir == PROJECT_ROOT / "reports"
    assert config.state_dir == PROJECT_ROOT / ".warehouse"


@pytest.mark.parametrize(
    ("environ", "options", "message"),
    [
        (
            {"LEAD_ANALYTICS_TIMEZONE": "Mars/Base"},
            {},
            "LEAD_ANALYTICS_TIMEZONE='Mars/Base' is not an IANA time zone (e.g. America/Chicago, Europe/Amsterdam)",
        ),
        ({}, {"timezone": "CST"}, "--timezone='CST' is not an IANA time zone (e.g. America/Chicago, Europe/Amsterdam)"),
        (
            {"LEAD_ANALYTICS_AS_OF": "yesterday"},
            {},
            "LEAD_ANALYTICS_AS_OF='yesterday' is not a timestamp with a time zone; use e.g. 2025-03-31T17:00:00Z or "
            "2025-03-31T12:00:00-05:00 (unset it for now)",
        ),
        (
            {},
            {"as_of": "2025-03-31 17:00"},
            "--as-of='2025-03-31 17:00' is not a timestamp with a time zone; use e.g. 2025-03-31T17:00:00Z or "
            "2025-03-31T12:00:00-05:00 (leave it out for now)",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_where_it_came_from(environ, options, message):
    with pytest.raises(SettingError) as raised:
        Settings.load(environ, **options)
    assert str(raised.value) == message


def test_the_warehouse_comes_from_the_database_url_else_libpqs_variables_and_its_password_is_not_shown():
    by_url = Settings.load(
        {
            "LEAD_ANALYTICS_DATABASE_URL": "postgresql://analyst:secret@db.example:6543/warehouse",
            "PGHOST": "other.example",
            "PGPASSWORD": "secret2",
            "PGAPPNAME": "ignored",
        }
    )
    assert (by_url.database_url, by_url.libpq, by_url.external_database) == (
        "postgresql://analyst:secret@db.example:6543/warehouse",
        {"PGHOST": "other.example", "PGPASSWORD": "secret2"},
        True,
    )
    assert "secret" not in repr(by_url)
    assert {k: v for k, v in by_url.child_env({}).items() if "DATABASE" in k or k.startswith("PG")} == {
        "LEAD_ANALYTICS_DATABASE_URL": "postgresql://analyst:secret@db.example:6543/warehouse",
        "PGHOST": "other.example",
        "PGPASSWORD": "secret2",
    }
    by_libpq = Settings.load({"PGHOST": "other.example"})
    assert (by_libpq.database_url, by_libpq.external_database) == (None, True)
    embedded = Settings.load({"PGUSER": "me"})
    assert (embedded.database_url, embedded.libpq, embedded.external_database) == (None, {"PGUSER": "me"}, False)


def test_settings_are_frozen_and_take_no_unknown_field():
    config = Settings.load({})
    with pytest.raises(ValidationError):
        config.timezone = "Europe/Amsterdam"
    with pytest.raises(ValidationError):
        Settings(timezone="UTC", landing_dir="/a", reports_dir="/b", state_dir="/c", landing="/d")
    with pytest.raises(ValidationError):
        Settings(timezone="Mars/Base", landing_dir="/a", reports_dir="/b", state_dir="/c")


def test_a_child_process_gets_the_settings_and_this_process_keeps_its_environment():
    before = dict(os.environ)
    config = Settings.load({}, timezone="Europe/Amsterdam", as_of="2025-03-31T17:00:00Z", landing_dir="/srv/in")
    env = dbt_env(INFO, config)
    assert {
        k: env[k]
        for k in (
            "LEAD_ANALYTICS_TIMEZONE",
            "LEAD_ANALYTICS_AS_OF",
            "LEAD_ANALYTICS_LANDING_DIR",
            "LEAD_ANALYTICS_PGHOST",
            "LEAD_ANALYTICS_PGPORT",
            "LEAD_ANALYTICS_PGDATABASE",
        )
    } == {
        "LEAD_ANALYTICS_TIMEZONE": "Europe/Amsterdam",
        "LEAD_ANALYTICS_AS_OF": "2025-03-31T17:00:00+00:00",
        "LEAD_ANALYTICS_LANDING_DIR": "/srv/in",
        "LEAD_ANALYTICS_PGHOST": "db.example",
        "LEAD_ANALYTICS_PGPORT": "6543",
        "LEAD_ANALYTICS_PGDATABASE": "warehouse",
    }
    assert config.child_env({"PATH": "/bin"})["PATH"] == "/bin"
    assert dict(os.environ) == before


def test_current_is_the_running_commands_settings_else_the_environments(monkeypatch):
    monkeypatch.setenv("LEAD_ANALYTICS_TIMEZONE", "Asia/Tokyo")
    assert settings.reporting_timezone() == "Asia/Tokyo"
    config = Settings.load({}, timezone="Europe/Amsterdam", landing_dir="/srv/in")
    with settings.running(config):
        assert settings.current() is config
        assert (settings.reporting_timezone(), str(settings.landing_dir())) == ("Europe/Amsterdam", "/srv/in")
    assert settings.reporting_timezone() == "Asia/Tokyo"
    monkeypatch.setenv("LEAD_ANALYTICS_TIMEZONE", "Mars/Base")
    with pytest.raises(SettingError):
        settings.current()


def test_the_dagster_definitions_are_built_from_the_settings_they_are_given():
    from orchestration import definitions

    config = Settings.load({}, timezone="Europe/Amsterdam", as_of="2025-03-31T17:00:00Z", landing_dir="/srv/in")
    defs = definitions.build(config)
    assert defs.resolve_schedule_def("hourly_full_pipeline").execution_timezone == "Europe/Amsterdam"
    dbt = defs.resources["dbt"]
    assert (dbt.reporting_timezone, dbt.as_of, dbt.landing_dir) == (
        "Europe/Amsterdam",
        "2025-03-31T17:00:00+00:00",
        "/srv/in",
    )
    assert dbt.env(INFO)["LEAD_ANALYTICS_AS_OF"] == "2025-03-31T17:00:00+00:00"


def test_dagster_loading_the_definitions_without_the_cli_refuses_a_bad_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAD_ANALYTICS_")}
    env["LEAD_ANALYTICS_TIMEZONE"] = "Mars/Base"
    proc = subprocess.run(
        [sys.executable, "-c", "import orchestration.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "orchestration.settings.SettingError: LEAD_ANALYTICS_TIMEZONE='Mars/Base' is not an IANA time zone "
        "(e.g. America/Chicago, Europe/Amsterdam)"
    )


def test_load_parallelism_defaults_to_two_and_a_bad_value_is_one_line():
    assert Settings.load({}).load_parallelism == 2
    four = Settings.load({"LEAD_ANALYTICS_LOAD_PARALLELISM": "4"})
    assert four.load_parallelism == 4
    assert four.child_env({})["LEAD_ANALYTICS_LOAD_PARALLELISM"] == "4"
    for bad in ("0", "two", "65"):
        with pytest.raises(SettingError) as refused:
            Settings.load({"LEAD_ANALYTICS_LOAD_PARALLELISM": bad})
        assert str(refused.value) == (
            f"LEAD_ANALYTICS_LOAD_PARALLELISM={bad!r} is not a number of tables to load "
            "at once (1 to 64; unset it for 2)"
        )


def test_smtp_settings_are_validated_and_the_password_stays_out_of_the_repr():
    base = {
        "LEAD_ANALYTICS_SMTP_HOST": "smtp.example.com",
        "LEAD_ANALYTICS_SMTP_FROM": "reports@example.com",
        "LEAD_ANALYTICS_SMTP_USER": "reports",
        "LEAD_ANALYTICS_SMTP_PASSWORD": "pw-secret-1",
    }
    assert settings.Settings.load({}).smtp is None
    config = settings.Settings.load(base)
    assert (config.smtp.host, config.smtp.port, config.smtp.starttls) == ("smtp.example.com", 587, True)
    assert "pw-secret-1" not in repr(config)
    assert settings.Settings.load(config.child_env({})).smtp == config.smtp
    local = settings.Settings.load(
        {
            "LEAD_ANALYTICS_SMTP_HOST": "127.0.0.1",
            "LEAD_ANALYTICS_SMTP_PORT": "2525",
            "LEAD_ANALYTICS_SMTP_FROM": "r@example.com",
        }
    ).smtp
    assert (local.port, local.starttls) == (2525, False)
    with pytest.raises(settings.SettingError, match=r"^LEAD_ANALYTICS_SMTP_FROM='' must be an e-mail address"):
        settings.Settings.load({"LEAD_ANALYTICS_SMTP_HOST": "smtp.example.com"})
    with pytest.raises(settings.SettingError, match=r"^LEAD_ANALYTICS_SMTP_PORT='25x' is not a port number$"):
        settings.Settings.load({**base, "LEAD_ANALYTICS_SMTP_PORT": "25x"})
    with pytest.raises(settings.SettingError, match=r"^LEAD_ANALYTICS_SMTP_STARTTLS='yes' must be 1 or 0$"):
        settings.Settings.load({**base, "LEAD_ANALYTICS_SMTP_STARTTLS": "yes"})
