"""A failing evaluation puts the rules concerned in `error` with the reason and nothing else: here
the warehouse refuses the group's query (the tenant's read budget), while a rule on another source
in the same job evaluates normally; once the cause is gone the rule recovers. And a source that raises
when it runs never stops the scheduler: its rule is in `error`, the tenant's other rules and the
next tick evaluate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.alerts.support import evaluate_due_now
from tests.support.factories import events


def test_a_refused_query_errors_its_group_only(client, admin_headers, runtime) -> None:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    tenant = make_tenant(client, admin_headers, "alerts-failures")
    tenant.ingest(events("signup", 50, users=20, start=datetime.now(UTC) - timedelta(days=2)))
    trend = {
        "type": "insight",
        "query": {
            "kind": "trends",
            "series": [{"event": "signup"}, {"event": "x"}],
            "filters": [{"key": "plan", "operator": "is_set"}],
            "interval": "day",
        },
    }
    condition = {"type": "threshold", "operator": "above", "value": 1_000_000}
    ids = []
    for source in (trend, trend, {"type": "sla", "signal": "job_failures"}):
        created = tenant.post("/v1/alerts", json={"name": "f", "source": source, "condition": condition})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    budget = client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={"max_rows_to_read": 1}, headers=admin_headers)
    assert budget.status_code == 200, budget.text
    summary = runtime.alerts.evaluate(tenant.id, ids)
    assert summary.evaluated == 3 and summary.groups == 2
    rules = {a["id"]: a for a in tenant.get("/v1/alerts").json()}
    assert rules[ids[0]]["state"] == rules[ids[1]]["state"] == "error"
    assert rules[ids[0]]["reason"] and rules[ids[0]]["reason"] == rules[ids[1]]["reason"]
    assert rules[ids[2]]["state"] == "ok"
    history = tenant.get(f"/v1/alerts/{ids[0]}/events").json()
    assert history[0]["to_state"] == "error" and history[0]["reason"] == rules[ids[0]]["reason"]
    client.put(f"/v1/admin/tenants/{tenant.id}/budget", json={}, headers=admin_headers)
    runtime.alerts.evaluate(tenant.id, ids)
    assert tenant.get(f"/v1/alerts/{ids[0]}").json()["state"] == "ok"


def test_a_raising_source_never_stops_the_scheduler(client, admin_headers, runtime) -> None:  # type: ignore[no-untyped-def]
    """A rule whose source raises when it runs (ClickHouse refuses the statement the guard let
    through; a value that is not a number) goes to `error` with the reason; the tenant's other rule in
    the same job evaluates, the job succeeds, and the next tick evaluates them all again."""

    from analytics_engine.metadata.models import utcnow
    from tests.support.factories import make_tenant

    tenant = make_tenant(client, admin_headers, "alerts-raising")
    tenant.ingest(events("signup", 5, start=datetime.now(UTC) - timedelta(hours=3)))
    above = {"type": "threshold", "operator": "above", "value": 3}
    sources = {
        "refused": {"type": "sql", "sql": "SELECT intDiv(count(), 0) AS n FROM events", "column": "n"},
        "not_a_number": {"type": "sql", "sql": "SELECT 'many' AS n FROM events LIMIT 1", "column": "n"},
        "fine": {"type": "sql", "sql": "SELECT count() AS n FROM events", "column": "n"},
    }
    ids = {}
    for name, source in sources.items():
        created = tenant.post("/v1/alerts", json={"name": name, "source": source, "condition": above})
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]

    def tick() -> dict[str, dict]:  # type: ignore[type-arg]
        job = evaluate_due_now(runtime, tenant.id)
        assert job.result["evaluated"] == 3 and job.result["groups"] == 3
        return {a["id"]: a for a in tenant.get("/v1/alerts").json()}

    for _ in range(2):  # this tick, and the next one
        rules = tick()
        refused, not_a_number, fine = (rules[ids[name]] for name in ("refused", "not_a_number", "fine"))
        assert refused["state"] == "error" and "ClickHouse refused the query" in refused["reason"]
        assert not_a_number["state"] == "error" and "is not a number" in not_a_number["reason"]
        assert fine["state"] == "firing" and fine["value"] == 5
        assert all(datetime.fromisoformat(rule["next_evaluation_at"]) > utcnow() for rule in rules.values())
    history = tenant.get(f"/v1/alerts/{ids['refused']}/events").json()
    assert [e["to_state"] for e in history if e["kind"] == "state"] == ["error"]  # one change, not one per tick
    assert history[-1]["reason"] == refused["reason"]
