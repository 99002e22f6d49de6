"""Cohorts through the HTTP API: CRUD, static cohorts, evaluation jobs, the bus event, tenant isolation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.support.factories import events

NOW = datetime.now(UTC).replace(microsecond=0)


def wait_job(tenant, job_id: str, timeout: float = 30.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        job = tenant.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def buyers_definition(count: int = 2) -> dict:
    return {
        "type": "group",
        "operator": "and",
        "criteria": [
            {"type": "event", "event": "purchase", "operator": "at_least", "count": count, "window": {"last_days": 7}}
        ],
    }


def seed(tenant) -> None:  # type: ignore[no-untyped-def]
    start = NOW - timedelta(days=2)
    tenant.ingest(
        events("purchase", 6, users=3, start=start, plan="pro")  # u0, u1, u2 buy twice each
        + events("purchase", 1, users=1, start=start)  # u0 a third time
        + events("pageview", 8, users=4, start=start)  # u3 only views
    )


def test_dynamic_cohort_crud_evaluate_and_event(client, new_tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    seed(tenant)
    created = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": buyers_definition(3)})
    assert created.status_code == 201, created.text
    cohort = created.json()
    assert cohort["kind"] == "dynamic" and cohort["current_version"] == 0

    response = tenant.post(f"/v1/cohorts/{cohort['id']}/evaluate")
    assert response.status_code == 202, response.text
    job = wait_job(tenant, response.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["kind"] == "cohort.evaluate"
    assert job["result"]["size"] == 1 and job["result"]["joined"] == 1 and job["result"]["left"] == 0

    members = tenant.get(f"/v1/cohorts/{cohort['id']}/members").json()
    assert members["distinct_ids"] == ["u0"] and members["version"] == 1

    published = [
        e for e in runtime.bus.published if e.type == "cohort.evaluated" and e.data["cohort_id"] == cohort["id"]
    ]
    assert published and published[-1].data["size"] == 1 and published[-1].tenant_id == tenant.id
    assert published[-1].subject == "analytics.cohort.evaluated.v1"

    # change the definition: two purchases are enough now -> u1 and u2 join
    patched = tenant.request("PATCH", f"/v1/cohorts/{cohort['id']}", json={"definition": buyers_definition(2)})
    assert patched.status_code == 200, patched.text
    job = wait_job(tenant, tenant.post(f"/v1/cohorts/{cohort['id']}/evaluate").json()["id"])
    assert job["result"] | {"duration_ms": 0, "analysis_ms": 0} == {
        "cohort_id": cohort["id"],
        "version": 2,
        "previous_version": 1,
        "size": 3,
        "joined": 2,
        "left": 0,
        "duration_ms": 0,
        "analysis_ms": 0,
        "trigger": "api",
    }
    got = tenant.get(f"/v1/cohorts/{cohort['id']}").json()
    assert got["current_version"] == 2 and got["size"] == 3
    versions = tenant.get(f"/v1/cohorts/{cohort['id']}/versions").json()
    assert [v["version"] for v in versions] == [2, 1] and all(v["state"] == "complete" for v in versions)

    listed = tenant.get("/v1/cohorts").json()
    assert [c["id"] for c in listed] == [cohort["id"]]
    assert tenant.request("DELETE", f"/v1/cohorts/{cohort['id']}").status_code == 204
    assert tenant.get(f"/v1/cohorts/{cohort['id']}").status_code == 404


def test_static_cohort_json_csv_and_multipart_with_unknown_ids(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    seed(tenant)
    made = tenant.post(
        "/v1/cohorts", json={"name": "vip", "kind": "static", "distinct_ids": ["u1", "nobody-1", "u1", " "]}
    )
    assert made.status_code == 201, made.text
    assert made.json()["size"] == 2 and made.json()["current_version"] == 1
    members = tenant.get(f"/v1/cohorts/{made.json()['id']}/members").json()
    assert members["distinct_ids"] == ["nobody-1", "u1"]

    csv_body = "email,distinct_id\na@x,u2\nb@x,ghost\n\n"
    csv_made = tenant.post(
        "/v1/cohorts/static", params={"name": "csv"}, content=csv_body, headers={"Content-Type": "text/csv"}
    )
    assert csv_made.status_code == 201, csv_made.text
    csv_id = csv_made.json()["id"]
    assert tenant.get(f"/v1/cohorts/{csv_id}/members").json()["distinct_ids"] == ["ghost", "u2"]

    upload = tenant.post(
        "/v1/cohorts/static", params={"name": "upload"}, files={"file": ("m.csv", b"u0\nu3\nzed\n", "text/csv")}
    )
    assert upload.status_code == 201, upload.text
    assert upload.json()["size"] == 3

    listed = tenant.post("/v1/cohorts/static", params={"name": "json-list"}, json=["u0", "who"])
    assert listed.status_code == 201 and listed.json()["size"] == 2

    replaced = tenant.request("PUT", f"/v1/cohorts/{csv_id}/members", json=["u3"])
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["current_version"] == 2 and replaced.json()["size"] == 1
    assert tenant.get(f"/v1/cohorts/{csv_id}/members").json()["distinct_ids"] == ["u3"]

    # a dynamic cohort built on the static one: unknown ids are simply not persons
    dyn = tenant.post(
        "/v1/cohorts",
        json={
            "name": "vip buyers",
            "definition": {
                "type": "group",
                "operator": "and",
                "criteria": [
                    {"type": "cohort", "cohort_id": made.json()["id"]},
                    {"type": "event", "event": "purchase"},
                ],
            },
        },
    ).json()
    assert tenant.get(f"/v1/cohorts/{dyn['id']}/members").json()["distinct_ids"] == ["u1"]

    bad = tenant.post("/v1/cohorts/static", params={"name": "bad"}, content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"


def test_other_tenant_cohort_is_404_everywhere(new_tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    owner, other = new_tenant(), new_tenant()
    cohort = owner.post("/v1/cohorts", json={"name": "mine", "kind": "static", "distinct_ids": ["a"]}).json()
    path = f"/v1/cohorts/{cohort['id']}"
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/evaluate"),
        ("GET", "/members"),
        ("GET", "/versions"),
        ("GET", "/analysis"),
        ("PUT", "/members"),
    ]:
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {"json": ["b"]} if method == "PUT" else {}
        response = other.request(method, path + suffix, **kwargs)
        assert response.status_code == 404, (method, suffix, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert other.get("/v1/persons", params={"cohort_id": cohort["id"]}).status_code == 404
    # referencing it from another tenant's definition is refused as unknown
    ref = other.post(
        "/v1/cohorts",
        json={
            "name": "r",
            "definition": {"type": "group", "criteria": [{"type": "cohort", "cohort_id": cohort["id"]}]},
        },
    )
    assert ref.status_code == 422 and ref.json()["error"]["code"] == "unknown_cohort"
    # no job was created for the refused evaluation
    assert other.get("/v1/jobs", params={"kind": "cohort.evaluate"}).json() == []
    assert owner.get(path).status_code == 200


def test_cycles_are_refused_and_in_use_cohorts_cannot_be_deleted(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    base = {"type": "group", "criteria": [{"type": "event", "event": "x"}]}
    a = tenant.post("/v1/cohorts", json={"name": "a", "definition": base}).json()

    def ref(target: str) -> dict:
        return {"type": "group", "operator": "or", "criteria": [{"type": "cohort", "cohort_id": target}]}

    b = tenant.post("/v1/cohorts", json={"name": "b", "definition": ref(a["id"])}).json()
    c = tenant.post("/v1/cohorts", json={"name": "c", "definition": ref(b["id"])}).json()
    loop = tenant.request("PATCH", f"/v1/cohorts/{a['id']}", json={"definition": ref(c["id"])})
    assert loop.status_code == 422, loop.text
    error = loop.json()["error"]
    assert error["code"] == "cohort_cycle"
    assert error["details"]["cycle"] == [a["id"], c["id"], b["id"], a["id"]]
    assert "cycle" in error["message"]
    itself = tenant.request("PATCH", f"/v1/cohorts/{a['id']}", json={"definition": ref(a["id"])})
    assert itself.status_code == 422 and itself.json()["error"]["code"] == "cohort_cycle"

    in_use = tenant.request("DELETE", f"/v1/cohorts/{a['id']}")
    assert in_use.status_code == 409 and in_use.json()["error"]["details"]["used_by"] == ["b"]


def test_validation_errors_are_422(new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    bad_defs = [
        {"type": "group", "criteria": [{"type": "event", "event": "x", "properties": [{"key": "a b", "value": 1}]}]},
        {"type": "group", "criteria": [{"type": "person_property", "key": "x`; DROP", "value": "1"}]},
        {
            "type": "group",
            "criteria": [{"type": "event", "event": "x", "window": {"last_days": 3, "start": "2026-01-01"}}],
        },
        {"type": "group", "criteria": [{"type": "nope"}]},
        {"type": "group", "criteria": []},
        {"type": "group", "criteria": [{"type": "person_property", "key": "n", "operator": "gt", "value": "x"}]},
    ]
    for definition in bad_defs:
        response = tenant.post("/v1/cohorts", json={"name": "bad", "definition": definition})
        assert response.status_code == 422, (definition, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
    assert tenant.post("/v1/cohorts", json={"name": "nodef"}).status_code == 422
    ok = tenant.post("/v1/cohorts", json={"name": "dup", "kind": "static", "distinct_ids": []})
    assert ok.status_code == 201
    dup = tenant.post("/v1/cohorts", json={"name": "dup", "kind": "static", "distinct_ids": []})
    assert dup.status_code == 409


def test_scopes(new_tenant) -> None:  # type: ignore[no-untyped-def]
    reader = new_tenant(scopes=("read",))
    assert reader.get("/v1/cohorts").status_code == 200
    denied = reader.post("/v1/cohorts", json={"name": "x", "kind": "static", "distinct_ids": []})
    assert denied.status_code == 403


def test_scheduled_evaluation_runs_active_dynamic_cohorts(new_tenant, runtime) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    seed(tenant)
    base = tenant.post("/v1/cohorts", json={"name": "buyers", "definition": buyers_definition(2)}).json()
    ref = {"type": "group", "criteria": [{"type": "cohort", "cohort_id": base["id"], "negate": True}]}
    uses = tenant.post("/v1/cohorts", json={"name": "not buyers", "definition": ref}).json()
    paused = tenant.post(
        "/v1/cohorts", json={"name": "paused", "definition": buyers_definition(1), "is_active": False}
    ).json()
    assert "cohorts:evaluate" in runtime.scheduler.names()

    results = runtime.cohorts.evaluate_all(trigger="schedule")
    mine = [r for r in results if r.cohort_id in {base["id"], uses["id"], paused["id"]}]
    assert [r.cohort_id for r in mine] == [base["id"], uses["id"]]  # referenced first, paused skipped
    assert tenant.get(f"/v1/cohorts/{uses['id']}/members").json()["distinct_ids"] == ["u3"]
    jobs = tenant.get("/v1/jobs", params={"kind": "cohort.evaluate"}).json()
    assert {j["source"] for j in jobs} == {"schedule"} and len(jobs) == 2


def test_nested_person_and_event_properties(new_tenant) -> None:  # type: ignore[no-untyped-def]
    """A cohort reads a dotted path as insights do: an event's `utm.source` and a person's `address.country`."""
    tenant = new_tenant()
    start = NOW - timedelta(days=1)
    tenant.ingest(
        events("signup", 1, start=start, utm={"source": "ads"}, address={"country": "NO"})  # u0
        + [
            {**e, "distinct_id": "u1"}
            for e in events("signup", 1, start=start, utm={"source": "mail"}, address={"country": "SE"})
        ]
    )
    cases = {
        "event": {"type": "event", "event": "signup", "properties": [{"key": "utm.source", "value": "ads"}]},
        "person": {"type": "person_property", "key": "address.country", "value": "SE"},
        "person_set": {"type": "person_property", "key": "address.city", "operator": "is_not_set"},
    }
    expected = {"event": ["u0"], "person": ["u1"], "person_set": ["u0", "u1"]}
    for name, criterion in cases.items():
        created = tenant.post(
            "/v1/cohorts", json={"name": name, "definition": {"type": "group", "criteria": [criterion]}}
        )
        assert created.status_code == 201, created.text
        job = wait_job(tenant, tenant.post(f"/v1/cohorts/{created.json()['id']}/evaluate").json()["id"])
        assert job["state"] == "succeeded", job
        members = tenant.get(f"/v1/cohorts/{created.json()['id']}/members").json()
        assert sorted(members["distinct_ids"]) == expected[name], name
