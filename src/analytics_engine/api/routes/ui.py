"""The web page: `/ui/` (one page of plain ES modules, no build step) and its static assets, shipped
inside the Python package. Text assets go gzip-compressed to browsers that accept it.

Caching by content hash, without a build: the page names every asset with `?v=<hash of its bytes>`
and carries an import map sending each module's plain URL to its versioned one (so a module's own
`import "./api.js"` and the lazy `import("./builder.js")` get versioned URLs too). A versioned URL
whose hash is current is cached for a year as immutable: a repeat visit asks the server for the page
alone. The page itself, and any asset asked for without its current hash, is `no-cache` with an ETag
(a 304 when unchanged)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

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
IMMUTABLE = "public, max-age=31536000, immutable"
# `/ui/static/<path>` in the page's `href`/`src` attributes (the vendored files carry their version in
# their names already)
_ASSET = re.compile(r'(?P<attr>(?:href|src))="/ui/static/(?P<path>(?!vendor/)[^"?#]+)"')


@lru_cache(maxsize=128)
def _file(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    """The file's bytes and their hash, read once per version (`mtime_ns` is part of the cache key)."""
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


@lru_cache(maxsize=128)
def _gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _read(path: Path) -> tuple[bytes, str]:
    return _file(path, path.stat().st_mtime_ns)


def _versions() -> dict[str, str]:
    """Every module and stylesheet of the page: its path under static/ and its content hash."""
    files = [STATIC / "app.css", *sorted((STATIC / "js").glob("*.js"))]
    return {str(f.relative_to(STATIC)): _read(f)[1] for f in files}


@lru_cache(maxsize=8)
def _page(template: bytes, versions_key: tuple[tuple[str, str], ...]) -> bytes:
    versions = dict(versions_key)
    text = template.decode()
    text = _ASSET.sub(
        lambda m: (
            f'{m["attr"]}="/ui/static/{m["path"]}?v={versions[m["path"]]}"' if m["path"] in versions else m.group(0)
        ),
        text,
    )
    imports = {f"/ui/static/{p}": f"/ui/static/{p}?v={v}" for p, v in versions.items() if p.endswith(".js")}
    importmap = f'<script type="importmap">{json.dumps({"imports": imports}, separators=(",", ":"))}</script>'
    # before every module script and modulepreload: an import map must come first
    return text.replace('<meta charset="utf-8">', f'<meta charset="utf-8">\n  {importmap}', 1).encode()


def _send(request: Request, data: bytes, suffix: str, tag: str, cache: str) -> Response:
    etag = f'"{tag}"'
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    media_type = _TYPES.get(suffix)
    if suffix in _COMPRESSED and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(_gzipped(data), media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(data, media_type=media_type, headers=headers)


@router.get("/ui")
def ui_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/")
def ui_page(request: Request) -> Response:
    return send_page(request, "index.html", "no-cache")


def send_page(request: Request, name: str, cache: str) -> Response:
    """An HTML page of static/ with its modules and stylesheets pointed at their content-hashed URLs."""
    template, _ = _read(STATIC / name)
    page = _page(template, tuple(sorted(_versions().items())))
    return _send(request, page, ".html", hashlib.sha256(page).hexdigest()[:16], cache)


@router.get("/ui/static/{path:path}")
def ui_static(path: str, request: Request) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise NotFound(f"No asset {path!r}.")
    data, tag = _read(target)
    versioned = request.query_params.get("v") == tag
    cache = IMMUTABLE if versioned or "/vendor/" in f"/{path}" else "no-cache"
    return _send(request, data, target.suffix, tag, cache)
