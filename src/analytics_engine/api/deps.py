"""Dependencies routes declare: the runtime, and who is asking (tenant key with a scope, or admin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from analytics_engine.errors import Forbidden, Unauthorized
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import Scope
from analytics_engine.tenants.service import TenantContext, admin_key_matches


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime  # Starlette's app.state is untyped
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    return token.strip()


def require_admin(request: Request, runtime: RuntimeDep) -> None:
    if not admin_key_matches(bearer_token(request), runtime.settings.admin_key):
        raise Unauthorized("This route needs the platform admin key.")


def tenant_with(scope: Scope) -> Callable[[Request, Runtime], TenantContext]:
    """A dependency resolving the key's tenant and checking it carries `scope`."""

    def dependency(request: Request, runtime: RuntimeDep) -> TenantContext:
        token = bearer_token(request)
        if admin_key_matches(token, runtime.settings.admin_key):
            raise Forbidden("The platform admin key does not act for a tenant; use a tenant key.")
        context = runtime.tenants.authenticate(token)
        context.require(scope)
        request.state.tenant_id = context.tenant_id
        return context

    return dependency


AdminDep = Annotated[None, Depends(require_admin)]
IngestTenant = Annotated[TenantContext, Depends(tenant_with(Scope.ingest))]
ReadTenant = Annotated[TenantContext, Depends(tenant_with(Scope.read))]
AdminTenant = Annotated[TenantContext, Depends(tenant_with(Scope.admin))]
