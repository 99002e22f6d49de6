"""Issue 24 item 6: the Python client against a live `analytics-engine serve` (a child process).

Lost answers are made real: a transport forwards each request to the server and, for the first
sends, throws the answer away after the server stored the batch (as a dropped connection would);
the client sends the batch again with the same event ids and the count must not double."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from analytics_engine.bench.common import ServerProcess, server_process
from analytics_engine.client import ApiError, Client


class LosesAnswers(httpx.BaseTransport):
    """Sends every request for real; the first `lose` answers to POST /v1/events never arrive."""

    def __init__(self, lose: int) -> None:
        self.inner = httpx.HTTPTransport()
        self.lose = lose
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST" and request.url.path == "/v1/events":
            self.sent += 1
            if self.lose > 0:
                response.read()
                response.close()
                self.lose -= 1
                raise httpx.ReadError("connection reset after the server answered", request=request)
        return response


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with server_process() as process:
        yield process


@pytest.fixture(scope="module")
def key(server: ServerProcess) -> str:
    return server.tenant_key("client-tenant")[1]


def events(name: str, count: int) -> list[dict[str, Any]]:
    return [
        {"event": name, "distinct_id": f"u-{i % 10}", "properties": {"plan": "pro" if i % 2 else "team", "n": i}}
        for i in range(count)
    ]


def test_retried_batches_never_double_a_count(server: ServerProcess, key: str) -> None:
    transport = LosesAnswers(lose=2)
    with Client(server.url, key, transport=transport, backoff=0.01) as ae:
        summary = ae.ingest(events("retried", 250), batch_size=100)
        assert summary.sent == 250 and summary.batches == 3 and summary.retries == 2
        assert transport.sent == 5  # two batches were stored, then sent again
        assert len(set(summary.event_ids)) == 250
        assert ae.count("retried") == 250


def test_rejections_are_indexed_from_the_first_event(server: ServerProcess, key: str) -> None:
    with Client(server.url, key) as ae:
        batch = [*events("indexed", 3), {"event": "", "distinct_id": "u-1"}]
        summary = ae.ingest(batch, batch_size=2)
        assert summary.accepted == 3
        assert [item["index"] for item in summary.rejected] == [3]


def test_track_buffers_and_close_flushes(server: ServerProcess, key: str) -> None:
    ae = Client(server.url, key)
    for i in range(5):
        ae.track("tracked", f"u-{i}", {"plan": "pro"})
    ae.close()
    with Client(server.url, key) as again:
        assert again.count("tracked") == 5


def test_every_insight_kind(server: ServerProcess, key: str) -> None:
    with Client(server.url, key) as ae:
        ae.ingest(events("signup", 20) + events("purchase", 10))
        trends = ae.trends(series=[{"event": "signup"}], date_range={"date_from": "-7d"})
        assert trends["kind"] == "trends" and sum(s["total"] for s in trends["series"]) == 20
        funnel = {"steps": [{"event": "signup"}, {"event": "purchase"}], "date_range": {"date_from": "-7d"}}
        assert ae.funnels(funnel)["kind"] == "funnels"
        assert ae.retention(start_event={"event": "signup"}, period="day", periods=3)["kind"] == "retention"
        assert ae.engagement(measure="active_users")["kind"] == "engagement"
        people = ae.funnel_people(funnel, step=2, status="converted")
        assert people["step"] == 2


def test_errors_carry_the_services_code(server: ServerProcess, key: str) -> None:
    with Client(server.url, key) as ae:
        with pytest.raises(ApiError) as invalid:
            ae.trends(series=[])
        assert invalid.value.status == 422 and invalid.value.code == "invalid_query"
    with Client(server.url, "ae_not-a-key") as stranger, pytest.raises(ApiError) as refused:
        stranger.count()
    assert refused.value.status == 401


def test_export_waits_with_progress_and_downloads(server: ServerProcess, key: str, tmp_path: Path) -> None:
    seen: list[str] = []
    with Client(server.url, key) as ae:
        ae.ingest(events("exported", 30))
        status = ae.export(
            {"type": "events", "events": ["exported"], "columns": ["distinct_id", "properties.n"]},
            "csv",
            to=tmp_path,
            progress=lambda job: seen.append(job["state"]),
        )
        assert status["status"] == "succeeded" and seen[-1] == "succeeded"
        files = list(tmp_path.iterdir())
        assert len(files) == 1
        rows = list(csv.DictReader(files[0].open()))
        assert len(rows) == 30 and {row["distinct_id"] for row in rows} == {f"u-{i}" for i in range(10)}
        assert any(job["id"] == status["id"] for job in ae.jobs())
        assert ae.job(status["id"])["state"] == "succeeded"
