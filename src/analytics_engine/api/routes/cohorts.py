from __future__ import annotations

import asyncio
import csv
import io

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.api.routes.events import read_body
from analytics_engine.cohorts.lifecycle import start_evaluation
from analytics_engine.cohorts.schemas import (
    CohortAnalysis,
    CohortCreate,
    CohortKind,
    CohortPublic,
    CohortUpdate,
    CohortVersionPublic,
    MembersPage,
)
from analytics_engine.errors import BadRequest, InvalidInput, field_errors, summarize
from analytics_engine.jobs.schemas import JobPublic
from analytics_engine.validation import MAX_OFFSET

router = APIRouter(prefix="/v1/cohorts", tags=["cohorts"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": "distinct_id\nu-1\nu-2\n"},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {"schema": {"type": "array", "items": {"type": "string"}}},
        },
    }
}


def parse_csv(text: str) -> list[str]:
    """The `distinct_id` column when a header names it, else the first column; blank lines skipped."""
    # newline="" lets the csv module see a lone "\r" itself (the csv docs' rule); without it a carriage
    # return inside a field raised csv.Error, a 500.
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row and any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise InvalidInput(f"The CSV cannot be read: {exc}.") from exc
    if not rows:
        return []
    header = [cell.strip().lstrip("\ufeff").lower() for cell in rows[0]]
    column = 0
    if "distinct_id" in header:
        column = header.index("distinct_id")
        rows = rows[1:]
    return [row[column] for row in rows if len(row) > column]


async def read_ids(request: Request, limit: int) -> list[str]:
    """distinct_ids from a multipart upload (first file), a text/csv body or a JSON list."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = next((value for value in form.values() if isinstance(value, UploadFile)), None)
        if upload is None:
            raise BadRequest("Attach the CSV as a file field (e.g. `-F file=@members.csv`).")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(f"The file is larger than {limit} bytes.")
        return parse_csv(data.decode("utf-8", errors="replace"))
    body = await read_body(request, limit)
    if content_type in ("text/csv", "text/plain", "application/csv"):
        return parse_csv(body.decode("utf-8", errors="replace"))
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("Send a CSV (text/csv or multipart) or a JSON list of distinct_ids.") from exc
    if isinstance(value, dict):
        value = value.get("distinct_ids")
    if not isinstance(value, list) or not all(isinstance(item, str | int) for item in value):
        raise InvalidInput("Expected a JSON list of distinct_ids (strings).")
    return [str(item) for item in value]


@router.get("", response_model=list[CohortPublic], summary="This tenant's cohorts")
def list_cohorts(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[CohortPublic]:
    """This tenant's cohorts with their kind, current version and size."""
    return runtime.cohorts.list(tenant.tenant_id, limit=limit, offset=offset)


@router.post(
    "",
    response_model=CohortPublic,
    status_code=201,
    summary="Define a cohort (dynamic or static)",
    openapi_extra=examples(
        request={
            "name": "engaged buyers",
            "definition": {
                "type": "group",
                "operator": "and",
                "criteria": [
                    {
                        "type": "event",
                        "event": "purchase",
                        "operator": "at_least",
                        "count": 2,
                        "window": {"last_days": 30},
                    }
                ],
            },
        }
    ),
    responses=errors(409),
)
def create_cohort(body: CohortCreate, tenant: AdminTenant, runtime: RuntimeDep) -> CohortPublic:
    """Defines a dynamic cohort (criteria evaluated to members in the background) or a static one
    (`distinct_ids`). A definition that refers back to itself is 422 `cohort_cycle`; a taken name 409."""
    return runtime.cohorts.create(tenant.tenant_id, body)


