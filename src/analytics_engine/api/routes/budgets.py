"""Query budgets: a tenant reads its own consumption; the platform admin reads and sets limits."""

from __future__ import annotations

from fastapi import APIRouter

from analytics_engine.api.deps import AdminDep, ReadTenant, RuntimeDep
from analytics_engine.budgets import BudgetPublic, BudgetUpdate, UsagePublic

router = APIRouter(tags=["budgets"])


@router.get("/v1/usage", response_model=UsagePublic, summary="This tenant's query consumption today and its limits")
def get_usage(tenant: ReadTenant, runtime: RuntimeDep) -> UsagePublic:
    return runtime.budgets.usage(tenant.tenant_id)


@router.get(
    "/v1/admin/tenants/{tenant_id}/budget",
    response_model=BudgetPublic,
    tags=["admin: tenants"],
    summary="A tenant's query budget: limits in force, overrides, defaults",
)
def get_budget(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> BudgetPublic:
    return runtime.budgets.get_budget(tenant_id)


@router.put(
    "/v1/admin/tenants/{tenant_id}/budget",
    response_model=BudgetPublic,
    tags=["admin: tenants"],
    summary="Set a tenant's query budget (fields left out use the defaults)",
)
def put_budget(tenant_id: str, body: BudgetUpdate, runtime: RuntimeDep, _: AdminDep) -> BudgetPublic:
    return runtime.budgets.set_budget(tenant_id, body)
