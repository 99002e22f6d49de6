"""The web dashboard: `/ui/` (one page) and its static assets, shipped inside the Python package."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

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


@router.get("/ui")
def ui_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/")
def ui_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/ui/static/{path:path}")
def ui_static(path: str) -> FileResponse:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise NotFound(f"No asset {path!r}.")
    cache = "public, max-age=86400, immutable" if "/vendor/" in f"/{path}" else "no-cache"
    return FileResponse(target, media_type=_TYPES.get(target.suffix), headers={"Cache-Control": cache})
