"""Every curl example of docs/sql.md runs as shown: the body each `-d '...'` sends (with the shell's
`'\\''` quoting undone) goes to its route and answers as the doc says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.factories import events, make_tenant

pytestmark = pytest.mark.filterwarnings("ignore")
DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
CURL = re.compile(r"curl -s (?:-X POST )?localhost:3008(\S+) .*?(?:-d '((?:[^']|'\\'')*)')?$", re.MULTILINE)


def examples() -> list[tuple[str, dict[str, object] | None]]:
    found = []
    text = re.sub(r"\\\n\s*", " ", DOC.read_text())  # join the `\`-continued lines
    for path, body in CURL.findall(text):
        found.append((path, json.loads(body.replace("'\\''", "'")) if body else None))
    return found


def test_the_doc_has_examples() -> None:
    paths = [path for path, _ in examples()]
    assert "/v1/query" in paths and "/v1/query/explain" in paths and "/v1/query/tables" in paths
    assert "/v1/metrics" in paths


def test_examples_run(client: TestClient, admin_headers: dict[str, str]) -> None:
    tenant = make_tenant(client, admin_headers, "sql-docs")
    tenant.ingest(events("purchase", 6, users=3, plan="pro", amount=12.5))
    tenant.ingest(events("signup", 3, users=3))
    metric_id = None
    for path, body in examples():
        if "$METRIC" in path:
            assert metric_id is not None
            path = path.replace("$METRIC", metric_id)
        response = tenant.post(path, json=body) if body is not None else tenant.get(path)
        if body and "system.tables" in str(body.get("sql")):
            assert response.status_code == 400 and response.json()["error"]["code"] == "sql_not_allowed"
            continue
        assert response.status_code in (200, 201), (path, body, response.text)
        if path == "/v1/metrics":
            metric_id = response.json()["id"]
