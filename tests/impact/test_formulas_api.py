"""Formula registry through the API: listing, adding (admin only), dry-run, and a result keeping the
version that computed it after a new version is added."""

from __future__ import annotations

import copy

import pytest

from analytics_engine.impact.formulas import SROI_V1, VIS_V1
from tests.impact.support import worked_example


def test_list_add_dry_run_and_results_keep_their_version(client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    tenant = new_tenant()
    tenant.ingest(worked_example())
    listed = tenant.get("/v1/impact/formulas").json()
    assert client.get("/v1/admin/impact/formulas", headers=admin_headers).json() == listed
    assert client.get("/v1/impact/formulas", headers=admin_headers).status_code == 403
    assert [(f["kind"], f["version"], f["current"]) for f in listed] == [("sroi", 1, True), ("vis", 1, True)]
    assert listed[0]["definition"]["proxies"]["default"]["job_readiness"] == 4_000.0

    v1 = tenant.get("/v1/impact/sroi").json()
    assert v1["formula_version"] == 1

    # version 2: attribution 0.5 instead of 0.25 -> every value x (0.5 / 0.75): the ratio falls by a third
    definition = copy.deepcopy(SROI_V1.model_dump(mode="json"))
    definition["attribution"] = 0.5
    body = {"kind": "sroi", "definition": definition, "note": "stricter attribution"}
    assert tenant.post("/v1/admin/impact/formulas", json=body).status_code == 401  # tenant key is not admin
    dry = client.post("/v1/admin/impact/formulas", params={"dry_run": "true"}, json=body, headers=admin_headers)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] is True and report["proposed_version"] == 2
    assert report["results_compared"] >= 1 and report["moved_over_threshold"] >= 1
    mine = next(c for c in report["changes"] if c["tenant_id"] == tenant.id)
    assert mine["relative_change"] == pytest.approx(-1 / 3, abs=1e-3) and mine["moved"] is True
    assert [f["version"] for f in tenant.get("/v1/impact/formulas", params={"kind": "sroi"}).json()] == [1]

    added = client.post("/v1/admin/impact/formulas", json=body, headers=admin_headers)
    assert added.status_code == 201 and added.json()["version"] == 2 and added.json()["current"] is True

    kept = tenant.get(f"/v1/impact/results/{v1['result_id']}").json()
    assert kept["formula_version"] == 1 and kept["value"] == v1["ratio"]
    assert kept["result"]["explanation"][0] == {"name": "formula_version", "value": 1, "source": "formula registry"}

    v2 = tenant.get("/v1/impact/sroi").json()
    assert v2["formula_version"] == 2 and v2["result_id"] != v1["result_id"]
    assert v2["ratio"] == pytest.approx(v1["ratio"] * 2 / 3, abs=1e-3)
    old = tenant.get("/v1/impact/sroi", params={"formula_version": 1}).json()
    assert old["ratio"] == v1["ratio"] and old["formula_version"] == 1


def test_small_change_does_not_move_and_invalid_definitions_are_422(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    vis = copy.deepcopy(VIS_V1.model_dump(mode="json"))
    vis["weights"] = {"hours": 0.5, "consistency": 0.3, "outcome": 0.3}
    bad = client.post("/v1/admin/impact/formulas", json={"kind": "vis", "definition": vis}, headers=admin_headers)
    assert bad.status_code == 422 and "sum to 1" in bad.json()["error"]["message"]
    sroi = copy.deepcopy(SROI_V1.model_dump(mode="json"))
    del sroi["proxies"]["default"]
    bad = client.post("/v1/admin/impact/formulas", json={"kind": "sroi", "definition": sroi}, headers=admin_headers)
    assert bad.status_code == 422
    unknown = client.post("/v1/admin/impact/formulas", json={"kind": "nps", "definition": {}}, headers=admin_headers)
    assert unknown.status_code == 422
    vis = copy.deepcopy(VIS_V1.model_dump(mode="json"))
    vis["scales"]["hours_per_month"] = 21.0  # a 5% change of one scale moves nobody by 20%
    dry = client.post(
        "/v1/admin/impact/formulas",
        params={"dry_run": "true"},
        json={"kind": "vis", "definition": vis},
        headers=admin_headers,
    ).json()
    assert dry["moved_over_threshold"] == 0


def test_future_version_is_not_current_yet(client, admin_headers, new_tenant) -> None:  # type: ignore[no-untyped-def]
    vis = VIS_V1.model_dump(mode="json")
    added = client.post(
        "/v1/admin/impact/formulas",
        json={"kind": "vis", "definition": vis, "effective_from": "2999-01-01T00:00:00Z"},
        headers=admin_headers,
    ).json()
    assert added["current"] is False
    tenant = new_tenant()
    assert tenant.get("/v1/impact/vis").json()["formula_version"] == added["version"] - 1
