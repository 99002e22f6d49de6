"""The metric registry through the API: versions, deprecation, catalog, visibility, platform metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.factories import events

PAGEVIEWS = {"kind": "trends", "series": [{"event": "pageview", "math": "total"}], "interval": "day"}
SIGNUPS = {"kind": "trends", "series": [{"event": "signup", "math": "total"}], "interval": "day"}


def metric_body(name: str, query: dict = PAGEVIEWS, **extra: object) -> dict:
    return {"name": name, "query": query, "dimensions": ["plan"], "unit": "views", "owner": "web", **extra}


def total(answer: dict) -> float:
    return sum(point["value"] or 0 for series in answer["result"]["series"] for point in series["points"])


def test_create_version_and_read_old_versions(new_tenant) -> None:
    tenant = new_tenant()
    created = tenant.post("/v1/metrics", json=metric_body("Pageviews"))
    assert created.status_code == 201, created.text
    metric = created.json()
    assert metric["version"] == 1 and metric["scope"] == "tenant" and not metric["deprecated"]
    assert metric["definition"]["query"]["kind"] == "trends"
    assert metric["definition"]["dimensions"] == ["plan"]

    changed = tenant.request(
        "PUT", f"/v1/metrics/{metric['id']}", json={**metric_body("Pageviews"), "query": SIGNUPS, "unit": "signups"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["definition"]["unit"] == "signups"

    first = tenant.get(f"/v1/metrics/{metric['id']}/versions/1").json()
    second = tenant.get(f"/v1/metrics/{metric['id']}/versions/2").json()
    assert first["definition"]["query"]["series"][0]["event"] == "pageview"
    assert first["definition"]["unit"] == "views"
    assert second["definition"]["query"]["series"][0]["event"] == "signup"
    assert tenant.get(f"/v1/metrics/{metric['id']}/versions/3").status_code == 404
    assert tenant.get(f"/v1/metrics/{metric['id']}").json()["version"] == 2


def test_bad_definitions_are_422_and_names_unique(new_tenant) -> None:
    tenant = new_tenant()
    bad_kind = tenant.post("/v1/metrics", json=metric_body("X", {"kind": "nope"}))
    assert bad_kind.status_code == 422
    bad_math = tenant.post(
        "/v1/metrics", json=metric_body("Y", {"kind": "trends", "series": [{"event": "a", "math": "sum"}]})
    )
    assert bad_math.status_code == 422
    assert bad_math.json()["error"]["code"] == "invalid_input"
    assert tenant.post("/v1/metrics", json=metric_body("Same")).status_code == 201
    assert tenant.post("/v1/metrics", json=metric_body("Same")).status_code == 409


def test_scopes(new_tenant) -> None:
    reader = new_tenant(scopes=("read",))
    assert reader.post("/v1/metrics", json=metric_body("Nope")).status_code == 403
    assert reader.get("/v1/metrics").status_code == 200


def test_query_with_dimensions_filters_and_time_range(new_tenant) -> None:
    tenant = new_tenant()
    start = datetime.now(UTC) - timedelta(days=2)
    tenant.ingest(events("pageview", 6, users=3, start=start, plan="pro"))
    tenant.ingest(events("pageview", 4, users=2, start=start, plan="free"))
    tenant.ingest(events("pageview", 5, users=1, start=datetime.now(UTC) - timedelta(days=40), plan="pro"))
    metric = tenant.post("/v1/metrics", json=metric_body("Views")).json()

    week = tenant.post(f"/v1/metrics/{metric['id']}/query", json={"time_range": {"from": "-7d"}})
    assert week.status_code == 200, week.text
    assert total(week.json()) == 10
    assert week.json()["version"] == 1 and week.json()["warning"] is None

    quarter = tenant.post(f"/v1/metrics/{metric['id']}/query", json={"time_range": {"from": "-90d"}}).json()
    assert total(quarter) == 15

    pro = tenant.post(
        f"/v1/metrics/{metric['id']}/query",
        json={"time_range": {"from": "-7d"}, "filters": [{"key": "plan", "operator": "eq", "value": "pro"}]},
    ).json()
    assert total(pro) == 6

    by_plan = tenant.post(
        f"/v1/metrics/{metric['id']}/query", json={"time_range": {"from": "-7d"}, "dimensions": ["plan"]}
    ).json()
    per_plan = {
        tuple(s["breakdown_value"] or []): sum(p["value"] or 0 for p in s["points"])
        for s in by_plan["result"]["series"]
    }
    assert per_plan == {("pro",): 6, ("free",): 4}

    refused = tenant.post(f"/v1/metrics/{metric['id']}/query", json={"dimensions": ["country"]})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["allowed_dimensions"] == ["plan"]


def test_deprecation(new_tenant) -> None:
    tenant = new_tenant()
    old = tenant.post("/v1/metrics", json=metric_body("Old views")).json()
    new = tenant.post("/v1/metrics", json=metric_body("New views")).json()
    deprecated = tenant.post(
        f"/v1/metrics/{old['id']}/deprecate", json={"message": "counts bots", "replaced_by": new["id"]}
    )
    assert deprecated.status_code == 200, deprecated.text
    assert deprecated.headers["Deprecation"].startswith("@")
    body = deprecated.json()
    assert body["deprecated"] and "counts bots" in body["warning"] and new["id"] in body["warning"]

    # still answers, with the header and a warning
    answer = tenant.post(f"/v1/metrics/{old['id']}/query", json={})
    assert answer.status_code == 200
    assert "Deprecation" in answer.headers
    assert "deprecated" in answer.json()["warning"]
    assert "Deprecation" in tenant.get(f"/v1/metrics/{old['id']}").headers
    assert "Deprecation" not in tenant.get(f"/v1/metrics/{new['id']}").headers

    # catalog shows it (or hides it on request)
    names = {m["name"] for m in tenant.get("/v1/metrics").json()}
    assert {"Old views", "New views"} <= names
    active = {m["name"] for m in tenant.get("/v1/metrics", params={"include_deprecated": "false"}).json()}
    assert "Old views" not in active and "New views" in active

    # cannot be put on a new widget
    dashboard = tenant.post("/v1/dashboards", json={"name": "D"}).json()
    refused = tenant.post(
        f"/v1/dashboards/{dashboard['id']}/widgets", json={"title": "w", "viz": "line", "metric_id": old["id"]}
    )
    assert refused.status_code == 422
    assert "deprecated" in refused.json()["error"]["message"]


def test_tenant_isolation_and_platform_metrics(client, new_tenant, admin_headers) -> None:
    alpha, beta = new_tenant(), new_tenant()
    alpha.ingest(events("signup", 3, users=3))
    beta.ingest(events("signup", 7, users=7))
    private = alpha.post("/v1/metrics", json=metric_body("Alpha only", SIGNUPS)).json()
    assert beta.get(f"/v1/metrics/{private['id']}").status_code == 404
    assert beta.post(f"/v1/metrics/{private['id']}/query", json={}).status_code == 404
    assert private["id"] not in {m["id"] for m in beta.get("/v1/metrics").json()}

    # a platform metric: the admin defines it, every tenant sees it and computes it on its own data
    assert alpha.post("/v1/admin/metrics", json=metric_body("x")).status_code == 401
    created = client.post("/v1/admin/metrics", json=metric_body("Platform signups", SIGNUPS), headers=admin_headers)
    assert created.status_code == 201, created.text
    platform = created.json()
    assert platform["scope"] == "platform"
    for handle, expected in ((alpha, 3), (beta, 7)):
        assert platform["id"] in {m["id"] for m in handle.get("/v1/metrics").json()}
        answer = handle.post(f"/v1/metrics/{platform['id']}/query", json={"time_range": {"from": "-7d"}})
        assert answer.status_code == 200, answer.text
        assert total(answer.json()) == expected == handle.count(event="signup")
    # tenants cannot change it; the admin can (a new version) and deprecate it
    assert alpha.request("PUT", f"/v1/metrics/{platform['id']}", json=metric_body("Hijack")).status_code == 403
    assert alpha.post(f"/v1/metrics/{platform['id']}/deprecate").status_code == 403
    updated = client.put(
        f"/v1/admin/metrics/{platform['id']}",
        json=metric_body("Platform signups", SIGNUPS, unit="people"),
        headers=admin_headers,
    )
    assert updated.status_code == 200 and updated.json()["version"] == 2
    assert alpha.get(f"/v1/metrics/{platform['id']}/versions/1").json()["definition"]["unit"] == "views"
    listed = client.get("/v1/admin/metrics", headers=admin_headers).json()
    assert platform["id"] in {m["id"] for m in listed} and private["id"] not in {m["id"] for m in listed}
