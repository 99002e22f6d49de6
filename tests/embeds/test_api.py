"""Embed tokens: a token shows one dashboard (or one insight) of one tenant, with its locked filters
always applied (a viewer's filters only narrow, a locked period cannot be changed); it cannot reach
another dashboard or another tenant (forged, moved or tampered tokens are 401); revocation and expiry
end it; creating, listing and revoking need the tenant's key (admin to write)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.support.factories import make_tenant

START = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0)
TREND = {"kind": "trends", "series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-7d"}}
ACME = {"key": "company", "operator": "eq", "value": "acme"}


def _signups(company: str, count: int, user: str) -> list[dict[str, object]]:
    return [
        {
            "event": "signup",
            "distinct_id": f"{user}{i}",
            "timestamp": (START + timedelta(minutes=i)).isoformat(),
            "properties": {"company": company, "plan": "pro" if i % 2 else "free"},
        }
        for i in range(count)
    ]


def _dashboard(handle, name: str) -> str:
    body = {"name": name, "widgets": [{"title": "Signups", "viz": "line", "query": TREND}]}
    response = handle.post("/v1/dashboards", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def tenants(client, admin_headers):
    a = make_tenant(client, admin_headers, "embeds-a")
    b = make_tenant(client, admin_headers, "embeds-b")
    a.ingest(_signups("acme", 7, "a") + _signups("globex", 5, "g"))
    b.ingest(_signups("acme", 11, "b"))
    return a, b, _dashboard(a, "shared"), _dashboard(a, "private"), _dashboard(b, "theirs")


def _total(view: dict) -> float:
    data = view["dashboard"]["widgets"][0]["data"] if view["kind"] == "dashboard" else view["insight"]
    return float(data["series"][0]["total"])


def _create(handle, **body):
    response = handle.post("/v1/embeds", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_dashboard_embed_with_locked_filters(client, tenants):
    a, _, shared, _, _ = tenants
    created = _create(a, dashboard_id=shared, locked={"properties": [ACME]}, expires_in_seconds=3600)
    assert created["status"] == "active" and created["title"] == "shared"
    assert created["url"] == f"/embed/{created['token']}"
    view = client.get(created["data_url"])  # no key: the token is the credential
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["kind"] == "dashboard" and _total(body) == 7  # acme only, never globex nor tenant b
    # a viewer's filters are added (narrowing), never replacing the locked ones
    narrower = client.get(
        created["data_url"], params={"properties": orjson.dumps([{**ACME, "value": "globex"}]).decode()}
    )
    assert _total(narrower.json()) == 0
    pro = client.get(
        created["data_url"], params={"properties": orjson.dumps([{"key": "plan", "value": "pro"}]).decode()}
    )
    assert _total(pro.json()) == 3
    weekly = client.get(created["data_url"], params={"interval": "week", "date_from": "-30d"})
    assert weekly.status_code == 200 and weekly.json()["dashboard"]["widgets"][0]["data"]["interval"] == "week"
    assert client.get(created["data_url"], params={"properties": "not json"}).status_code == 422
    # the page
    page = client.get(created["url"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["referrer-policy"] == "no-referrer"
    # listing shows it without the token
    listed = a.get("/v1/embeds", params={"dashboard_id": shared}).json()
    assert [e["id"] for e in listed] == [created["id"]] and "token" not in listed[0]


def test_locked_period_and_insight_embed(client, tenants):
    a, _, shared, _, _ = tenants
    locked = _create(a, dashboard_id=shared, locked={"date_from": "-2d", "properties": [ACME]})
    refused = client.get(locked["data_url"], params={"date_from": "-90d"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "locked_filter"
    data = client.get(locked["data_url"]).json()["dashboard"]["widgets"][0]["data"]
    assert len(data["series"][0]["points"]) == 3  # the locked two days back (and today), not the widget's 7
    insight = _create(
        a, insight={**TREND, "breakdown": [{"type": "property", "property": "plan"}]}, locked={"properties": [ACME]}
    )
    assert insight["kind"] == "insight" and insight["dashboard_id"] is None
    answer = client.get(insight["data_url"]).json()
    assert sorted(s["total"] for s in answer["insight"]["series"]) == [3, 4]
    assert a.post("/v1/embeds", json={"insight": {"kind": "nope"}}).status_code == 422
    both = a.post("/v1/embeds", json={"insight": TREND, "dashboard_id": shared})
    assert both.status_code == 422
    assert a.post("/v1/embeds", json={"insight": TREND, "locked": {"timezone": "Mars/Base"}}).status_code == 422
    assert a.post("/v1/embeds", json={"insight": TREND, "locked": {"cohort_id": "coh_x"}}).status_code == 404


def test_token_cannot_reach_another_dashboard_or_tenant(client, tenants, new_tenant):
    a, b, shared, private, theirs = tenants
    assert a.post("/v1/embeds", json={"dashboard_id": theirs}).status_code == 404  # b's dashboard
    mine = _create(a, dashboard_id=shared)
    other = _create(b, dashboard_id=theirs)
    token_id, expires, signature = mine["token"].split(".")
    other_id, other_expires, other_signature = other["token"].split(".")
    # a's signature on b's token id (or with b's expiry), a's id with b's signature: all refused
    for forged in (
        f"{other_id}.{expires}.{signature}",
        f"{other_id}.{other_expires}.{signature}",
        f"{token_id}.{other_expires}.{other_signature}",
        f"{token_id}.{int(expires) + 3600}.{signature}",
        f"{token_id}.{expires}.{signature[:-2]}AA",
        "garbage",
        f"{token_id}.{expires}",
    ):
        response = client.get(f"/v1/embed/{forged}")
        assert response.status_code == 401, forged
        assert response.json()["error"]["code"] == "invalid_token"
    # the token shows its dashboard only: its answer names it, and holds a's figures only
    view = client.get(mine["data_url"]).json()
    assert view["dashboard"]["dashboard_id"] == shared != private and _total(view) == 12
    assert _total(client.get(other["data_url"]).json()) == 11
    # b's key sees neither a's embeds nor can revoke them; a reader cannot create
    assert b.get(f"/v1/embeds/{mine['id']}").status_code == 404
    assert b.request("DELETE", f"/v1/embeds/{mine['id']}").status_code == 404
    assert all(e["id"] != mine["id"] for e in b.get("/v1/embeds").json())
    reader = new_tenant(scopes=("read",))
    assert reader.post("/v1/embeds", json={"insight": TREND}).status_code == 403
    # a tenant key is not an embed token, and an embed token is not a key
    assert client.get(f"/v1/embed/{a.key}").status_code == 401
    assert client.get("/v1/dashboards", headers={"Authorization": f"Bearer {mine['token']}"}).status_code == 401


def test_revocation_expiry_and_deleted_dashboard(client, runtime, tenants):
    a, _, _, _, _ = tenants
    board = _dashboard(a, "short-lived")
    created = _create(a, dashboard_id=board, expires_in_seconds=60)
    assert client.get(created["data_url"]).status_code == 200
    # expiry: the same token a minute later
    later = datetime.now(UTC) + timedelta(seconds=61)
    with pytest.raises(Exception) as expired:
        runtime.embeds.check(created["token"], now=later)
    assert getattr(expired.value, "code", None) == "embed_expired"
    assert runtime.embeds.check(created["token"]).id == created["id"]
    # revocation
    assert a.request("DELETE", f"/v1/embeds/{created['id']}").status_code == 204
    revoked = client.get(created["data_url"])
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "embed_revoked"
    assert a.get(f"/v1/embeds/{created['id']}").json()["status"] == "revoked"
    # a deleted dashboard: its token answers 404
    again = _create(a, dashboard_id=board)
    assert a.request("DELETE", f"/v1/dashboards/{board}").status_code == 204
    assert client.get(again["data_url"]).status_code == 404
    assert a.post("/v1/embeds", json={"dashboard_id": board}).status_code == 404
    assert a.post("/v1/embeds", json={"insight": TREND, "expires_in_seconds": 10}).status_code == 422
