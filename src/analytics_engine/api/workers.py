"""`serve --workers N`: several API processes behind one port (docs/runbook.md, "API replicas").

Each worker is a whole replica: it builds its own runtime from the environment (`create_app` with no
arguments, uvicorn's factory mode), so everything the replicas share must live outside a process.
`shared_state_problems` names what would silently go wrong with more than one process on the given
settings; `serve` refuses to start such a set-up rather than serve stale or partial answers.
"""

from __future__ import annotations

from analytics_engine.config import Settings

# The import string uvicorn gives each worker process (factory mode: called with no arguments).
APP_FACTORY = "analytics_engine.api.app:create_app"


def shared_state_problems(settings: Settings) -> list[str]:
    """Why these settings cannot run several workers; empty when they can."""
    problems = []
    if str(settings.warehouse_dsn).startswith("chdb:"):
        problems.append(
            "the warehouse is embedded chDB, which one process per data folder may open: set "
            "ANALYTICS_WAREHOUSE_DSN to a ClickHouse server (http(s)://host:8123)"
        )
    if not str(settings.metadata_url or "").startswith("postgresql"):
        problems.append(
            "the metadata database is SQLite, a file each worker would lock for every write: set "
            "ANALYTICS_METADATA_URL to PostgreSQL"
        )
    if not settings.cache_url:
        problems.append(
            "the result cache is in-process: a worker would keep serving answers from before an insert "
            "that another worker took; set ANALYTICS_CACHE_URL to Redis"
        )
    if not settings.bus_url:
        problems.append(
            "the event bus is in-process: live dashboards on one worker would miss events ingested by "
            "another; set ANALYTICS_BUS_URL to NATS"
        )
    return problems
