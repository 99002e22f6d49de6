"""The web page: `/ui/` (one page of plain ES modules, no build step) and its static assets, shipped
inside the Python package. Text assets go gzip-compressed to browsers that accept it."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from analytics_engine.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC = (Path(__file__).resolve().parents[2] / "ui" / "static").resolve()
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".md": "text/plain",
}
_COMPRESSED = {".js", ".css", ".html", ".svg"}


@lru_cache(maxsize=64)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    """The file compressed once per version (`mtime_ns` is part of the cache key)."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


def _send(request: Request, target: Path, cache: str) -> Response:
    media_type = _TYPES.get(target.suffix)
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if target.suffix in _COMPRESSED and "gzip" in request.headers.get("accept-encoding", ""):
        body = _gzipped(target, target.stat().st_mtime_ns)
        return Response(body, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return FileResponse(target, media_type=media_type, headers=headers)


@router.get("/ui")
def ui_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/")
def ui_page(request: Request) -> Response:
    return _send(request, STATIC / "index.html", "no-cache")


@router.get("/ui/static/{path:path}")
def ui_static(path: str, request: Request) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise NotFound(f"No asset {path!r}.")
    cache = "public, max-age=86400, immutable" if "/vendor/" in f"/{path}" else "no-cache"
    return _send(request, target, cache)
