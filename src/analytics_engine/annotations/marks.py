"""Where annotations fall on a time chart: the bucket (as `Point.bucket`) of each annotation that
touches the chart's range. Pure: used by the trends runner and by dashboards for their own notes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from analytics_engine.annotations.schemas import AnnotationMark, AnnotationPublic
from analytics_engine.insights.dates import bucket_label, local_bucket

MAX_MARKS = 200


def place(
    annotations: Iterable[AnnotationPublic], start: datetime, end: datetime, interval: str | None, timezone: str
) -> list[AnnotationMark]:
    """Marks of the annotations overlapping `[start, end)`, in time order (at most MAX_MARKS). A
    range clipped by the chart starts at its first bucket and ends at its last."""
    zone = ZoneInfo(timezone)
    step = interval or "day"
    out = []
    for note in annotations:
        note_end = note.date_to or note.date_from
        inside = note.date_from < end and (note_end >= start if note.date_to is None else note_end > start)
        if not inside:
            continue
        first = max(note.date_from, start)
        bucket = bucket_label(local_bucket(first, step, zone), zone)
        bucket_to = None
        if note.date_to is not None:
            last = min(note.date_to, end) - timedelta(milliseconds=1)
            bucket_to = bucket_label(local_bucket(max(last, first), step, zone), zone)
        out.append(
            AnnotationMark(
                id=note.id,
                content=note.content,
                date_from=note.date_from,
                date_to=note.date_to,
                scope=note.scope,
                bucket=bucket,
                bucket_to=bucket_to,
            )
        )
    out.sort(key=lambda m: (m.date_from, m.id))
    return out[:MAX_MARKS]
