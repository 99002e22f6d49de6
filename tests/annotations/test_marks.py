"""Placing annotations on a chart's buckets: moments, ranges clipped by the chart, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics_engine.annotations.marks import place
from analytics_engine.annotations.schemas import AnnotationPublic

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def note(id_: str, start: datetime, end: datetime | None = None, dashboard: str | None = None) -> AnnotationPublic:
    return AnnotationPublic(
        id=id_,
        content=id_,
        date_from=start,
        date_to=end,
        dashboard_id=dashboard,
        scope="dashboard" if dashboard else "tenant",
        created_at=NOW,
        updated_at=NOW,
    )


def test_moments_ranges_and_outside():
    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
    notes = [
        note("moment", datetime(2026, 11, 3, 12, tzinfo=UTC)),
        note("before", datetime(2026, 10, 3, tzinfo=UTC)),
        note("after", datetime(2026, 11, 8, tzinfo=UTC)),
        note("clipped", datetime(2026, 10, 28, tzinfo=UTC), datetime(2026, 11, 2, 6, tzinfo=UTC)),
        note("ends_at_start", datetime(2026, 10, 28, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
        note("at_start", start),
    ]
    marks = {m.id: m for m in place(notes, start, end, "day", "UTC")}
    assert set(marks) == {"moment", "clipped", "at_start"}
    assert marks["moment"].bucket == "2026-11-03" and marks["moment"].bucket_to is None
    assert (marks["clipped"].bucket, marks["clipped"].bucket_to) == ("2026-11-01", "2026-11-02")
    assert [m.id for m in place(notes, start, end, "day", "UTC")] == ["clipped", "at_start", "moment"]


def test_local_buckets_in_a_time_zone():
    start, end = datetime(2026, 10, 31, 23, tzinfo=UTC), datetime(2026, 11, 30, 23, tzinfo=UTC)
    late = note("late", datetime(2026, 11, 9, 23, 30, tzinfo=UTC))  # 10 Nov 00:30 in Oslo
    assert place([late], start, end, "day", "Europe/Oslo")[0].bucket == "2026-11-10"
    assert place([late], start, end, "week", "Europe/Oslo")[0].bucket == "2026-11-09"
    hour = place([late], start, end, "hour", "Europe/Oslo")[0].bucket
    assert hour == "2026-11-10T00:00:00+01:00"
