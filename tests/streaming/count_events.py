"""Prints, as JSON, what the warehouse of ANALYTICS_DATA_DIR holds for a tenant (run in its own process:
chDB allows one data folder per process). `python tests/streaming/count_events.py <tenant_id>`."""

import json
import sys

from analytics_engine.config import Settings
from analytics_engine.warehouse.client import Warehouse

settings = Settings()
warehouse = Warehouse(str(settings.warehouse_dsn), settings.warehouse_database)
tenant = {"t": sys.argv[1]}
events = warehouse.table("events")
total, unique = warehouse.query(
    f"SELECT count(), uniqExact(event_id) FROM {events} WHERE tenant_id = {{t:String}}", tenant
).rows[0]
id_rows = warehouse.query(f"SELECT toString(event_id) FROM {events} WHERE tenant_id = {{t:String}}", tenant).rows
ids = [row[0] for row in id_rows]
rejected = warehouse.query(
    f"SELECT request_id, reason FROM {warehouse.table('rejected_events')} WHERE source = 'nats' ORDER BY request_id"
).rows
print(json.dumps({"count": total, "unique": unique, "ids": ids, "rejected": rejected}))
