from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from analytics_engine.api.deps import AdminDep, RuntimeDep
from analytics_engine.api.openapi import errors, examples
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


@router.post(
    "",
    status_code=201,
    response_model=TenantPublic,
    summary="Create a tenant",
    openapi_extra=examples(request={"name": "Acme Learning", "timezone": "Europe/Oslo"}),
    responses=errors(409),
)
async def create_tenant(body: TenantCreate, runtime: RuntimeDep, _: AdminDep) -> TenantPublic:
    """Creates a tenant (platform admin key). Its `timezone` (IANA) is the default of its queries. A
    name already taken is a 409. Publishes `tenant.created`."""
    tenant = await asyncio.to_thread(runtime.tenants.create, body)
    await runtime.bus.publish("tenant.created", {"name": tenant.name, "timezone": tenant.timezone}, tenant_id=tenant.id)
    return tenant


@router.get("", response_model=list[TenantPublic], summary="List tenants")
def list_tenants(runtime: RuntimeDep, _: AdminDep) -> list[TenantPublic]:
    """Every tenant, oldest first (platform admin key)."""
    return runtime.tenants.list()


@router.get("/{tenant_id}", response_model=TenantPublic, summary="One tenant")
def get_tenant(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> TenantPublic:
    """One tenant by id (platform admin key); 404 when there is none."""
    return runtime.tenants.get(tenant_id)


@router.patch(
    "/{tenant_id}",
    response_model=TenantPublic,
    summary="Rename a tenant or change its time zone",
    openapi_extra=examples(request={"timezone": "Europe/Berlin", "industry": "education"}),
    responses=errors(409),
)
def update_tenant(tenant_id: str, body: TenantUpdate, runtime: RuntimeDep, _: AdminDep) -> TenantPublic:
    """Changes a tenant's name, time zone or benchmark peer-group attributes; fields left out keep
    their value, `null` clears the clearable ones (docs/api.md, PATCH and null). A taken name is a 409."""
    return runtime.tenants.update(tenant_id, body)


@router.delete("/{tenant_id}", status_code=204, summary="Delete a tenant, its keys and all its warehouse data")
async def delete_tenant(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> Response:
    """Deletes the tenant, its keys, every warehouse row and every stored file of it, then publishes
    `tenant.deleted`. Irreversible."""
    await asyncio.to_thread(runtime.tenants.delete, tenant_id)
    tables = await asyncio.to_thread(purge_tenant_data, runtime.warehouse, tenant_id)
    files = await asyncio.to_thread(purge_tenant_files, runtime.storage, tenant_id)
    await runtime.bus.publish("tenant.deleted", {"purged_tables": tables, "purged_files": files}, tenant_id=tenant_id)
    return Response(status_code=204)


@router.post(
    "/{tenant_id}/keys",
    status_code=201,
    response_model=KeyCreated,
    summary="Create an API key (shown once)",
    openapi_extra=examples(request={"scopes": ["ingest", "read"], "name": "website"}),
)
def create_key(tenant_id: str, body: KeyCreate, runtime: RuntimeDep, _: AdminDep) -> KeyCreated:
    """Creates an API key for the tenant with the given scopes (`ingest`, `read`, `admin`). The key is
    in this answer only; the service keeps its hash."""
    return runtime.tenants.create_key(tenant_id, body)


@router.get("/{tenant_id}/keys", response_model=list[KeyPublic], summary="List a tenant's keys")
def list_keys(tenant_id: str, runtime: RuntimeDep, _: AdminDep) -> list[KeyPublic]:
    """The tenant's keys without their secrets: id, prefix, scopes, name, created and revoked times."""
    return runtime.tenants.list_keys(tenant_id)


@router.delete("/{tenant_id}/keys/{key_id}", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(tenant_id: str, key_id: str, runtime: RuntimeDep, _: AdminDep) -> KeyPublic:
    """Revokes a key at once; requests with it are 401 from then on. Answers the revoked key."""
    return runtime.tenants.revoke_key(tenant_id, key_id)
