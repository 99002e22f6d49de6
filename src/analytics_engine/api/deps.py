"""Dependencies routes declare: the runtime, and who is asking (tenant key with a scope, or admin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from analytics_engine.errors import Forbidden, InvalidInput, Unauthorized
from analytics_engine.runtime import Runtime
from analytics_engine.tenants.schemas import Scope
from analytics_engine.tenants.service import TenantContext, admin_key_matches

# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the thread
# pool, a hop that costs more than the work (issue 18, cached renders). Those that read the metadata
# database (`tenant_with`) stay `def`, off the event loop.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime  # Starlette's app.state is untyped
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    return token.strip()


# Declared for the API description only (Swagger's Authorize; api/openapi.py derives 401/403 from them);
# the header is read by `bearer_token` for our own messages.
TENANT_KEY = HTTPBearer(
    scheme_name="tenantKey", description="A tenant API key (`ae_...`) with the route's scope.", auto_error=False
)
ADMIN_KEY = HTTPBearer(
    scheme_name="adminKey", description="The platform admin key (ANALYTICS_ADMIN_KEY).", auto_error=False
)
TenantKeyDoc = Annotated[HTTPAuthorizationCredentials | None, Security(TENANT_KEY)]
AdminKeyDoc = Annotated[HTTPAuthorizationCredentials | None, Security(ADMIN_KEY)]


async def require_admin(request: Request, runtime: RuntimeDep, _key: AdminKeyDoc) -> None:
    if not admin_key_matches(bearer_token(request), runtime.settings.admin_key):
        raise Unauthorized("This route needs the platform admin key.")


def tenant_with(scope: Scope) -> Callable[..., TenantContext]:
    """A dependency resolving the key's tenant and checking it carries `scope`."""

    def dependency(request: Request, runtime: RuntimeDep, _key: TenantKeyDoc = None) -> TenantContext:
        token = bearer_token(request)
        if admin_key_matches(token, runtime.settings.admin_key):
            raise Forbidden("The platform admin key does not act for a tenant; use a tenant key.")
        context = runtime.tenants.authenticate(token)
        context.require(scope)
        request.state.tenant_id = context.tenant_id
        return context

    return dependency


async def single_query_values(request: Request) -> None:
    """A query parameter the route reads as one value, sent several times, is a 422 (not "the last
    wins"). An app-wide dependency (create_app); list parameters may repeat."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or len(request.query_params.multi_items()) == len(request.query_params):
        return
    for param in get_flat_params(dependant):
        name = param.alias or param.name
        repeated = len(request.query_params.getlist(name)) > 1
        if (
            repeated
            and isinstance(param.field_info, Query)
            and not field_annotation_is_sequence(param.field_info.annotation)
        ):
            raise InvalidInput(
                f"query parameter {name!r} takes one value; it was sent several times",
                details={"errors": [{"loc": ["query", name], "message": "sent several times", "type": "repeated"}]},
            )


AdminDep = Annotated[None, Depends(require_admin)]
IngestTenant = Annotated[TenantContext, Depends(tenant_with(Scope.ingest))]
ReadTenant = Annotated[TenantContext, Depends(tenant_with(Scope.read))]
AdminTenant = Annotated[TenantContext, Depends(tenant_with(Scope.admin))]
