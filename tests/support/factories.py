"""Declarative builders: tenants with keys, and events, through the real API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient


@dataclass
class TenantHandle:
    id: str
    name: str
    key: str
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def ingest(self, events: list[dict[str, Any]] | dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = self.client.post("/v1/events", json=events, headers=self.headers, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def count(self, **params: Any) -> int:
        response = self.get("/v1/events/count", params=params)
        assert response.status_code == 200, response.text
        return response.json()["count"]


def make_tenant(
    client: TestClient,
    admin_headers: dict[str, str],
    name: str,
    *,
    timezone: str = "UTC",
    scopes: tuple[str, ...] = ("ingest", "read", "admin"),
) -> TenantHandle:
    tenant = client.post("/v1/admin/tenants", json={"name": name, "timezone": timezone}, headers=admin_headers)
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    key = client.post(f"/v1/admin/tenants/{tenant_id}/keys", json={"scopes": list(scopes)}, headers=admin_headers)
    assert key.status_code == 201, key.text
    return TenantHandle(tenant_id, name, key.json()["key"], client)


def events(
    name: str,
    count: int,
    *,
    users: int = 1,
    start: datetime | None = None,
    step: timedelta = timedelta(minutes=1),
    **properties: Any,
) -> list[dict[str, Any]]:
    """`count` events called `name`, spread over `users` users, one `step` apart."""
    start = start or datetime.now(UTC) - timedelta(days=1)
    return [
        {
            "event": name,
            "distinct_id": f"u{i % users}",
            "timestamp": (start + i * step).isoformat(),
            "properties": dict(properties),
        }
        for i in range(count)
    ]
