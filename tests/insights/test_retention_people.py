"""`POST /v1/insights/retention/people`: the people behind a retention cell are the ones the matrix
counts (cohort at period 0, those who came back at period n), per breakdown row, paged; bad cells 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

DAY0 = (datetime.now(UTC) - timedelta(days=5)).replace(hour=12, minute=0, second=0, microsecond=0)


def _event(name: str, user: str, day: int, **properties: object) -> dict[str, object]:
    moment = DAY0 + timedelta(days=day)
    return {"event": name, "distinct_id": user, "timestamp": moment.isoformat(), "properties": properties}


QUERY = {
    "start_event": {"event": "signup"},
    "return_event": {"event": "pageview"},
    "period": "day",
    "periods": 4,
    "date_range": {"date_from": DAY0.date().isoformat()},
}


@pytest.fixture(scope="module")
def tenant(client, admin_headers):
    from tests.support.factories import make_tenant

    handle = make_tenant(client, admin_headers, "retention-people")
    handle.ingest(
        [
            _event("signup", "a", 0, plan="pro"),
            _event("pageview", "a", 1),
            _event("pageview", "a", 2),
            _event("signup", "b", 0, plan="free"),
            _event("pageview", "b", 2),
            _event("signup", "d", 0, plan="pro"),
            _event("signup", "c", 1, plan="free"),
            _event("pageview", "c", 2),
        ]
    )
    return handle


def _people(tenant, **body: object) -> dict[str, object]:
    response = tenant.post("/v1/insights/retention/people", json={"query": QUERY, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_each_cell_lists_the_people_it_counts(tenant) -> None:
    day0, day1 = DAY0.date().isoformat(), (DAY0 + timedelta(days=1)).date().isoformat()
    assert _people(tenant, cohort=day0, period=0)["people"] == ["a", "b", "d"]
    assert _people(tenant, cohort=day0, period=1)["people"] == ["a"]
    assert _people(tenant, cohort=day0, period=2)["people"] == ["a", "b"]
    assert _people(tenant, cohort=day1, period=1)["people"] == ["c"]
    # every reached cell of the matrix: as many people as its count
    matrix = tenant.post("/v1/insights/retention", json=QUERY).json()["retention"]
    for row in matrix:
        for period, count in enumerate(row["values"]):
            if count is not None:
                assert len(_people(tenant, cohort=row["date"], period=period, limit=1000)["people"]) == count
    page = _people(tenant, cohort=day0, period=0, limit=2)
    assert page["people"] == ["a", "b"] and page["has_more"] is True
    rest = _people(tenant, cohort=day0, period=0, limit=2, offset=2)
    assert rest["people"] == ["d"] and rest["has_more"] is False


def test_a_breakdown_row(tenant) -> None:
    query = {**QUERY, "breakdown": ["plan"]}
    day0 = DAY0.date().isoformat()
    body = {"query": query, "cohort": day0, "breakdown_value": ["pro"]}
    cohort = tenant.post("/v1/insights/retention/people", json={**body, "period": 0}).json()
    assert cohort["people"] == ["a", "d"] and cohort["breakdown_value"] == ["pro"]
    assert tenant.post("/v1/insights/retention/people", json={**body, "period": 2}).json()["people"] == ["a"]
    # a breakdown without the row's value is refused
    missing = tenant.post("/v1/insights/retention/people", json={"query": query, "cohort": day0, "period": 0})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "invalid_query"


def test_cells_outside_the_matrix_are_refused(tenant) -> None:
    before = (DAY0 - timedelta(days=3)).date().isoformat()
    for body in ({"cohort": before, "period": 0}, {"cohort": DAY0.date().isoformat(), "period": 4}):
        response = tenant.post("/v1/insights/retention/people", json={"query": QUERY, **body})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_query"
    bad = tenant.post(
        "/v1/insights/retention/people", json={"query": {"periods": 0}, "cohort": "2026-01-01", "period": 0}
    )
    assert bad.status_code == 422
