"""The page and its assets come from the Python package (no CDN), with sane caching and no escapes."""

from __future__ import annotations

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
    for module in ("main", "api", "charts", "dashboard", "builder", "drill", "manage"):
        asset = client.get(f"/ui/static/js/{module}.js")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith("text/javascript"), module
        assert asset.headers["cache-control"] == "no-cache"


def test_no_path_escapes(client) -> None:
    for path in ("/ui/static/../../config.py", "/ui/static/%2e%2e/%2e%2e/config.py", "/ui/static/nope.js"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_text_assets_go_gzipped(client) -> None:
    for path, name in (("/ui/", "index.html"), ("/ui/static/js/dashboard.js", "js/dashboard.js")):
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == (STATIC / name).read_bytes()
        packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
        assert packed.content == (STATIC / name).read_bytes()  # decompressed by the client
        assert int(packed.headers["content-length"]) < len(plain.content) / 2
