"""The annotations' API shapes, and the mark a time chart draws (`AnnotationMark`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from analytics_engine.validation import PatchModel

_WHEN = (
    "ISO date (midnight in the tenant's time zone; as `date_to`, the end of that day) or ISO datetime "
    "(a datetime without an offset is UTC)."
)


def _when(value: Any) -> Any:
    """`2026-03-01` is a date (read in the tenant's time zone), not midnight UTC."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


When = Annotated[date | datetime, BeforeValidator(_when)]


class AnnotationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"content": "Spring volunteering campaign", "date_from": "2026-03-01", "date_to": "2026-03-14"},
                {"content": "New sign-up form", "date_from": "2026-11-20T09:00:00Z", "dashboard_id": "dsh_1"},
            ]
        },
    )

    content: str = Field(min_length=1, max_length=400, description="The note, shown on the chart.")
    date_from: When = Field(description=f"When it happened (or the range starts): {_WHEN}")
    date_to: When | None = Field(None, description=f"End of a range (left out: one moment). {_WHEN}")
    dashboard_id: str | None = Field(
        None, max_length=40, description="Only on this dashboard's charts; left out: on every time chart."
    )


class AnnotationUpdate(PatchModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"content": "Campaign (extended)"}]})
    nullable: ClassVar[frozenset[str]] = frozenset({"date_to"})

    content: str | None = Field(None, min_length=1, max_length=400)
    date_from: When | None = None
    date_to: When | None = Field(None, description="null makes a range a single moment.")


class AnnotationPublic(BaseModel):
    id: str
    content: str
    date_from: datetime
    date_to: datetime | None = Field(None, description="End of a range (exclusive); null for one moment.")
    dashboard_id: str | None = Field(None, description="The dashboard it belongs to; null: tenant-wide.")
    scope: Literal["tenant", "dashboard"]
    created_at: datetime
    updated_at: datetime


class AnnotationMark(BaseModel):
    """An annotation placed on a time chart: the bucket (as the points' `bucket`) it falls in."""

    id: str
    content: str
    date_from: datetime
    date_to: datetime | None = None
    scope: Literal["tenant", "dashboard"]
    bucket: str = Field(description="The chart's bucket holding the start (or the range's first bucket).")
    bucket_to: str | None = Field(None, description="For a range: the chart's bucket holding its end.")
