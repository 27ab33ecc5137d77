"""Shared fixtures: one embedded PostgreSQL for the whole test session (or the external one the
environment configures), and a fresh database per test that asks for one."""
from __future__ import annotations

import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from orchestration import warehouse


@pytest.fixture(scope="session")
def warehouse_info(tmp_path_factory) -> warehouse.ConnectionInfo:
    started_here = False
    if not warehouse.is_external():
        os.environ["LEAD_ANALYTICS_HOME"] = str(tmp_path_factory.mktemp("home"))
        started_here = True
    info = warehouse.ensure_running()
    yield info
    if started_here:
        warehouse.stop()


@pytest.fixture
def fresh_db(warehouse_info) -> warehouse.ConnectionInfo:
    """A new, empty database on the test warehouse; dropped afterwards."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:10]}"
    admin = replace(warehouse_info, dbname="postgres")
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    info = replace(warehouse_info, dbname=name)
    yield info
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def landing(tmp_path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path
