"""The ClickHouse warehouse: one facade over clickhouse-connect for chDB and servers alike."""

from analytics_engine.warehouse.client import QueryResult, Warehouse

__all__ = ["QueryResult", "Warehouse"]
