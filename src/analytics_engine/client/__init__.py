"""A Python client for the Analytics Engine HTTP API (httpx; no other part of the package is imported,
so it works against any server). docs/client.md.

    from analytics_engine.client import Client

    with Client("http://127.0.0.1:3008", key) as ae:
        ae.ingest(events)                                   # batched, client event ids, safe retries
        ae.trends(series=[{"event": "signup"}])             # any insight kind
        ae.export({"type": "events"}, "csv", to="exports/") # waits for the job, downloads the file
"""

from analytics_engine.client.client import Client, IngestSummary
from analytics_engine.client.errors import ApiError, JobFailed, WaitTimeout

__all__ = ["ApiError", "Client", "IngestSummary", "JobFailed", "WaitTimeout"]
