"""The paths routes: a Sankey answer with cleaning and folding, the people of a node and a link
(paged), and 422 on a regex the warehouse could not run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

NOW = datetime.now(UTC)
START = (NOW - timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
RANGE = {"date_from": (NOW - timedelta(days=5)).date().isoformat()}


def _event(name: str, user: str, minute: int) -> dict[str, object]:
    return {"event": name, "distinct_id": user, "timestamp": (START + timedelta(minutes=minute)).isoformat()}


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "paths-api")
    rows = []
    for i in range(5):  # five people: signup -> view_product_<n> -> purchase (u0, u1 buy twice: one step)
        rows += [_event("signup", f"u{i}", 0), _event(f"view_product_{i}", f"u{i}", 10)]
        rows += [_event("purchase", f"u{i}", 20 + i)] if i < 3 else [_event("logout", f"u{i}", 30)]
        rows += [_event("purchase", f"u{i}", 40)] if i < 2 else []
    handle.ingest(rows)
    return handle


def test_paths_with_cleaning_and_people(tenant):
    query = {
        "start_event": "signup",
        "steps": 3,
        "path_cleaning": [{"regex": "^view_product_\\d+$", "alias": "view_product"}],
        "date_range": RANGE,
    }
    response = tenant.post("/v1/insights/paths", json=query)
    assert response.status_code == 200, response.text
    body = response.json()
    nodes = {n["id"]: (n["people"], n["dropped"]) for n in body["nodes"]}
    assert nodes == {"1_signup": (5, 0), "2_view_product": (5, 0), "3_purchase": (3, 3), "3_logout": (2, 2)}
    links = {(link["source"], link["target"]): link for link in body["links"]}
    assert links[("1_signup", "2_view_product")]["median_seconds"] == 600.0
    assert links[("2_view_product", "3_purchase")]["people"] == 3
    assert links[("2_view_product", "3_purchase")]["average_seconds"] == 660.0  # 10, 11, 12 minutes
    page = tenant.post(
        "/v1/insights/paths/people",
        json={"query": query, "step": 2, "name": "view_product", "next_name": "purchase", "limit": 2},
    ).json()
    assert page["people"] == ["u0", "u1"] and page["has_more"] is True
    rest = tenant.post(
        "/v1/insights/paths/people",
        json={"query": query, "step": 2, "name": "view_product", "next_name": "purchase", "limit": 2, "offset": 2},
    ).json()
    assert rest["people"] == ["u2"] and rest["has_more"] is False


def test_rare_names_fold_into_other(tenant):
    response = tenant.post(
        "/v1/insights/paths", json={"start_event": "signup", "steps": 2, "nodes_per_step": 2, "date_range": RANGE}
    ).json()
    step2 = [n for n in response["nodes"] if n["step"] == 2]
    assert [n["name"] for n in step2] == ["view_product_0", "view_product_1", "$other"]
    assert step2[-1]["people"] == 3
    page = tenant.post(
        "/v1/insights/paths/people",
        json={
            "query": {"start_event": "signup", "steps": 2, "nodes_per_step": 2, "date_range": RANGE},
            "step": 2,
            "name": "$other",
        },
    ).json()
    assert page["people"] == ["u2", "u3", "u4"]


def test_paths_towards_an_end_event(tenant):
    body = tenant.post("/v1/insights/paths", json={"end_event": "purchase", "steps": 4, "date_range": RANGE}).json()
    nodes = {n["id"]: n["people"] for n in body["nodes"]}
    # Three people reach a purchase; their paths end in column 4, starting in column 2.
    assert nodes["4_purchase"] == 3 and nodes["2_signup"] == 3
    assert body["totals"]["people"] == 3


@pytest.mark.parametrize(
    ("cleaning", "fragment"),
    [
        ({"regex": "(unclosed", "alias": "x"}, "invalid regular expression"),
        ({"regex": "a(?=b)", "alias": "x"}, "RE2"),
        ({"regex": "(a)", "alias": "\\2"}, "group 2"),
    ],
)
def test_bad_cleaning_rules_are_422(tenant, cleaning, fragment):
    response = tenant.post("/v1/insights/paths", json={"path_cleaning": [cleaning]})
    assert response.status_code == 422, response.text
    assert fragment in str(response.json()["error"])


def test_people_of_a_step_past_the_end_is_422(tenant):
    response = tenant.post(
        "/v1/insights/paths/people", json={"query": {"steps": 2}, "step": 2, "name": "a", "next_name": "b"}
    )
    assert response.status_code == 422
