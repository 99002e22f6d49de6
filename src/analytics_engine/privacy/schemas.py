"""Request and response models of erasures (`/v1/privacy/erasures`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PropertyValue = str | int | float | bool


class ErasureCreate(BaseModel):
    """Whom to erase: one `distinct_id`, or every person whose latest person properties equal all of
    `properties` (e.g. `{"email": "ada@example.com"}`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"distinct_id": "user-42"}, {"properties": {"email": "ada@example.com"}}]},
    )

    distinct_id: str | None = Field(None, min_length=1, max_length=200, description="The person's id.")
    properties: dict[str, PropertyValue] | None = Field(
        None, min_length=1, max_length=10, description="Person properties that identify the people to erase."
    )
    suppress: bool = Field(
        False, description="Also refuse later events of the erased ids at ingest (kept as SHA-256 only)."
    )

    @model_validator(mode="after")
    def _one_selector(self) -> ErasureCreate:
        if (self.distinct_id is None) == (self.properties is None):
            raise ValueError("give exactly one of `distinct_id` or `properties`")
        return self

    def selector(self) -> dict[str, Any]:
        if self.distinct_id is not None:
            return {"distinct_id": self.distinct_id}
        return {"properties": self.properties}


class StoreReceipt(BaseModel):
    store: str = Field(description="Where the person's data lived (a table, cold files, stored files, the cache).")
    action: str = Field(description="deleted, recomputed, rewritten, invalidated.")
    rows_before: int = Field(description="Rows (or files) holding the person before the erasure.")
    rows_after: int = Field(description="What the verification query finds now (0 unless kept_after_cutoff).")
    verification: str = Field(description="The query (or check) that finds the person's rows in this store.")
    details: dict[str, Any] = Field(default_factory=dict)


class Receipt(BaseModel):
    erasure_id: str
    tenant_id: str
    subject: dict[str, Any] = Field(description="How the people were named, and the SHA-256 of each id.")
    requested_at: datetime
    cutoff: datetime = Field(description="Events received up to this instant are erased; later ones are kept.")
    physically_removed_at: datetime | None = Field(
        None, description="When the last mutation that rewrote the warehouse parts finished."
    )
    completed_at: datetime
    method: str
    stores: list[StoreReceipt]


class ErasureAccepted(BaseModel):
    id: str
    job_id: str
    status: str


class ErasurePublic(BaseModel):
    id: str
    job_id: str | None
    status: Literal["queued", "running", "completed", "failed", "cancelled"]
    selector: dict[str, Any] = Field(description="As requested (a distinct_id or properties).")
    suppress: bool
    requested_at: datetime
    completed_at: datetime | None
    error: str | None = None
    receipt: Receipt | None = None
    signature: str | None = Field(None, description="HMAC-SHA256 of the receipt's canonical JSON (docs/privacy.md).")


class ErasureList(BaseModel):
    erasures: list[ErasurePublic]
