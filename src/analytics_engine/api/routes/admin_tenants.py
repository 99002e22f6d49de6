from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from analytics_engine.api.deps import AdminDep, RuntimeDep
from analytics_engine.tenants.purge import purge_tenant_data, purge_tenant_files
from analytics_engine.tenants.schemas import (
    KeyCreate,
    KeyCreated,
    KeyPublic,
    TenantCreate,
    TenantPublic,
    TenantUpdate,
)

router = APIRouter(prefix="/v1/admin/tenants", tags=["admin: tenants"])


@router.post("", status_code=201, response_model=TenantPublic, summary="Create a tenant")
async def create_tenant(body: TenantCreate, runtime: RuntimeDep, _: AdminDep) -> TenantPublic:
    tenant = await asyncio.to_thread(runtime.tenants.create, body)
    await runtime.bus.publish("tenant.created", {"name": tenant.name, "timezone": tenant.timezone}, tenant_id=tenant.id)
    return tenant


@router.get("", response_model=list[TenantPublic], summary="List tenants")
def list_tenants(runtime: RuntimeDep, _: AdminDep) -> list[TenantPublic]:
    return runtime.tenants.list()


@router.get("/{tenant_id}", response_model=TenantPublic, summary="One tenant")
def get_tenant(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> TenantPublic:
    return runtime.tenants.get(tenant_id)


@router.patch("/{tenant_id}", response_model=TenantPublic, summary="Rename a tenant or change its time zone")
def update_tenant(tenant_id: str, body: TenantUpdate, runtime: RuntimeDep, _: AdminDep) -> TenantPublic:
    return runtime.tenants.update(tenant_id, body)


@router.delete("/{tenant_id}", status_code=204, summary="Delete a tenant, its keys and all its warehouse data")
async def delete_tenant(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> Response:
    await asyncio.to_thread(runtime.tenants.delete, tenant_id)
    tables = await asyncio.to_thread(purge_tenant_data, runtime.warehouse, tenant_id)
    files = await asyncio.to_thread(purge_tenant_files, runtime.storage, tenant_id)
    await runtime.bus.publish("tenant.deleted", {"purged_tables": tables, "purged_files": files}, tenant_id=tenant_id)
    return Response(status_code=204)


@router.post("/{tenant_id}/keys", status_code=201, response_model=KeyCreated, summary="Create an API key (shown once)")
def create_key(tenant_id: str, body: KeyCreate, runtime: RuntimeDep, _: AdminDep) -> KeyCreated:
    return runtime.tenants.create_key(tenant_id, body)


@router.get("/{tenant_id}/keys", response_model=list[KeyPublic], summary="List a tenant's keys")
def list_keys(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> list[KeyPublic]:
    return runtime.tenants.list_keys(tenant_id)


@router.delete("/{tenant_id}/keys/{key_id}", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(tenant_id: str, key_id: str, runtime: RuntimeDep, _: AdminDep) -> KeyPublic:
    return runtime.tenants.revoke_key(tenant_id, key_id)
