"""Sharing and embedding (docs/embedding.md): admins create, list and revoke embed tokens under
/v1/embeds; a token holder (no key) reads `/v1/embed/{token}` and opens the page `/embed/{token}`."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from analytics_engine.api.deps import AdminTenant, ReadTenant, RuntimeDep
from analytics_engine.api.openapi import errors, examples
from analytics_engine.api.routes.ui import send_page
from analytics_engine.embeds.schemas import EmbedCreate, EmbedCreated, EmbedPublic, EmbedView, ViewerFilters
from analytics_engine.embeds.service import MAX_LIST
from analytics_engine.errors import InvalidInput

router = APIRouter(tags=["embeds"])
page_router = APIRouter(include_in_schema=False)

_TOKEN = "emb_5f2c0d9e8a7b6c5d4e3f.1767780000.Zq3xR0mS9n2WbVv8Yd1pQk4tLh7uJc6eAa5sFg2HiKo"
_CREATED = {
    "id": "emb_5f2c0d9e8a7b6c5d4e3f",
    "kind": "dashboard",
    "title": "Volunteering at Acme",
    "dashboard_id": "dsh_1",
    "insight": None,
    "locked": {
        "date_from": None,
        "date_to": None,
        "properties": [{"key": "company", "operator": "eq", "value": "acme"}],
        "cohort_id": None,
        "timezone": None,
    },
    "status": "active",
    "created_at": "2026-12-07T09:30:00Z",
    "expires_at": "2026-12-14T09:30:00Z",
    "revoked_at": None,
    "last_used_at": None,
    "token": _TOKEN,
    "url": f"/embed/{_TOKEN}",
    "data_url": f"/v1/embed/{_TOKEN}",
}


@router.post(
    "/v1/embeds",
    response_model=EmbedCreated,
    status_code=201,
    summary="Create an embed token for one dashboard or one insight",
    responses=errors(404),
    openapi_extra=examples(
        request={
            "dashboard_id": "dsh_1",
            "title": "Volunteering at Acme",
            "locked": {"properties": [{"key": "company", "operator": "eq", "value": "acme"}]},
            "expires_in_seconds": 604800,
        },
        answer=_CREATED,
        status=201,
    ),
)
def create_embed(body: EmbedCreate, tenant: AdminTenant, runtime: RuntimeDep) -> EmbedCreated:
    """A signed, expiring, revocable read-only token for one dashboard (404 if this tenant does not own
    it) or one insight query, with `locked` filters every answer is computed with and a viewer cannot
    change. The token is shown once, with the page (`url`) and data (`data_url`) it opens. 422
    (`lock_not_supported`) for an insight whose kind cannot carry a locked filter."""
    return runtime.embeds.create(tenant, body)


@router.get("/v1/embeds", response_model=list[EmbedPublic], summary="This tenant's embed tokens, newest first")
def list_embeds(
    tenant: ReadTenant,
    runtime: RuntimeDep,
    dashboard_id: str | None = Query(None, max_length=40, description="Only the tokens of this dashboard."),
    limit: int = Query(100, ge=1, le=MAX_LIST),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[EmbedPublic]:
    """Every token with its target, locked filters, status (`active`, `expired`, `revoked`) and last use;
    never the token itself."""
    return runtime.embeds.find(tenant.tenant_id, dashboard_id=dashboard_id, limit=limit, offset=offset)


@router.get("/v1/embeds/{embed_id}", response_model=EmbedPublic, summary="One embed token")
def get_embed(embed_id: str, tenant: ReadTenant, runtime: RuntimeDep) -> EmbedPublic:
    """One token of this tenant (404 for another tenant's id)."""
    return runtime.embeds.get(tenant.tenant_id, embed_id)


@router.delete("/v1/embeds/{embed_id}", status_code=204, summary="Revoke an embed token")
def revoke_embed(embed_id: str, tenant: AdminTenant, runtime: RuntimeDep) -> Response:
    """From now on the token answers 401 (`embed_revoked`); it stays listed as revoked."""
    runtime.embeds.revoke(tenant.tenant_id, embed_id)
    return Response(status_code=204)


def viewer_filters(
    date_from: str | None = Query(None, max_length=40, description="Period start, unless the token locks it."),
    date_to: str | None = Query(None, max_length=40, description="Period end, unless the token locks it."),
    interval: str | None = Query(None, description="Interval of trend charts: hour, day, week, month, quarter."),
    properties: str | None = Query(
        None, max_length=4000, description="More property filters as JSON, added to the locked ones (narrowing)."
    ),
) -> ViewerFilters:
    values: dict[str, Any] = {"date_from": date_from, "date_to": date_to, "interval": interval}
    if properties:
        try:
            values["properties"] = orjson.loads(properties)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput("'properties' must be a JSON array of property filters") from exc
    try:
        return ViewerFilters.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise InvalidInput.from_validation("invalid viewer filters", exc.errors()) from exc


@router.get(
    "/v1/embed/{token}",
    response_model=EmbedView,
    summary="What an embed token shows (no key: the token is the credential)",
    responses=errors(401),
)
def view_embed(token: str, runtime: RuntimeDep, viewer: ViewerFilters = Depends(viewer_filters)) -> EmbedView:
    """The dashboard render (every widget, with the locked filters laid over it) or the insight answer.
    The viewer may pass `date_from`/`date_to` (422 `locked_filter` when the token locks the period),
    `interval` and `properties` (added to the locked filters, so they only narrow). 401 with code
    `invalid_token`, `embed_expired` or `embed_revoked`; 404 when the dashboard was deleted. A widget
    whose query cannot carry a locked filter answers an error (`lock_not_supported`), never unfiltered
    data."""
    return runtime.embeds.view(token, viewer)


@page_router.get("/embed/{token}")
def embed_page(token: str, request: Request) -> Response:
    response = send_page(request, "embed.html", "no-store")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = "frame-ancestors *"
    return response
