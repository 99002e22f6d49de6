from __future__ import annotations

import pytest


def test_tenant_lifecycle(client, admin_headers):
    created = client.post(
        "/v1/admin/tenants", json={"name": "Lifecycle", "timezone": "Europe/Oslo"}, headers=admin_headers
    )
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["timezone"] == "Europe/Oslo"
    assert client.get(f"/v1/admin/tenants/{tenant['id']}", headers=admin_headers).json()["name"] == "Lifecycle"
    patched = client.patch(f"/v1/admin/tenants/{tenant['id']}", json={"timezone": "Asia/Tokyo"}, headers=admin_headers)
    assert patched.json()["timezone"] == "Asia/Tokyo"
    assert tenant["id"] in [t["id"] for t in client.get("/v1/admin/tenants", headers=admin_headers).json()]
    assert client.delete(f"/v1/admin/tenants/{tenant['id']}", headers=admin_headers).status_code == 204
    missing = client.get(f"/v1/admin/tenants/{tenant['id']}", headers=admin_headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_key_is_shown_once_and_stored_hashed(client, admin_headers, runtime, new_tenant):
    tenant = new_tenant()
    listed = client.get(f"/v1/admin/tenants/{tenant.id}/keys", headers=admin_headers).json()
    assert len(listed) == 1
    assert "key" not in listed[0]
    assert tenant.key.startswith(listed[0]["prefix"])
    from sqlalchemy import text

    with runtime.metadata.session() as session:
        stored = session.execute(
            text("SELECT key_hash FROM api_keys WHERE tenant_id = :t"), {"t": tenant.id}
        ).scalar_one()
    assert stored != tenant.key and len(stored) == 64


def test_revoked_key_is_refused(client, admin_headers, new_tenant):
    tenant = new_tenant()
    assert tenant.count() == 0
    key_id = client.get(f"/v1/admin/tenants/{tenant.id}/keys", headers=admin_headers).json()[0]["id"]
    assert client.delete(f"/v1/admin/tenants/{tenant.id}/keys/{key_id}", headers=admin_headers).status_code == 200
    refused = tenant.get("/v1/events/count")
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("scopes", "method", "path", "status"),
    [
        (("read",), "post", "/v1/events", 403),
        (("ingest",), "get", "/v1/events/count", 403),
        (("ingest",), "post", "/v1/events", 200),
        (("read",), "get", "/v1/events/count", 200),
        (("admin",), "get", "/v1/events/count", 200),
    ],
)
def test_scopes(new_tenant, scopes, method, path, status):
    tenant = new_tenant(scopes=scopes)
    kwargs = {"json": {"event": "x", "distinct_id": "u"}} if method == "post" else {}
    response = getattr(tenant.client, method)(path, headers=tenant.headers, **kwargs)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]["code"] == "forbidden"


def test_admin_routes_need_the_admin_key(client, new_tenant):
    tenant = new_tenant()
    assert client.get("/v1/admin/tenants", headers=tenant.headers).status_code == 401
    assert client.get("/v1/admin/tenants").status_code == 401


def test_admin_key_does_not_act_for_a_tenant(client, admin_headers):
    assert client.get("/v1/events/count", headers=admin_headers).status_code == 403


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "bad tz", "timezone": "Mars/Olympus"}, 422),
        ({"name": ""}, 422),
        ({"name": "x", "unknown": 1}, 422),
    ],
)
def test_invalid_tenant_bodies(client, admin_headers, body, status):
    response = client.post("/v1/admin/tenants", json=body, headers=admin_headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == "invalid_input"


def test_duplicate_tenant_name_conflicts(client, admin_headers):
    assert client.post("/v1/admin/tenants", json={"name": "twice"}, headers=admin_headers).status_code == 201
    again = client.post("/v1/admin/tenants", json={"name": "twice"}, headers=admin_headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_key_for_unknown_tenant_is_404(client, admin_headers):
    response = client.post("/v1/admin/tenants/tn_nope/keys", json={"scopes": ["read"]}, headers=admin_headers)
    assert response.status_code == 404


def test_deleting_a_tenant_removes_its_warehouse_data(client, admin_headers, runtime, new_tenant):
    doomed, kept = new_tenant(), new_tenant()
    doomed.ingest([{"event": "x", "distinct_id": "u1"}, {"event": "", "distinct_id": "u2"}])
    kept.ingest([{"event": "x", "distinct_id": "u1"}])
    assert client.delete(f"/v1/admin/tenants/{doomed.id}", headers=admin_headers).status_code == 204
    for table in ("events", "rejected_events", "event_ids"):
        remaining = runtime.warehouse.query(
            f"SELECT tenant_id, count() FROM {runtime.warehouse.table(table)} "
            "WHERE tenant_id IN {ids:Array(String)} GROUP BY tenant_id",
            {"ids": [doomed.id, kept.id]},
        ).rows
        assert doomed.id not in dict(remaining), table
    assert kept.count() == 1


def test_deleting_a_tenant_removes_its_stored_files(client, admin_headers, runtime, new_tenant, tmp_path):
    doomed, kept = new_tenant(), new_tenant()
    storage = runtime.storage
    for tenant in (doomed, kept):
        source = tmp_path / f"{tenant.id}.csv"
        source.write_text("a,b\n1,2\n")
        storage.put_file(tenant.id, "exports/file.csv", source)
    assert client.delete(f"/v1/admin/tenants/{doomed.id}", headers=admin_headers).status_code == 204
    assert storage.list(doomed.id) == []
    assert [item.key for item in storage.list(kept.id)] == ["exports/file.csv"]


def test_tenant_lifecycle_events_are_published(client, admin_headers, runtime):
    created = client.post("/v1/admin/tenants", json={"name": "announced"}, headers=admin_headers).json()
    client.delete(f"/v1/admin/tenants/{created['id']}", headers=admin_headers)
    published = [(e.type, e.tenant_id) for e in runtime.bus.published]
    assert ("tenant.created", created["id"]) in published
    assert ("tenant.deleted", created["id"]) in published
