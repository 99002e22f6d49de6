"""A render's JSON without serialising cached widget data a second time (issue 18, cached renders).

A cached widget's entry is orjson's `{"data": <data>, "computed_at": "<iso>"}`. The render parses it
(the dashboard's notes need a trend's range), and the route used to serialise the parsed data again
with the rest of the answer: for the bench dashboard (100 kB) the two were a quarter of a cached
render's CPU. Now the parsed data keeps the exact bytes it came from (`WidgetResult.data_json`), and
`render_json` writes those bytes in place of the data, when the widget's `data` is still the very
object parsed from them (not replaced, e.g. by the dashboard's notes). Everything else is dumped by
pydantic in JSON mode, so every value reads the same as `RenderResult.model_dump_json` would write
it; only the number formatting may differ in spelling (both write the shortest round-trip form).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from analytics_engine.dashboards.schemas import RenderResult, WidgetResult

PREFIX = b'{"data":'
WIDGET_FIELDS = tuple(WidgetResult.model_fields)


def parse_cached(hit: bytes) -> tuple[Any, bytes | None, datetime]:
    """A widget cache entry: its data, the bytes of that data inside the entry (None when the entry is
    not laid out as `_compute` writes it), and when it was computed."""
    stored = orjson.loads(hit)
    computed_at = stored["computed_at"]
    tail = b',"computed_at":' + orjson.dumps(computed_at) + b"}"
    raw = hit[len(PREFIX) : -len(tail)] if hit.startswith(PREFIX) and hit.endswith(tail) else None
    if raw is not None and list(stored) != ["data", "computed_at"]:
        raw = None
    return stored["data"], raw, datetime.fromisoformat(computed_at)


def keep_bytes(result: WidgetResult, raw: bytes | None) -> None:
    """Remember that `result.data` (as it is now) was parsed from `raw`."""
    result.data_json = (result.data, raw) if raw is not None else None


def render_json(result: RenderResult) -> bytes:
    """The render's JSON: `result` as pydantic writes it, each unchanged cached data as its bytes."""
    raws = [_unchanged_bytes(widget) for widget in result.widgets]
    if not any(raw is not None for raw in raws):
        return RenderResult.__pydantic_serializer__.to_json(result)
    skip = {index: {"data"} for index, raw in enumerate(raws) if raw is not None}
    body = result.model_dump(mode="json", exclude={"widgets": skip})
    widgets = []
    for widget, raw in zip(body["widgets"], raws, strict=True):
        if raw is not None:
            widget = {name: orjson.Fragment(raw) if name == "data" else widget[name] for name in WIDGET_FIELDS}
        widgets.append(widget)
    body["widgets"] = widgets
    return orjson.dumps(body)


def _unchanged_bytes(widget: WidgetResult) -> bytes | None:
    kept = widget.data_json
    if kept is None or widget.data is not kept[0]:
        return None
    return kept[1]