@router.post(
    "/static",
    response_model=CohortPublic,
    status_code=201,
    summary="A static cohort from a CSV upload (multipart or text/csv) or a JSON list of distinct_ids",
    openapi_extra=_UPLOAD_BODY,
    responses=errors(409, 413),
)
async def upload_static_cohort(
    request: Request,
    tenant: AdminTenant,
    runtime: RuntimeDep,
    name: str = Query(..., min_length=1, max_length=200),
    description: str | None = Query(None, max_length=2000),
) -> CohortPublic:
    """A static cohort named by `name` from a CSV (the `distinct_id` column, else the first) sent as
    multipart or text/csv, or from a JSON list of ids. Ids are trimmed, blanks dropped, duplicates merged."""
    ids = await read_ids(request, runtime.settings.ingest_max_body_bytes)
    try:
        body = CohortCreate(name=name, description=description, kind=CohortKind.static, distinct_ids=ids)
    except ValidationError as exc:
        raise InvalidInput.from_validation(summarize(field_errors(exc.errors()), "cohort"), exc.errors()) from exc
    return await asyncio.to_thread(runtime.cohorts.create, tenant.tenant_id, body)


@router.get("/{cohort_id}", response_model=CohortPublic, summary="One cohort")
def get_cohort(cohort_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> CohortPublic:
    """One cohort with its definition, current version, size and last evaluation time."""
    return runtime.cohorts.get(tenant.tenant_id, cohort_id)


@router.patch(
    "/{cohort_id}",
    response_model=CohortPublic,
    summary="Change a cohort",
    openapi_extra=examples(request={"description": "Bought twice in 30 days", "is_active": True}),
    responses=errors(409),
)
def update_cohort(cohort_id: str, body: CohortUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> CohortPublic:
    """Changes a cohort's name, description, definition, members (static) or active flag; a new
    definition is evaluated as a new version."""
    return runtime.cohorts.update(tenant.tenant_id, cohort_id, body)


@router.put(
    "/{cohort_id}/members",
    response_model=CohortPublic,
    summary="Replace a static cohort's members (CSV or JSON list), as a new version",
    openapi_extra=_UPLOAD_BODY,
    responses=errors(413),
)
async def replace_members(cohort_id: str, request: Request, tenant: AdminTenant, runtime: RuntimeDep) -> CohortPublic:
    """Replaces a static cohort's members (CSV or a JSON list) as a new version; a dynamic cohort is a
    422."""
    ids = await read_ids(request, runtime.settings.ingest_max_body_bytes)
    body = CohortUpdate(distinct_ids=ids)
    return await asyncio.to_thread(runtime.cohorts.update, tenant.tenant_id, cohort_id, body)


@router.delete("/{cohort_id}", status_code=204, summary="Delete a cohort and its members")
def delete_cohort(cohort_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """Deletes a cohort and its members; insights that filter on it get a 422 from then on."""
    runtime.cohorts.delete(tenant.tenant_id, cohort_id)
    return Response(status_code=204)


@router.post(
    "/{cohort_id}/evaluate",
    response_model=JobPublic,
    status_code=202,
    summary="Evaluate now, in the background: follow the job at /v1/jobs/{id}",
)
async def evaluate_cohort(cohort_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> JobPublic:
    """Queues an evaluation and answers its job at once (202); follow it at `GET /v1/jobs/{id}`.
    The result gives the new version, size, joined and left."""
    return await start_evaluation(runtime, tenant.tenant_id, cohort_id)


@router.get("/{cohort_id}/members", response_model=MembersPage, summary="Members (latest complete version)")
def cohort_members(
    cohort_id: str,
    tenant: ReadTenant,
    runtime: RuntimeDep,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> MembersPage:
    """Members of the latest complete version, paged; a dynamic cohort never evaluated is evaluated
    first."""
    return runtime.cohorts.members(tenant.tenant_id, cohort_id, limit=limit, offset=offset)


@router.get("/{cohort_id}/versions", response_model=list[CohortVersionPublic], summary="Recent evaluations")
def cohort_versions(
    cohort_id: str, tenant: ReadTenant, runtime: RuntimeDep, limit: int = Query(20, ge=1, le=200)
) -> list[CohortVersionPublic]:
    """The cohort's recent evaluations: version, size, joined, left, duration."""
    return runtime.cohorts.versions(tenant.tenant_id, cohort_id, limit)


@router.get("/{cohort_id}/analysis", response_model=CohortAnalysis, summary="Retention by signup week")
def cohort_analysis(cohort_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> CohortAnalysis:
    """Retention of the cohort's members by the week of their first event: users and share per
    period after it."""
    return runtime.cohorts.analysis(tenant.tenant_id, cohort_id)
