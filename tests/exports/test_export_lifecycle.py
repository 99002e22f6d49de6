"""Export lifecycle through the API: tenant isolation of exports and download links, cancel and
remove, validation errors, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from analytics_engine.metadata.models import Job
from tests.exports.helpers import fill_events, wait_export


@pytest.fixture(scope="module")
def pair(client, admin_headers, runtime):  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    a = make_tenant(client, admin_headers, "export-a")
    b = make_tenant(client, admin_headers, "export-b")
    fill_events(runtime, a.id, 5_000)
    fill_events(runtime, b.id, 3_000)
    return a, b


def export(handle, fmt="csv", **source):  # type: ignore[no-untyped-def]
    response = handle.post("/v1/exports", json={"source": {"type": "events", **source}, "format": fmt})
    assert response.status_code == 202, response.text
    return wait_export(handle, response.json()["id"])


def test_each_tenant_exports_only_its_rows(pair, client) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    status_a, status_b = export(a), export(b)
    assert status_a["rows_written"] == 5_000 and status_b["rows_written"] == 3_000
    body = client.get(status_a["download_url"]).content
    assert body.count(b"\n") == 5_001  # header + rows; no row of tenant b
    # another tenant cannot see, download or delete the export
    assert b.get(f"/v1/exports/{status_a['id']}").status_code == 404
    assert b.request("DELETE", f"/v1/exports/{status_a['id']}").status_code == 404
    assert [e["id"] for e in b.get("/v1/exports").json()] == [status_b["id"]]


def _tamper(url: str, **changes: str) -> str:
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    path = parsed.path
    if "tenant" in changes:
        parts = path.split("/")
        parts[3] = changes.pop("tenant")
        path = "/".join(parts)
    if "key" in changes:
        path = path.rsplit("/", 1)[0] + "/" + changes.pop("key")
    query.update(changes)
    return f"{path}?{urlencode(query)}"


def test_tampered_expired_and_other_tenant_links_are_403(pair, client, runtime) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    status_a, status_b = export(a), export(b)
    url = status_a["download_url"]
    assert client.get(url).status_code == 200
    sig = parse_qs(urlparse(url).query)["signature"][0]
    cases = {
        "other tenant": _tamper(url, tenant=b.id),
        # keys are exports/<export id>/<name>: b's file under a's signature
        "other file": url.replace(f"/exports/{status_a['id']}/", f"/exports/{status_b['id']}/"),
        "later expiry": _tamper(url, expires=str(int(datetime.now(UTC).timestamp()) + 999_999)),
        "flipped signature": _tamper(url, signature=("0" if sig[0] != "0" else "1") + sig[1:]),
        "no signature": url.split("?")[0],
        "escape attempt": _tamper(url, key="..%2F..%2Fmeta.db"),
    }
    for name, bad in cases.items():
        response = client.get(bad)
        assert response.status_code == 403, (name, response.status_code, response.text)
        assert response.json()["error"]["code"] in ("bad_signature", "forbidden"), name
    # b's own link works, but for b's file only
    assert client.get(status_b["download_url"]).status_code == 200
    # an expired link: signed in the past

    path = urlparse(url).path
    key = path.split("/", 4)[4]
    old = runtime.storage.signer.sign(a.id, key, 10, now=datetime.now(UTC).timestamp() - 60)
    response = client.get(old)
    assert response.status_code == 403 and response.json()["error"]["code"] == "link_expired"


def test_delete_removes_file_and_record(pair, client) -> None:  # type: ignore[no-untyped-def]
    a, _ = pair
    status = export(a, fmt="ndjson")
    url = status["download_url"]
    response = a.request("DELETE", f"/v1/exports/{status['id']}")
    assert response.status_code == 204 and response.headers["x-export-outcome"] == "removed"
    assert a.get(f"/v1/exports/{status['id']}").status_code == 404
    assert client.get(url).status_code == 404  # the signature is fine, the file is gone


def test_cancel_a_queued_export(pair, runtime) -> None:  # type: ignore[no-untyped-def]
    a, _ = pair
    workers = runtime.runner
    workers.paused = True  # no worker picks it up while we cancel
    try:
        job = a.post("/v1/exports", json={"source": {"type": "events"}, "format": "csv"}).json()
        response = a.request("DELETE", f"/v1/exports/{job['id']}")
        assert response.status_code == 204 and response.headers["x-export-outcome"] == "cancelled"
        assert a.get(f"/v1/exports/{job['id']}").json()["status"] == "cancelled"
    finally:
        workers.paused = False


def test_expired_export(pair, runtime, client) -> None:  # type: ignore[no-untyped-def]
    a, _ = pair
    status = export(a)
    url = status["download_url"]
    with runtime.metadata.session() as session:
        job = session.get(Job, status["id"])
        job.result = {**job.result, "expires_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    assert a.get(f"/v1/exports/{status['id']}").json()["status"] == "expired"
    assert runtime.exports.cleanup_expired() >= 1
    after = a.get(f"/v1/exports/{status['id']}").json()
    assert after["status"] == "expired" and after["download_url"] is None
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"source": {"type": "events", "columns": ["nope"]}, "format": "csv"},
        {"source": {"type": "events", "columns": ["properties.a`b"]}, "format": "csv"},
        {"source": {"type": "events"}, "format": "pdf"},
        {"source": {"type": "sql", "sql": "SELECT 1"}, "format": "csv"},
        {"source": {"type": "events", "start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}},
        {"source": {"type": "events", "where": [{"property": "x'; DROP", "value": 1}]}},
    ],
)
def test_bad_requests_are_4xx(pair, body) -> None:  # type: ignore[no-untyped-def]
    a, _ = pair
    response = a.post("/v1/exports", json=body)
    assert response.status_code in (400, 422), response.text
    assert "error" in response.json()
