"""Query budgets: a tenant reads its own consumption; the platform admin reads and sets limits."""

from __future__ import annotations

from fastapi import APIRouter

from analytics_engine.api.deps import AdminDep, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import examples
from analytics_engine.budgets import BudgetPublic, BudgetUpdate, UsagePublic

router = APIRouter(tags=["budgets"])


@router.get("/v1/usage", response_model=UsagePublic, summary="This tenant's query consumption today and its limits")
def get_usage(tenant: ReadTenant, runtime: RuntimeDep) -> UsagePublic:
    """This tenant's query consumption today (queries, rejected, query seconds, rows and bytes read,
    running), its limits and what remains; resets at midnight UTC."""
    return runtime.budgets.usage(tenant.tenant_id)


@router.get(
    "/v1/admin/tenants/{tenant_id}/budget",
    response_model=BudgetPublic,
    tags=["admin: tenants"],
    summary="A tenant's query budget: limits in force, overrides, defaults",
)
def get_budget(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> BudgetPublic:
    """A tenant's query limits in force, its overrides and the platform defaults (platform admin key)."""
    return runtime.budgets.get_budget(tenant_id)


@router.put(
    "/v1/admin/tenants/{tenant_id}/budget",
    response_model=BudgetPublic,
    tags=["admin: tenants"],
    summary="Set a tenant's query budget (fields left out use the defaults)",
    openapi_extra=examples(request={"max_concurrent_queries": 2, "query_seconds_per_day": 600}),
)
def put_budget(tenant_id: str, body: BudgetUpdate, runtime: RuntimeDep, _: AdminDep) -> BudgetPublic:
    """Replaces a tenant's overrides: a field left out or `null` falls back to the default; applies at
    once here and within 5 s in other processes."""
    return runtime.budgets.set_budget(tenant_id, body)
