"""Rules on restricted SQL: a threshold on one SQL value, an anomaly on a SQL series (time column +
value column), a refused statement is a 422 with the guard's reason at creation, a tenant's SQL rule
never sees another tenant's rows, and a rule on a registry metric whose query kind is `sql`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.factories import TenantHandle, events

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
DAYS = 40
DAILY = (
    "SELECT toDate(timestamp) AS day, count() AS signups FROM events WHERE event = 'signup' GROUP BY day ORDER BY day"
)
TOTAL = "SELECT count() AS signups FROM events WHERE event = 'signup'"


def _signups(days_back: int) -> int:
    return 10 + (days_back % 3) if days_back > 1 else 60  # yesterday: a jump


@pytest.fixture(scope="module")
def pair(client, admin_headers) -> tuple[TenantHandle, TenantHandle]:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    alpha = make_tenant(client, admin_headers, "alerts-sql-a")
    batch = []
    for days_back in range(DAYS, 0, -1):
        count = _signups(days_back)
        start = TODAY - timedelta(days=days_back)
        batch += events("signup", count, users=5, start=start, step=timedelta(minutes=5))
    alpha.ingest(batch)
    midnight = TODAY.replace(hour=0)
    alpha.ingest(events("signup", 2, start=midnight + timedelta(seconds=1)))  # today: incomplete, not judged
    bravo = make_tenant(client, admin_headers, "alerts-sql-b")
    bravo.ingest(events("signup", 500, users=50, start=TODAY - timedelta(days=1), step=timedelta(seconds=30)))
    return alpha, bravo


def total_signups() -> int:
    return sum(_signups(d) for d in range(DAYS, 0, -1)) + 2


def create(tenant: TenantHandle, source: dict[str, Any], condition: dict[str, Any]) -> dict[str, Any]:
    response = tenant.post("/v1/alerts", json={"name": "SQL", "source": source, "condition": condition})
    assert response.status_code == 201, response.text
    return response.json()


def evaluate(tenant: TenantHandle, alert_id: str) -> dict[str, Any]:
    response = tenant.post(f"/v1/alerts/{alert_id}/evaluate")
    assert response.status_code == 200, response.text
    return response.json()


def test_threshold_on_one_sql_value_sees_the_tenants_rows_only(pair) -> None:  # type: ignore[no-untyped-def]
    alpha, bravo = pair
    source = {"type": "sql", "sql": TOTAL, "column": "signups"}
    above = create(alpha, source, {"type": "threshold", "operator": "above", "value": 100})
    judged = evaluate(alpha, above["id"])
    assert judged["state"] == "firing" and judged["value"] == total_signups()
    # the same statement for the other tenant counts its own 500 rows, never alpha's
    other = create(bravo, source, {"type": "threshold", "operator": "above", "value": 499})
    seen = evaluate(bravo, other["id"])
    assert seen["state"] == "firing" and seen["value"] == 500
    quiet = create(bravo, source, {"type": "threshold", "operator": "above", "value": 500})
    assert evaluate(bravo, quiet["id"])["state"] == "ok"
    # a single value feeds threshold conditions only
    refused = bravo.post(
        "/v1/alerts", json={"name": "x", "source": source, "condition": {"type": "anomaly", "sensitivity": 0.5}}
    )
    assert refused.status_code == 422, refused.text


def test_anomaly_on_a_sql_series(pair) -> None:  # type: ignore[no-untyped-def]
    alpha, _ = pair
    source = {"type": "sql", "sql": DAILY, "column": "signups", "time_column": "day"}
    rule = create(alpha, source, {"type": "anomaly", "direction": "up", "sensitivity": 0.5})
    judged = evaluate(alpha, rule["id"])
    assert judged["state"] == "firing", judged
    assert judged["value"] == 60  # yesterday, not today's incomplete day
    simulated = alpha.post(
        "/v1/alerts/simulate",
        json={
            "source": source,
            "condition": {"type": "anomaly", "direction": "up", "sensitivity": 0.5},
            "date_range": {"date_from": "-5d"},
        },
    )
    assert simulated.status_code == 200, simulated.text
    fired = simulated.json()["fired"]
    assert [point["value"] for point in fired] == [60]


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT count() AS n FROM system.tables", "database-qualified"),
        ("SELECT * FROM file('/etc/passwd')", "file"),
        ("SELECT count( FROM events", None),
    ],
)
def test_refused_sql_is_a_422_at_creation(pair, sql: str, reason: str | None) -> None:  # type: ignore[no-untyped-def]
    alpha, _ = pair
    response = alpha.post(
        "/v1/alerts",
        json={
            "name": "bad",
            "source": {"type": "sql", "sql": sql, "column": "n"},
            "condition": {"type": "threshold", "operator": "above", "value": 1},
        },
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in ("sql_not_allowed", "sql_syntax_error")
    if reason is not None:
        assert reason in error["message"] and error["details"]["sql"]["reason"]


def test_a_missing_column_is_the_rules_error(pair) -> None:  # type: ignore[no-untyped-def]
    alpha, _ = pair
    rule = create(
        alpha, {"type": "sql", "sql": TOTAL, "column": "nope"}, {"type": "threshold", "operator": "above", "value": 1}
    )
    judged = evaluate(alpha, rule["id"])
    assert judged["state"] == "error" and "no column 'nope'" in judged["reason"]


def test_a_metric_whose_query_is_sql(pair) -> None:  # type: ignore[no-untyped-def]
    alpha, _ = pair
    metric = alpha.post("/v1/metrics", json={"name": "Signups (SQL)", "query": {"kind": "sql", "sql": TOTAL}})
    assert metric.status_code == 201, metric.text
    rule = create(
        alpha,
        {"type": "metric", "metric_id": metric.json()["id"]},
        {"type": "threshold", "operator": "above", "value": total_signups() - 1},
    )
    judged = evaluate(alpha, rule["id"])
    assert judged["state"] == "firing" and judged["value"] == total_signups()
