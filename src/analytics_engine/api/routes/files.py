"""Downloads of local storage objects at HMAC-signed, expiring URLs (no API key: the signature is
the permission). A tampered, expired or other-tenant URL is a 403."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from analytics_engine.api.deps import RuntimeDep
from analytics_engine.api.openapi import errors
from analytics_engine.errors import Forbidden, NotFound
from analytics_engine.storage.base import content_type_for

router = APIRouter(tags=["files"])


@router.get("/v1/files/{tenant_id}/{key:path}", summary="Download a file by its signed link", responses=errors(403))
def download(
    tenant_id: str, key: str, runtime: RuntimeDep, expires: str | None = None, signature: str | None = None
) -> StreamingResponse:
    """Downloads a stored file (an export, a report) at the signed, expiring URL an answer gave. No
    key: the signature is the permission; a tampered, expired or other-tenant link is a 403."""
    runtime.signer.verify(tenant_id, key, expires, signature)
    storage = runtime.storage
    try:
        info = storage.info(tenant_id, key)
    except Exception as exc:  # a key that could never have been signed
        raise Forbidden("This download link is not valid.", code="bad_signature") from exc
    if info is None:
        raise NotFound("The file no longer exists (it may have expired).")
    filename = key.rsplit("/", 1)[-1]
    return StreamingResponse(
        storage.open(tenant_id, key),
        media_type=content_type_for(key),
        headers={
            "Content-Length": str(info.size),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
