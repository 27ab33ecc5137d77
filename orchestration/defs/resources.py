"""Dagster resources: the warehouse connection, resolved by `orchestration.warehouse`."""

from __future__ import annotations

from dagster import ConfigurableResource

from orchestration import warehouse


class WarehouseResource(ConfigurableResource):
    """Hands out psycopg connections to the configured warehouse (embedded unless
    LEAD_ANALYTICS_DATABASE_URL or PGHOST says otherwise)."""

    def info(self) -> warehouse.ConnectionInfo:
        return warehouse.ensure_running()

    def connect(self):
        return warehouse.connect(self.info())
