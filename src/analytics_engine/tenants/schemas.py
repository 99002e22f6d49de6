"""Request and response models of tenants and keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from analytics_engine.validation import PatchModel


class Scope(StrEnum):
    ingest = "ingest"
    read = "read"
    admin = "admin"


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


SizeBand = Literal["micro", "small", "medium", "large"]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    timezone: str = "UTC"
    industry: str | None = Field(None, min_length=1, max_length=100, description="Impact benchmark peer group.")
    region: str | None = Field(None, min_length=1, max_length=100, description="Impact benchmark peer group.")
    size_band: SizeBand | None = Field(None, description="micro (<10 staff), small (<50), medium (<250), large.")
    data_sharing_opt_in: bool = Field(False, description="Share anonymised figures in cross-tenant benchmarks.")

    _tz = field_validator("timezone")(check_timezone)


class TenantUpdate(PatchModel):
    # The peer-group attributes may be cleared (the tenant then joins no benchmark group).
    nullable = frozenset({"industry", "region", "size_band"})
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    industry: str | None = Field(None, min_length=1, max_length=100)
    region: str | None = Field(None, min_length=1, max_length=100)
    size_band: SizeBand | None = None
    data_sharing_opt_in: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class TenantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    timezone: str
    industry: str | None = None
    region: str | None = None
    size_band: str | None = None
    data_sharing_opt_in: bool = False
    created_at: datetime
    updated_at: datetime


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(default_factory=lambda: [Scope.ingest, Scope.read], min_length=1)
    name: str | None = Field(None, max_length=200)


class KeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    prefix: str
    scopes: list[Scope]
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret key. Shown once; only its hash is stored.")
