"""Impact measurement: SROI, VIS, volunteer ranking, benchmarks, formula versions, vocabulary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from analytics_engine.api.deps import AdminDep, AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.impact.inputs import Vocabulary
from analytics_engine.impact.registry import FormulaCreate, FormulaPublic
from analytics_engine.impact.service import make_window
from analytics_engine.tenants.schemas import SizeBand, TenantUpdate
from analytics_engine.validation import PatchModel

router = APIRouter(tags=["impact"])

Start = Annotated[date | None, Query(description="First day of the period (UTC); default: 365 days before end.")]
End = Annotated[date | None, Query(description="Last day of the period (UTC, inclusive); default: today.")]
Programme = Annotated[str | None, Query(min_length=1, max_length=200, description="Only this programme.")]
Version = Annotated[int | None, Query(ge=1, description="Formula version (default: the one in force).")]


class BenchmarkPublic(BaseModel):
    """Aggregates of the peer group, and the asking tenant's own value and rank; nothing else."""

    metric: str
    compare_with: str
    group: str | None = Field(description="The peer group the answer (and the tenant's figure) belongs to.")
    current_group: str | None = Field(
        None,
        description="The tenant's group now, when it differs from `group` (changed since the last refresh; "
        "its statistics come with the next refresh).",
    )
    suppressed: bool
    reason: str | None
    peer_tenants: int | None
    k: int
    value: float | None
    percentile_rank: float | None
    p10: float | None
    p25: float | None
    p50: float | None
    p75: float | None
    p90: float | None
    mean: float | None
    epsilon: float | None
    refreshed_at: datetime | None


@router.get("/v1/impact/sroi", summary="This tenant's SROI with its explanation", responses=errors(404))
async def get_sroi(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    start: Start = None,
    end: End = None,
    programme: Programme = None,
    formula_version: Version = None,
) -> dict[str, Any]:
    """This tenant's social return on investment for a period (and programme): the ratio, present
    value, investment, band, confidence and the explanation of each step. Records a result."""
    window = make_window(start, end, programme)
    return await runtime.impact.calculate("sroi", tenant.tenant_id, window, version=formula_version)


@router.get(
    "/v1/impact/vis", summary="This tenant's (or one programme's) Volunteer Impact Score", responses=errors(404)
)
async def get_vis(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    start: Start = None,
    end: End = None,
    programme: Programme = None,
    formula_version: Version = None,
    breakdown: Annotated[bool, Query(description="Add the component breakdown and per-programme scores.")] = False,
) -> dict[str, Any]:
    """The Volunteer Impact Score of this tenant (or one programme) for a period; `breakdown=true`
    adds its components and one score per programme. Records a result."""
    window = make_window(start, end, programme)
    return await runtime.impact.calculate("vis", tenant.tenant_id, window, version=formula_version, breakdown=breakdown)


