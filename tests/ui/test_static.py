"""The page and its assets come from the Python package (no CDN), with sane caching and no escapes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import analytics_engine

STATIC = Path(analytics_engine.__file__).parent / "ui" / "static"


def test_page_and_assets(client) -> None:
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/ui/static/vendor/chart-4.6.1.umd.min.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"

    chart = client.get("/ui/static/vendor/chart-4.6.1.umd.min.js")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("text/javascript")
    assert "immutable" in chart.headers["cache-control"]
    assert chart.content == (STATIC / "vendor" / "chart-4.6.1.umd.min.js").read_bytes()
    assert (STATIC / "vendor" / "chart.js-LICENSE.md").read_text().startswith("The MIT License")
    for module in ("main", "api", "charts", "sankey", "dashboard", "builder", "drill", "manage"):
        asset = client.get(f"/ui/static/js/{module}.js")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript"), module
        assert asset.headers["cache-control"] == "no-cache"


def test_assets_are_named_by_content_hash_and_cached_for_good(client) -> None:
    page = client.get("/ui/").text
    # the page names its modules and stylesheet by content hash, and maps the modules' own imports too
    importmap = json.loads(re.search(r'<script type="importmap">(.*?)</script>', page).group(1))["imports"]
    assert page.index('type="importmap"') < page.index('rel="modulepreload"') < page.index('type="module"')
    for module in sorted((STATIC / "js").glob("*.js")):
        digest = hashlib.sha256(module.read_bytes()).hexdigest()[:16]
        versioned = f"/ui/static/js/{module.name}?v={digest}"
        assert importmap[f"/ui/static/js/{module.name}"] == versioned
        cached = client.get(versioned)
        assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert cached.content == module.read_bytes()
        # without its current hash: revalidated, and a 304 when unchanged
        plain = client.get(f"/ui/static/js/{module.name}?v=old")
        assert plain.headers["cache-control"] == "no-cache" and plain.headers["etag"] == f'"{digest}"'
        again = client.get(f"/ui/static/js/{module.name}", headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304 and not again.content
    css = hashlib.sha256((STATIC / "app.css").read_bytes()).hexdigest()[:16]
    assert f'href="/ui/static/app.css?v={css}"' in page
    assert f'src="/ui/static/js/main.js?v={importmap["/ui/static/js/main.js"].split("=")[1]}"' in page
    # the page: revalidated each visit (a 304 when nothing changed)
    first = client.get("/ui/")
    assert first.headers["cache-control"] == "no-cache"
    assert client.get("/ui/", headers={"If-None-Match": first.headers["etag"]}).status_code == 304


def test_no_path_escapes(client) -> None:
    for path in ("/ui/static/../../config.py", "/ui/static/%2e%2e/%2e%2e/config.py", "/ui/static/nope.js"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_text_assets_go_gzipped(client) -> None:
    for path, name in (("/ui/", "index.html"), ("/ui/static/js/dashboard.js", "js/dashboard.js")):
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        if name == "index.html":  # the page is the file with its assets' versions and the import map
            unversioned = re.sub(r"\?v=[0-9a-f]{16}", "", plain.text)
            unversioned = re.sub(r'\n  <script type="importmap">.*?</script>', "", unversioned)
            assert unversioned.encode() == (STATIC / name).read_bytes()
        else:
            assert plain.content == (STATIC / name).read_bytes()
        packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
        assert packed.content == plain.content  # decompressed by the client
        assert int(packed.headers["content-length"]) < len(plain.content) / 2
