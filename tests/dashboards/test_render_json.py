"""dashboards/render_json.py: cached widget data written as the bytes it was cached as, and the answer
the same as pydantic's own JSON of the render."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from analytics_engine.dashboards.render_json import keep_bytes, parse_cached, render_json
from analytics_engine.dashboards.schemas import DashboardFilters, Layout, RenderResult, WidgetResult

DATA = {
    "kind": "trends",
    "series": [{"label": "pageview", "points": [{"date": "2026-12-01", "value": 1.5e-7}, {"date": "x", "value": 3}]}],
    "note": 'caf\u00e9 \u2603 "quoted" \\ </script>',
    "empty": {},
    "big": 12345678901234567,
    "nothing": None,
}


def entry(data: object, at: datetime) -> bytes:
    """A widget cache entry exactly as dashboards/render.py `_compute` writes it."""
    return orjson.dumps({"data": data, "computed_at": at.isoformat()})


def widget(index: int, **fields: object) -> WidgetResult:
    return WidgetResult(id=f"w{index}", title=f"W {index}", viz="line", layout=Layout(x=0, y=0, w=4, h=2), **fields)


def render_of(*widgets: WidgetResult) -> RenderResult:
    return RenderResult(
        dashboard_id="dsh_1",
        name="D",
        filters=DashboardFilters(date_from="-7d"),
        widgets=list(widgets),
        rendered_at=datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC),
        elapsed_ms=1.25,
    )


def test_a_cache_entry_gives_its_data_and_the_data_s_own_bytes() -> None:
    at = datetime(2026, 12, 8, 0, 0, 1, 5, tzinfo=UTC)
    data, raw, computed_at = parse_cached(entry(DATA, at))
    assert data == DATA and computed_at == at
    assert raw == orjson.dumps(DATA)


@pytest.mark.parametrize(
    "hit",
    [
        b'{"computed_at":"2026-12-08T00:00:00+00:00","data":[1]}',
        b'{"data":[1],"computed_at":"2026-12-08T00:00:00+00:00","x":1}',
    ],
)
def test_an_entry_laid_out_otherwise_keeps_no_bytes(hit: bytes) -> None:
    data, raw, _ = parse_cached(hit)
    assert data == [1] and raw is None


def test_the_answer_is_the_same_as_pydantic_writes_it() -> None:
    at = datetime(2026, 12, 8, 0, 0, 1, tzinfo=UTC)
    cached = widget(1, cached=True, computed_at=at, elapsed_ms=0.5)
    cached.data, raw, _ = parse_cached(entry(DATA, at))
    keep_bytes(cached, raw)
    computed = widget(2, data={"kind": "funnels", "steps": [1, 2]}, computed_at=at, elapsed_ms=12.0)
    failed = widget(3, error={"code": "invalid_input", "message": "no"})
    result = render_of(cached, computed, failed)
    written = render_json(result)
    assert orjson.loads(written) == orjson.loads(result.model_dump_json())
    assert orjson.dumps(DATA) in written  # the cached bytes themselves
    assert list(orjson.loads(written)["widgets"][0]) == list(WidgetResult.model_fields)


def test_data_replaced_after_it_was_read_is_written_as_it_is_now() -> None:
    """E.g. the dashboard's notes merged into a trend's data: the cached bytes no longer say it."""
    at = datetime(2026, 12, 8, tzinfo=UTC)
    cached = widget(1, cached=True, computed_at=at)
    cached.data, raw, _ = parse_cached(entry(DATA, at))
    keep_bytes(cached, raw)
    cached.data = {**DATA, "annotations": [{"id": "ann_1"}]}
    answer = orjson.loads(render_json(render_of(cached)))
    assert answer["widgets"][0]["data"]["annotations"] == [{"id": "ann_1"}]
    assert answer == orjson.loads(render_of(cached).model_dump_json())
