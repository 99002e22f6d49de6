"""The taxonomy's API shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

JsonType = Literal["string", "number", "boolean", "array", "object", "other"]


class Annotations(BaseModel):
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    verified: bool = False
    hidden: bool = False


class EventEntry(Annotations):
    name: str
    volume: int = Field(description="Events with this name (kept in the rollups, within hot retention).")
    first_seen: date | None = Field(None, description="UTC day of the first event (from the rollups).")
    last_seen: date | None = None


class TypeCount(BaseModel):
    type: JsonType
    events: int
    last_seen: datetime


class PropertyEntry(Annotations):
    key: str = Field(description="Property path (`plan`, `utm.source` for nested keys).")
    type: JsonType = Field(description="The type most events carried it with.")
    types: list[TypeCount] = Field(description="Every type it came with, most events first.")
    volume: int = Field(description="Events that carried it.")
    event_names: list[str] = Field(description="Events it came with (at most 20, busiest first).")
    first_seen: datetime
    last_seen: datetime


class TaxonomyWarning(BaseModel):
    kind: Literal["type_changed", "possible_typo", "group_type_limit"]
    subject: str = Field(
        description="The property key (type_changed), the new event name (possible_typo) or the "
        "`$groups.<type>` key of a group type over the limit of 5 (group_type_limit)."
    )
    message: str
    count: int = Field(
        description="Events concerned: with the minority types, with the suspect name, or carrying the "
        "undeclared group type's key."
    )
    details: dict[str, object] = Field(default_factory=dict)


class Taxonomy(BaseModel):
    events: list[EventEntry]
    properties: list[PropertyEntry]
    warnings: list[TaxonomyWarning]


class AnnotationUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"description": "A volunteer signed up", "tags": ["core"], "verified": True}]},
    )

    description: str | None = Field(None, max_length=2000)
    tags: list[str] | None = Field(None, max_length=20)
    verified: bool | None = None
    hidden: bool | None = None

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = sorted({tag.strip() for tag in value})
        if any(not tag or len(tag) > 50 for tag in cleaned):
            raise ValueError("a tag is 1-50 characters")
        return cleaned


class AnnotatedName(Annotations):
    kind: Literal["event", "property"]
    name: str
    updated_at: datetime
