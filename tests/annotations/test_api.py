"""/v1/annotations: CRUD scoped to the tenant (another tenant's ids are 404), optional dashboard scope,
read-only keys refused, bad ranges 422; trend answers carry the tenant-wide annotations in range (and
a new one shows at once, cached answers included); dashboard renders add the dashboard's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.factories import events, make_tenant

DAY0 = (datetime.now(UTC) - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
TREND = {"series": [{"event": "signup"}], "interval": "day", "date_range": {"date_from": "-7d"}}


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    handle = make_tenant(client, admin_headers, "annotations-api")
    handle.ingest(events("signup", 20, start=DAY0, step=timedelta(hours=6)))
    return handle


def _dashboard(tenant) -> str:
    body = {
        "name": f"notes-{datetime.now(UTC).timestamp()}",
        "widgets": [{"title": "Signups", "viz": "line", "query": {"kind": "trends", **TREND}}],
    }
    response = tenant.post("/v1/dashboards", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_crud_and_errors(tenant, new_tenant):
    created = tenant.post(
        "/v1/annotations",
        json={"content": "Campaign", "date_from": DAY0.date().isoformat(), "date_to": DAY0.date().isoformat()},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["scope"] == "tenant" and body["dashboard_id"] is None
    assert body["date_from"].startswith(DAY0.date().isoformat())
    assert datetime.fromisoformat(body["date_to"]) - datetime.fromisoformat(body["date_from"]) == timedelta(days=1)
    annotation_id = body["id"]
    assert tenant.get(f"/v1/annotations/{annotation_id}").json()["content"] == "Campaign"
    changed = tenant.request(
        "PATCH", f"/v1/annotations/{annotation_id}", json={"content": "Campaign 2", "date_to": None}
    )
    assert (
        changed.status_code == 200 and changed.json()["date_to"] is None and changed.json()["content"] == "Campaign 2"
    )
    assert any(a["id"] == annotation_id for a in tenant.get("/v1/annotations").json())
    # errors
    bad_range = {"content": "x", "date_from": "2026-03-02", "date_to": "2026-03-01"}
    assert tenant.post("/v1/annotations", json=bad_range).status_code == 422
    assert tenant.post("/v1/annotations", json={"content": "", "date_from": "2026-03-02"}).status_code == 422
    assert (
        tenant.post("/v1/annotations", json={"content": "x", "date_from": "2026-03-02", "colour": 1}).status_code == 422
    )
    missing = tenant.post("/v1/annotations", json={"content": "x", "date_from": "2026-03-02", "dashboard_id": "dsh_x"})
    assert missing.status_code == 404
    assert tenant.request("PATCH", f"/v1/annotations/{annotation_id}", json={"content": None}).status_code == 422
    reader = new_tenant(scopes=("read",))
    assert reader.post("/v1/annotations", json={"content": "x", "date_from": "2026-03-02"}).status_code == 403
    other = new_tenant()
    assert other.get(f"/v1/annotations/{annotation_id}").status_code == 404
    assert other.request("DELETE", f"/v1/annotations/{annotation_id}").status_code == 404
    assert other.get("/v1/annotations").json() == []
    assert tenant.request("DELETE", f"/v1/annotations/{annotation_id}").status_code == 204
    assert tenant.get(f"/v1/annotations/{annotation_id}").status_code == 404


def test_trends_carry_annotations_in_range(tenant, new_tenant):
    first = tenant.post("/v1/insights/trends", json=TREND).json()  # cached from here on
    assert first["annotations"] == []
    moment = DAY0 + timedelta(days=2, hours=3)
    note = tenant.post("/v1/annotations", json={"content": "Launch", "date_from": moment.isoformat()}).json()
    old = tenant.post("/v1/annotations", json={"content": "Old", "date_from": "2020-01-01"}).json()
    answer = tenant.post("/v1/insights/trends", json=TREND).json()
    marks = answer["annotations"]
    assert [m["id"] for m in marks] == [note["id"]]
    assert marks[0]["bucket"] == moment.date().isoformat()
    assert marks[0]["bucket"] in [p["bucket"] for p in answer["series"][0]["points"]]
    # another tenant's trends never show it
    other = new_tenant()
    assert other.post("/v1/insights/trends", json=TREND).json()["annotations"] == []
    tenant.request("DELETE", f"/v1/annotations/{note['id']}")
    tenant.request("DELETE", f"/v1/annotations/{old['id']}")
    assert tenant.post("/v1/insights/trends", json=TREND).json()["annotations"] == []


def test_dashboard_annotations_on_its_render_only(tenant):
    mine, theirs = _dashboard(tenant), _dashboard(tenant)
    moment = (DAY0 + timedelta(days=1, hours=2)).isoformat()
    scoped = tenant.post("/v1/annotations", json={"content": "Board note", "date_from": moment, "dashboard_id": mine})
    assert scoped.status_code == 201 and scoped.json()["scope"] == "dashboard"
    wide = tenant.post("/v1/annotations", json={"content": "Everyone", "date_from": moment}).json()
    for _ in range(2):  # computed, then from the widget cache
        widget = tenant.get(f"/v1/dashboards/{mine}/render").json()["widgets"][0]
        assert sorted(m["content"] for m in widget["data"]["annotations"]) == ["Board note", "Everyone"]
    other = tenant.get(f"/v1/dashboards/{theirs}/render").json()["widgets"][0]
    assert [m["content"] for m in other["data"]["annotations"]] == ["Everyone"]
    listed = tenant.get("/v1/annotations", params={"dashboard_id": mine}).json()
    assert {a["content"] for a in listed} >= {"Board note", "Everyone"}
    only_dashboards = tenant.get("/v1/annotations", params={"scope": "dashboard"}).json()
    assert [a["content"] for a in only_dashboards] == ["Board note"]
    assert tenant.get("/v1/annotations", params={"dashboard_id": "dsh_nope"}).status_code == 404
    # deleting the dashboard deletes its notes
    assert tenant.request("DELETE", f"/v1/dashboards/{mine}").status_code == 204
    assert tenant.get(f"/v1/annotations/{scoped.json()['id']}").status_code == 404
    tenant.request("DELETE", f"/v1/annotations/{wide['id']}")


def test_a_render_reads_the_dashboard_notes_once_per_range(tenant, runtime, monkeypatch):
    """Three trend widgets on the dashboard's range and one on its own: a render (computed or cached)
    reads the dashboard's notes twice, not once per widget, and every widget still shows them."""
    week = {"kind": "trends", **TREND}
    fortnight = {**week, "date_range": {"date_from": "-14d"}}
    widgets = [
        {"title": f"w{i}", "viz": "line", "query": query} for i, query in enumerate([week, week, week, fortnight])
    ]
    board = tenant.post("/v1/dashboards", json={"name": "notes-once", "widgets": widgets}).json()["id"]
    moment = (DAY0 + timedelta(days=1, hours=5)).isoformat()
    tenant.post("/v1/annotations", json={"content": "Once", "date_from": moment, "dashboard_id": board})
    reads: list[tuple[datetime, datetime]] = []
    real = runtime.annotations.in_range

    def counted(tenant_id, start, end, **kwargs):
        if kwargs.get("only_dashboard"):
            reads.append((start, end))
        return real(tenant_id, start, end, **kwargs)

    monkeypatch.setattr(runtime.annotations, "in_range", counted)
    for render in ("computed", "cached"):
        reads.clear()
        answer = tenant.get(f"/v1/dashboards/{board}/render").json()
        assert all(w["cached"] is (render == "cached") for w in answer["widgets"]), render
        assert [[m["content"] for m in w["data"]["annotations"]] for w in answer["widgets"]] == [["Once"]] * 4
        assert len(reads) == 2 == len(set(reads)), (render, reads)
