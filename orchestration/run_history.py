"""Dagster's run history (the event log under `dagster_home/history/runs`), with one SQLite connection per file.

Dagster's SQLite event log opens an engine and a connection for every event it writes, and closing the connection
checkpoints the write-ahead log. A full run writes about 3,800 events (one per planned asset and check, one per
materialisation and check result), and that cost 26–32 s of the pipeline process's CPU, about 7 ms an event
(D206). This storage keeps one connection per database file (the run's, and the cross-run index) while the
process lives, and hands it out under a lock, to one user at a time, as Dagster's own storage does. The files,
their schema and everything Dagster reads from them are Dagster's: the UI, the daemon and a stock
`SqliteEventLogStorage` read them as before.

It is `dagster.yaml`'s `event_log_storage` (`orchestration.pipeline.dagster_home` writes it), so every process
that opens the instance (the CLI's runs, `lead-analytics ui`, the daemon) uses it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import StaticPool

# The UI opens the history of every run it shows; keep the connections of the most recent few.
OPEN_FILES = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose `run_connection` and `index_connection` (the two connections every read and
    write of `SqlEventLogStorage` goes through) reuse one connection per database file."""

    def __init__(self, base_dir: str, inst_data=None):
        # before Dagster's __init__, which already reads and writes the index when it creates it
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._pool_lock = threading.Lock()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is None:
            # Dagster's own connection creates the file and its tables the first time (and stamps their version).
            opening = super().index_connection() if shard == INDEX_SHARD_NAME else super().run_connection(shard)
            with opening:
                pass
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,
                # Dagster's wait for another process's lock; one thread at a time uses the connection (_pooled's lock)
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            self._engines[shard] = engine
            while len(self._engines) > OPEN_FILES:
                self._engines.popitem(last=False)[1].dispose()
        self._engines.move_to_end(shard)
        return engine

    @contextmanager
    def _pooled(self, shard: str) -> Iterator[Connection]:
        with self._pool_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def run_connection(self, run_id: str | None = None):
        return self._pooled(run_id)  # type: ignore[arg-type]  # None fails in Dagster's own check, as before

    def index_connection(self):
        return self._pooled(INDEX_SHARD_NAME)

    def dispose(self) -> None:
        with self._pool_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()
        super().dispose()