@router.get("/v1/impact/vis/volunteers", summary="Volunteers ranked by VIS, paged", responses=errors(404))
def get_volunteers(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    start: Start = None,
    end: End = None,
    programme: Programme = None,
    formula_version: Version = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Volunteers ranked by VIS (then id), paged, each with the breakdown of their score."""
    window = make_window(start, end, programme)
    return runtime.impact.volunteers(tenant.tenant_id, window, version=formula_version, limit=limit, offset=offset)


@router.get("/v1/impact/results", summary="Recorded SROI and VIS results (newest first)")
def list_results(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    kind: Literal["sroi", "vis"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Recorded SROI and VIS results, newest first, each with the formula version that computed it."""
    return runtime.impact.list_results(tenant.tenant_id, kind, limit)


@router.get("/v1/impact/results/{result_id}", summary="One recorded result, with the formula version that computed it")
def get_result(result_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> dict[str, Any]:
    """One recorded result in full; another tenant's id is a 404."""
    return runtime.impact.get_result(tenant.tenant_id, result_id)


@router.get("/v1/impact/benchmarks", response_model=BenchmarkPublic, summary="Where this tenant stands among peers")
def get_benchmarks(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    metric: Literal["sroi", "vis"],
    compare_with: Literal["industry", "region", "size"],
) -> dict[str, Any]:
    """Where this tenant stands among opted-in peers (industry, region or size band): percentiles,
    mean and its rank; suppressed below k peers or when the tenant has not opted in."""
    return runtime.impact.benchmark(tenant.tenant_id, metric, compare_with)


@router.get("/v1/impact/formulas", response_model=list[FormulaPublic], summary="SROI and VIS formula versions")
def list_formulas(
    _: ReadTenant, runtime: RuntimeDep, kind: Literal["sroi", "vis"] | None = None
) -> list[FormulaPublic]:
    """Every SROI and VIS formula version with the one in force flagged."""
    return runtime.impact.registry.list(kind)


class SharingPublic(BaseModel):
    """This tenant's benchmark peer-group attributes and its data-sharing consent."""

    industry: str | None
    region: str | None
    size_band: str | None
    data_sharing_opt_in: bool


class SharingUpdate(PatchModel):
    nullable = frozenset({"industry", "region", "size_band"})
    model_config = ConfigDict(extra="forbid")

    industry: str | None = Field(None, min_length=1, max_length=100)
    region: str | None = Field(None, min_length=1, max_length=100)
    size_band: SizeBand | None = None
    data_sharing_opt_in: bool | None = Field(None, description="Share anonymised figures in benchmarks.")


@router.get("/v1/impact/sharing", response_model=SharingPublic, summary="This tenant's benchmark sharing settings")
def get_sharing(tenant: ReadTenant, runtime: RuntimeDep) -> SharingPublic:
    """This tenant's benchmark peer-group attributes and its data-sharing consent."""
    return SharingPublic.model_validate(runtime.tenants.get(tenant.tenant_id), from_attributes=True)


@router.put(
    "/v1/impact/sharing",
    response_model=SharingPublic,
    summary="Opt in or out of benchmarks (tenant admin)",
    openapi_extra=examples(request={"data_sharing_opt_in": True, "industry": "education", "size_band": "medium"}),
)
def put_sharing(body: SharingUpdate, tenant: AdminTenant, runtime: RuntimeDep) -> SharingPublic:
    """Changes this tenant's peer-group attributes or consent (tenant `admin` scope); fields left out
    keep their value."""
    updated = runtime.tenants.update(tenant.tenant_id, TenantUpdate(**body.model_dump(exclude_unset=True)))
    return SharingPublic.model_validate(updated, from_attributes=True)


@router.get("/v1/impact/vocabulary", response_model=Vocabulary, summary="This tenant's impact event vocabulary")
def get_vocabulary(tenant: ReadTenant, runtime: RuntimeDep) -> Vocabulary:
    """The event and property names this tenant's impact figures read (defaults where not remapped)."""
    return runtime.impact.vocabulary(tenant.tenant_id)


@router.put(
    "/v1/impact/vocabulary",
    response_model=Vocabulary,
    summary="Remap impact event and property names",
    openapi_extra=examples(request={"activity_event": "shift_logged", "hours": "duration_h", "volunteer_id": "helper"}),
)
def put_vocabulary(body: dict[str, Any], tenant: AdminTenant, runtime: RuntimeDep) -> Vocabulary:
    """Remaps impact event and property names to this tenant's own; names are bound as parameters,
    never put into SQL."""
    return runtime.impact.set_vocabulary(tenant.tenant_id, body)


@router.get(
    "/v1/admin/impact/formulas",
    response_model=list[FormulaPublic],
    tags=["admin: impact"],
    summary="SROI and VIS formula versions (platform admin)",
)
def admin_list_formulas(
    runtime: RuntimeDep, _: AdminDep, kind: Literal["sroi", "vis"] | None = None
) -> list[FormulaPublic]:
    """Every formula version (platform admin key)."""
    return runtime.impact.registry.list(kind)


@router.post(
    "/v1/admin/impact/formulas",
    status_code=201,
    tags=["admin: impact"],
    summary="Add a formula version (or dry-run it: how many recent results would move by more than 20%)",
    openapi_extra=examples(
        request={
            "kind": "vis",
            "definition": {
                "weights": {"hours": 0.3, "consistency": 0.3, "outcome": 0.4},
                "scales": {"hours_per_month": 20.0, "sessions_per_month": 4.0, "outcome_gain": 0.25},
                "bands": [
                    {"name": "Emerging", "min_score": 0.0},
                    {"name": "Contributing", "min_score": 25.0},
                    {"name": "High Impact", "min_score": 50.0},
                    {"name": "Exceptional", "min_score": 75.0},
                ],
            },
            "note": "same weights, restated",
        }
    ),
)
def add_formula(
    body: FormulaCreate,
    runtime: RuntimeDep,
    _: AdminDep,
    response: Response,
    dry_run: Annotated[bool, Query(description="Compare only; store nothing.")] = False,
) -> dict[str, Any]:
    """Adds a formula version, in force from `effective_from` (201); with `dry_run=true` stores
    nothing and answers (200) how many recent results would move by more than 20 %."""
    service = runtime.impact
    if dry_run:
        response.status_code = 200
        return service.dry_run(body)
    return service.registry.add(body).model_dump(mode="json")


@router.post("/v1/admin/impact/benchmarks/refresh", tags=["admin: impact"], summary="Refresh benchmarks now")
async def refresh_benchmarks(runtime: RuntimeDep, _: AdminDep) -> dict[str, Any]:
    """Recomputes the benchmark aggregates now instead of at the next scheduled refresh (platform
    admin key)."""
    return await runtime.impact.refresh_benchmarks()
