"""The insight registry is the one way in: a kind registered there (and written nowhere else) is
parsed, run and turned into tables and chart specs, served by /v1/insights and on a dashboard, and
exported and reported through the same typed result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from analytics_engine.errors import InvalidInput
from analytics_engine.exports.integrations import Section, tables_from_result
from analytics_engine.insights import registry
from analytics_engine.insights.context import Overrides, RunContext
from analytics_engine.insights.results import FunnelsResult, ImpactResult, Series, SeriesResult, Table
from analytics_engine.reports.render import headline


# --- a tiny kind: its module would hold these three things and one register() call ---------------
class EchoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["echo"] = "echo"
    values: list[float]
    date_range: dict[str, str] | None = None


class EchoResult(SeriesResult):
    def to_tables(self, title: str) -> list[Table]:
        return [Table(title, ["n", "echo"], [[i, p.value] for i, p in enumerate(self.series[0].points)])]


def run_echo(ctx: RunContext, query: EchoQuery) -> EchoResult:
    now = datetime.now(UTC)
    points = [{"label": f"p{i}", "value": v} for i, v in enumerate(query.values)]
    return EchoResult(
        kind="echo",
        timezone="UTC",
        date_from=now,
        date_to=now,
        computed_at=now,
        series=[Series.model_validate({"label": ctx.tenant.tenant_id, "points": points, "total": sum(query.values)})],
        totals={"from": (query.date_range or {}).get("date_from")},
    )


@pytest.fixture
def echo_kind() -> Iterator[registry.InsightKind]:
    kind = registry.register(registry.InsightKind("echo", EchoQuery, run_echo, EchoResult, {"date_range"}))
    yield kind
    registry.unregister("echo")


class _Tenant:
    tenant_id = "tn_echo"


def test_every_kind_is_registered_with_its_typed_result() -> None:
    kinds = registry.kinds()
    assert set(kinds) >= {"trends", "funnels", "retention", "engagement", "impact"}
    assert kinds["funnels"].result is FunnelsResult and kinds["impact"].result is ImpactResult
    assert not kinds["impact"].insight_api  # impact has its own routes; it is a kind everywhere else


def test_unknown_kind_and_invalid_query_are_422(echo_kind) -> None:
    with pytest.raises(InvalidInput, match="echo"):
        registry.parse_query({"kind": "nope"})
    with pytest.raises(InvalidInput) as caught:
        registry.parse_query({"kind": "echo", "values": "x"})
    assert caught.value.details["errors"][0]["loc"] == ["values"]


def test_overrides_apply_only_what_the_kind_accepts(echo_kind) -> None:
    query = {"kind": "echo", "values": [1]}
    out = registry.with_overrides(query, Overrides(date_from="-7d", timezone="Europe/Oslo", interval="week"))
    assert out == {"kind": "echo", "values": [1], "date_range": {"date_from": "-7d"}}
    assert query == {"kind": "echo", "values": [1]}  # a copy
    impact = registry.with_overrides(
        {"kind": "impact", "metric": "sroi"}, Overrides(cohort_id="c", date_to="2026-01-01")
    )
    assert impact == {"kind": "impact", "metric": "sroi", "date_range": {"date_to": "2026-01-01"}}
    trends = registry.with_overrides({"kind": "trends"}, Overrides(interval="week", breakdown=("plan",)))
    assert trends == {"kind": "trends", "interval": "week", "breakdown": ["plan"]}
    funnels = registry.with_overrides({"kind": "funnels"}, Overrides(interval="week"))
    assert funnels == {"kind": "funnels"}


def test_a_registered_kind_runs_and_becomes_a_table_a_chart_and_json(echo_kind) -> None:
    result = registry.run_query(RunContext(None, _Tenant()), {"kind": "echo", "values": [2, 3.5]})
    assert isinstance(result, EchoResult)
    assert result.to_tables("Echo") == [Table("Echo", ["n", "echo"], [[0, 2.0], [1, 3.5]])]
    chart = result.to_chart()
    assert chart.type == "line" and chart.x == ["p0", "p1"] and chart.series == [("tn_echo", [2.0, 3.5])]
    data = result.model_dump(mode="json")
    assert data["kind"] == "echo" and data["series"][0]["total"] == 5.5
    # a JSON answer (a cached widget, a metric answer) comes back as the same typed result
    assert isinstance(registry.result_from_json(data), EchoResult)
    assert tables_from_result("Again", data) == [Table("Again", ["n", "echo"], [[0, 2.0], [1, 3.5]])]
    assert headline(Section("Echo", "echo", result)) == "5.50 (tn_echo, total)"


def test_a_registered_kind_is_served_by_the_api_and_on_a_dashboard(echo_kind, new_tenant) -> None:
    tenant = new_tenant()
    answer = tenant.post("/v1/insights/echo", json={"values": [1, 2]})
    assert answer.status_code == 200, answer.text
    assert [p["value"] for p in answer.json()["series"][0]["points"]] == [1, 2]
    bad = tenant.post("/v1/insights", json={"kind": "echo", "values": "no"})
    assert bad.status_code == 422, bad.text

    widget: dict[str, Any] = {"title": "Echo", "viz": "line", "query": {"kind": "echo", "values": [4]}}
    dashboard = tenant.post("/v1/dashboards", json={"name": "E", "widgets": [widget]})
    assert dashboard.status_code == 201, dashboard.text
    rendered = tenant.get(f"/v1/dashboards/{dashboard.json()['id']}/render", params={"date_from": "-3d"}).json()
    data = rendered["widgets"][0]["data"]
    assert rendered["widgets"][0]["error"] is None and data["kind"] == "echo"
    assert data["series"][0]["points"][0]["value"] == 4 and data["totals"] == {"from": "-3d"}


def test_builtin_results_make_tables_and_charts() -> None:
    base = {"timezone": "UTC", "date_from": "2026-01-01T00:00:00Z", "date_to": "2026-01-02T00:00:00Z"}
    base["computed_at"] = base["date_to"]
    step = {"event": "e", "conversion_from_previous": 1.0, "conversion_from_first": 1.0, "dropped": 0}
    funnel = registry.result_from_json(
        {
            **base,
            "kind": "funnels",
            "funnel": [
                {
                    "breakdown_value": None,
                    "steps": [
                        {**step, "step": 1, "label": "a", "count": 10},
                        {
                            **step,
                            "step": 2,
                            "label": "b",
                            "count": 4,
                            "conversion_from_previous": 0.4,
                            "conversion_from_first": 0.4,
                        },
                    ],
                }
            ],
        }
    )
    assert isinstance(funnel, FunnelsResult)
    assert funnel.to_tables("F")[0].rows == [["all", 1, "a", 10, 1.0, 1.0, None], ["all", 2, "b", 4, 0.4, 0.4, None]]
    assert funnel.to_chart().type == "funnel"
    retention = registry.result_from_json(
        {
            **base,
            "kind": "retention",
            "retention": [
                {"label": "w1", "date": "2026-01-01", "size": 5, "values": [5, 2], "percentages": [100.0, 40.0]},
                {"label": "w2", "date": "2026-01-08", "size": 3, "values": [3], "percentages": [100.0]},
            ],
        }
    )
    assert retention.to_tables("R")[0].columns == ["cohort", "date", "size", "period 0", "period 1"]
    assert retention.to_tables("R")[0].rows[1] == ["w2", "2026-01-08", 3, 3, None]
    chart = retention.to_chart()
    assert chart.type == "heatmap" and chart.series[1] == ("w2", [100.0, None])
    empty = registry.result_from_json({**base, "kind": "trends", "totals": {"n": 2.0}})
    assert empty.to_tables("T") == [Table("T", ["name", "value"], [["n", 2]])] and empty.to_chart().type == "empty"
