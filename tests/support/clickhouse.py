"""The ClickHouse server compatibility suite (issue 26, docs/warehouse.md "chDB and a server").

`ANALYTICS_TEST_CLICKHOUSE_URL=http://default:@host:8123` points every test that builds its settings
through tests/conftest.py (the warehouse, ingest and insight tests among them) at that server instead
of the embedded chDB: each test module gets its own database there, as it does in chDB. Tests marked
`clickhouse_server` need a server and are skipped loudly when the variable is unset, in CI too: no
ClickHouse server runs on these machines, so CI proves the server path through the golden DDL and
these skips name what was not run. `ANALYTICS_TEST_CLICKHOUSE_CLUSTER` adds the cluster checks."""

from __future__ import annotations

import os

import pytest

URL_VARIABLE = "ANALYTICS_TEST_CLICKHOUSE_URL"
CLUSTER_VARIABLE = "ANALYTICS_TEST_CLICKHOUSE_CLUSTER"


def server_url() -> str | None:
    return os.environ.get(URL_VARIABLE) or None


def server_cluster() -> str | None:
    return os.environ.get(CLUSTER_VARIABLE) or None


def skip_reason() -> str:
    return (
        f"SKIPPED LOUDLY: {URL_VARIABLE} is unset, so the ClickHouse server compatibility suite did not run "
        "(no server on this machine; CI skips it too). Set it to http://user:password@host:8123 to run the "
        "warehouse, ingest and insight tests against a server."
    )


def require_clickhouse_server() -> str:
    """The server URL, or a loud skip (never a failure: CI has no server)."""
    url = server_url()
    if url is None:
        pytest.skip(skip_reason())
    return url
