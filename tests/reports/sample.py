"""A sample report built from typed results without a warehouse: the layout tests draw it, and
`python -m tests.reports.sample docs/images` regenerates the sample in the docs
(docs/sample-report.pdf and a PNG per page)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from analytics_engine.annotations.schemas import AnnotationMark
from analytics_engine.exports.integrations import Section, section_for
from analytics_engine.insights.results import (
    FunnelBreakdownResult,
    FunnelsResult,
    FunnelStepResult,
    Point,
    RetentionCohort,
    RetentionResult,
    Series,
    TrendsResult,
)

END = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # a report run in the afternoon: today is partial
GENERATED = END


def _daily(label: str, days: int, base: float, step: float, end: datetime = END) -> tuple[Series, datetime]:
    start = (end - timedelta(days=days)).replace(hour=14, minute=30)
    first = start.date()
    points = []
    for offset in range((end.date() - first).days + 1):
        day = (first + timedelta(days=offset)).isoformat()
        value = float(round(base + step * offset + (offset % 7 in (5, 6)) * -base * 0.3))
        points.append(Point(label=day, bucket=day, value=value))
    return Series(label=label, points=points), start


def _trends(series: list[Series], start: datetime, interval: str = "day", end: datetime = END) -> TrendsResult:
    return TrendsResult(
        kind="trends", timezone="UTC", date_from=start, date_to=end, interval=interval, computed_at=END, series=series
    )


def sample_sections() -> list[Section]:
    signups, start = _daily("signups", 7, 120, 6)
    previous_signups, before = _daily("signups", 7, 110, 4, end=start)
    stacked_free, _ = _daily("free", 7, 80, 3)
    stacked_pro, _ = _daily("pro", 7, 30, 2)
    weeks_start = END - timedelta(days=9 * 7)
    monday = weeks_start.date() - timedelta(days=weeks_start.weekday())
    weekly = Series(
        label="active people",
        points=[
            Point(
                label=(monday + timedelta(weeks=i)).isoformat(),
                bucket=(monday + timedelta(weeks=i)).isoformat(),
                value=float(2400 + 60 * i + (-1900 if i == 9 else 0)),
            )
            for i in range(10)
        ],
    )
    long_days, long_start = _daily("page views", 44, 1800.5, 13.37)

    big = section_for("New signups", _trends([signups], start))
    big.viz, big.previous = "big_number", _trends([previous_signups], before, end=start)
    stacked = section_for("Signups by plan", _trends([stacked_free, stacked_pro], start))
    stacked.viz = "bar"
    weekly_trend = _trends([weekly], weeks_start, "week")
    weeks = [p.bucket or "" for p in weekly.points]
    weekly_trend.annotations = [  # a range, a moment, and a moment close enough to need another row
        AnnotationMark(
            id="ann_1",
            content="Spring volunteering campaign",
            date_from=weeks_start,
            scope="tenant",
            bucket=weeks[2],
            bucket_to=weeks[4],
            date_to=weeks_start + timedelta(weeks=2),
        ),
        AnnotationMark(
            id="ann_2", content="New onboarding flow", date_from=weeks_start, scope="dashboard", bucket=weeks[6]
        ),
        AnnotationMark(
            id="ann_3", content="Tracking outage (events lost)", date_from=weeks_start, scope="tenant", bucket=weeks[7]
        ),
    ]
    line = section_for("Weekly active people", weekly_trend)
    line.viz = "line"

    steps = [
        FunnelStepResult(
            step=1,
            label="Visited pricing",
            event="pricing",
            count=4120,
            conversion_from_previous=1.0,
            conversion_from_first=1.0,
            dropped=0,
        ),
        FunnelStepResult(
            step=2,
            label="Started trial",
            event="trial",
            count=1379,
            conversion_from_previous=0.3347,
            conversion_from_first=0.3347,
            dropped=2741,
            median_seconds=7_410.0,
        ),
        FunnelStepResult(
            step=3,
            label="Paid",
            event="purchase",
            count=527,
            conversion_from_previous=0.3822,
            conversion_from_first=0.1279,
            dropped=852,
            median_seconds=190_881.0,
        ),
    ]
    funnel = section_for(
        "Trial to paid",
        FunnelsResult(
            kind="funnels",
            timezone="UTC",
            date_from=start,
            date_to=END,
            computed_at=END,
            funnel=[FunnelBreakdownResult(breakdown_value=None, steps=steps)],
        ),
    )
    funnel.viz = "funnel"
    previous_steps = [s.model_copy(update={"count": c}) for s, c in zip(steps, (3900, 1200, 430), strict=True)]
    funnel.previous = FunnelsResult(
        kind="funnels",
        timezone="UTC",
        date_from=before,
        date_to=start,
        computed_at=END,
        funnel=[FunnelBreakdownResult(breakdown_value=None, steps=previous_steps)],
    )

    cohorts = []
    for week in range(8):
        day = date(2026, 10, 12) + timedelta(weeks=week)
        size = 300 + 17 * week
        reached = 8 - week
        values: list[int | None] = [size] + [round(size * (0.42 - 0.03 * p)) for p in range(1, reached)]
        values += [None] * (8 - reached)
        cohorts.append(
            RetentionCohort(
                label=f"week of {day:%d %b}",
                date=day.isoformat(),
                size=size,
                values=values,
                percentages=[None if v is None else round(v / size * 100, 1) for v in values],
            )
        )
    retention = section_for(
        "Weekly retention",
        RetentionResult(
            kind="retention",
            timezone="UTC",
            date_from=datetime(2026, 10, 12, tzinfo=UTC),
            date_to=END,
            interval="week",
            computed_at=END,
            retention=cohorts,
        ),
    )
    retention.viz = "retention_table"
    revenue = section_for("Revenue", _trends([long_days], long_start))
    revenue.unit, revenue.value_format, revenue.viz = "EUR", "currency", "line"
    failed = Section("Churn risk", "error", None, [], error="The query ran past its time limit.")
    return [big, stacked, funnel, retention, line, revenue, impact_section(start, before), failed]


def impact_section(start: datetime, before: datetime) -> Section:
    """SROI as a big number: the ratio, and the money it is made of in the programme's currency."""
    from analytics_engine.insights.results import ImpactResult

    def sroi(value: float, present: float, invested: float, date_from: datetime, date_to: datetime) -> ImpactResult:
        totals = {
            "value": value,
            "band": "good",
            "formula_version": 1,
            "metric": "sroi",
            "programme": "mentoring",
            "present_value": present,
            "investment": invested,
            "currency": "EUR",
        }
        series = [
            Series(
                label="SROI",
                points=[Point(label="SROI", value=value, bucket=date_from.date().isoformat())],
                total=value,
            )
        ]
        return ImpactResult(
            kind="impact",
            timezone="UTC",
            date_from=date_from,
            date_to=date_to,
            computed_at=END,
            series=series,
            totals=totals,
        )

    section = section_for("Social return (mentoring)", sroi(3.2047, 52_300.0, 16_320.0, start, END))
    section.viz, section.previous = "big_number", sroi(2.9, 45_100.0, 15_552.0, before, start)
    return section


def render_sample(folder: Path) -> Path:
    from analytics_engine.reports.figures import describe_range, previous_range, report_range
    from analytics_engine.reports.render import render_pdf

    folder.mkdir(parents=True, exist_ok=True)
    sections = sample_sections()
    span = report_range(sections)
    assert span is not None
    period = describe_range(*span, "UTC")
    comparison = (
        f"Changes compare with the previous period of the same length, {describe_range(*previous_range(*span), 'UTC')}."
    )
    path = folder / "sample-report.pdf"
    render_pdf(
        path,
        "Weekly business review",
        "",
        sections,
        generated=GENERATED,
        comparison=comparison,
        tenant="Acme Learning",
        period=period,
    )
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images")
    pdf = render_sample(target)
    subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(target / "sample-report")], check=True)
    print(pdf)
