"""The one guard for every outgoing HTTP call the service makes (report webhooks now, alert channels
later): `outgoing_client()` / `async_outgoing_client()` refuse internal addresses at connect time."""

from analytics_engine.net.guard import (
    OutgoingPolicy,
    UrlNotAllowed,
    async_outgoing_client,
    check_url,
    outgoing_client,
)

__all__ = ["OutgoingPolicy", "UrlNotAllowed", "async_outgoing_client", "check_url", "outgoing_client"]
