"""`Client`: the Analytics Engine HTTP API from Python (httpx, synchronous). docs/client.md.

    from analytics_engine.client import Client

    with Client("http://127.0.0.1:3008", key) as ae:
        ae.ingest([{"event": "signup", "distinct_id": "u-1", "properties": {"plan": "pro"}}])
        print(ae.trends(series=[{"event": "signup"}], date_range={"date_from": "-7d"})["series"][0]["total"])

Retries never double a count: every event gets a client `event_id` (a UUID) before its first send, and
a retried batch is sent again with the same ids, which the service recognises as duplicates (its
duplicate check on event ids, docs/ingest.md). Only requests that are safe to repeat are retried:
ingest (with those ids), reads, and insight queries (they change nothing).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from analytics_engine.client.errors import ApiError, JobFailed, WaitTimeout

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
InsightKind = Literal["trends", "funnels", "retention", "engagement"]
Progress = Callable[[dict[str, Any]], None]


@dataclass
class IngestSummary:
    """What `ingest` did: events sent, accepted and rejected (`index` counts from the first event given)."""

    sent: int = 0
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    retries: int = 0
    event_ids: list[str] = field(default_factory=list)


class Client:
    """A tenant's view of the API: ingest, insights, exports and jobs, authenticated by one key.

    `retries` is how many times a safe request is sent again after a network error, a 429 (waiting its
    `Retry-After`) or a 5xx, with exponential backoff from `backoff` seconds. Errors raise `ApiError`
    with the service's code and message."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}", "User-Agent": "analytics-engine-client"},
            timeout=timeout,
            transport=transport,
        )
        self._buffer: list[dict[str, Any]] = []
        self.retried = 0  # requests sent again, over the client's life

    # --- plumbing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Sends what `track` buffered, then closes the connections."""
        try:
            self.flush()
        finally:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry: bool | None = None,
    ) -> Any:
        """One API call; the decoded JSON answer (None for 204). `retry` defaults to GET only."""
        response = self._send(method, path, json=json, params=params, retry=method == "GET" if retry is None else retry)
        return response.json() if response.content else None

    def _send(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None, retry: bool
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError:
                if not retry or attempt >= self.retries:
                    raise
                self._sleep(attempt, None)
                attempt += 1
                self.retried += 1
                continue
            if response.status_code in RETRY_STATUSES and retry and attempt < self.retries:
                self._sleep(attempt, response.headers.get("retry-after"))
                attempt += 1
                self.retried += 1
                continue
            if response.status_code >= 400:
                raise api_error(response)
            return response

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff * 2**attempt
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 30.0))

    # --- events -----------------------------------------------------------------------------------
    def ingest(self, events: Iterable[Mapping[str, Any]], *, batch_size: int = 1000) -> IngestSummary:
        """Sends events in batches of `batch_size`. Each event without an `event_id` gets one (a UUID)
        before its first send; a batch that fails on the network or with a 429/5xx is sent again with
        the same ids, so the service stores each event once however often it is sent."""
        summary = IngestSummary()
        for offset, batch in enumerate_batches(events, batch_size):
            before = self.retried
            answer = self._send("POST", "/v1/events", json=batch, retry=True).json()
            summary.batches += 1
            summary.retries += self.retried - before
            summary.sent += len(batch)
            summary.accepted += int(answer.get("accepted", 0))
            summary.event_ids.extend(event["event_id"] for event in batch)
            summary.rejected.extend(
                {**item, "index": offset + int(item.get("index", 0))} for item in answer.get("rejected", [])
            )
        return summary

    def track(
        self,
        event: str,
        distinct_id: str,
        properties: Mapping[str, Any] | None = None,
        *,
        timestamp: str | None = None,
        flush_at: int = 1000,
    ) -> str:
        """Buffers one event (sent by `flush`, `close`, or when `flush_at` are waiting); its event id."""
        item: dict[str, Any] = {"event": event, "distinct_id": distinct_id, "event_id": str(uuid.uuid4())}
        if properties:
            item["properties"] = dict(properties)
        if timestamp:
            item["timestamp"] = timestamp
        self._buffer.append(item)
        if len(self._buffer) >= flush_at:
            self.flush()
        return str(item["event_id"])

    def flush(self) -> IngestSummary:
        """Sends the events `track` buffered."""
        pending, self._buffer = self._buffer, []
        return self.ingest(pending) if pending else IngestSummary()

    def count(self, event: str | None = None, *, start: str | None = None, end: str | None = None) -> int:
        """This tenant's stored events (of one name, in `[start, end)`)."""
        params = {key: value for key, value in {"event": event, "from": start, "to": end}.items() if value}
        return int(self.request("GET", "/v1/events/count", params=params)["count"])

    # --- insights ---------------------------------------------------------------------------------
    def insight(
        self, kind: InsightKind, query: Mapping[str, Any] | None = None, *, refresh: bool = False, **fields: Any
    ) -> dict[str, Any]:
        """Runs a query of `kind` (the body of `POST /v1/insights/{kind}`, given as a dict and/or
        keywords); the answer (`series`, `steps`, `rows`... per kind; docs/insights.md)."""
        body = {**(query or {}), **fields}
        params = {"refresh": "true"} if refresh else None
        result: dict[str, Any] = self.request("POST", f"/v1/insights/{kind}", json=body, params=params, retry=True)
        return result

    def trends(self, query: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Counts over time: `series=[{"event": "signup", "math": "unique_users"}]`, `interval`, `breakdown`..."""
        return self.insight("trends", query, **fields)

    def funnels(self, query: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Conversion through ordered steps: `steps=[{"event": "signup"}, {"event": "purchase"}]`..."""
        return self.insight("funnels", query, **fields)

    def retention(self, query: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Who comes back: `start_event`, `return_event`, `period`, `periods`..."""
        return self.insight("retention", query, **fields)

    def engagement(self, query: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Active users, days active or lifecycle: `measure`, `interval`..."""
        return self.insight("engagement", query, **fields)

    def funnel_people(
        self,
        query: Mapping[str, Any],
        step: int,
        status: Literal["converted", "dropped"] = "dropped",
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        """The distinct ids that converted at, or dropped off before, funnel `step` (1-based)."""
        body = {"query": {"kind": "funnels", **query}, "step": step, "status": status, "limit": limit, "offset": offset}
        result: dict[str, Any] = self.request("POST", "/v1/insights/funnels/people", json=body, retry=True)
        return result

    # --- jobs -------------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, Any]:
        """One job's status: `state`, `rows_done`, `rows_total`, `progress`, `result`, `error`..."""
        result: dict[str, Any] = self.request("GET", f"/v1/jobs/{job_id}")
        return result

    def jobs(self, *, kind: str | None = None, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """This tenant's jobs, newest first."""
        params = {key: value for key, value in {"kind": kind, "state": state, "limit": limit}.items() if value}
        result: list[dict[str, Any]] = self.request("GET", "/v1/jobs", params=params)
        return result

    def wait(
        self, job_id: str, *, progress: Progress | None = None, poll: float = 0.5, timeout: float = 600.0
    ) -> dict[str, Any]:
        """Polls a job until it ends; `progress(job)` is called whenever its state or rows change.
        The last status when it succeeded; `JobFailed` when it failed or was cancelled, `WaitTimeout`
        after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        seen: tuple[Any, ...] | None = None
        while True:
            job = self.job(job_id)
            mark = (job.get("state"), job.get("rows_done"), job.get("progress"))
            if progress is not None and mark != seen:
                progress(job)
            seen = mark
            if job.get("state") in FINAL_STATES:
                if job["state"] != "succeeded":
                    raise JobFailed(job)
                return job
            if time.monotonic() >= deadline:
                raise WaitTimeout(job, timeout)
            time.sleep(poll)

    # --- exports ----------------------------------------------------------------------------------
    def create_export(self, source: Mapping[str, Any], format: str = "csv", **options: Any) -> dict[str, Any]:
        """Queues an export (`source`: events, insight, metric or dashboard; docs/exports-and-reports.md);
        `{"id", "status", "status_url"}` at once."""
        result: dict[str, Any] = self.request(
            "POST", "/v1/exports", json={"source": dict(source), "format": format, **options}
        )
        return result

    def export_status(self, export_id: str) -> dict[str, Any]:
        """An export's status, with `download_url` once it succeeded."""
        result: dict[str, Any] = self.request("GET", f"/v1/exports/{export_id}")
        return result

    def export(
        self,
        source: Mapping[str, Any],
        format: str = "csv",
        *,
        to: str | Path | None = None,
        progress: Progress | None = None,
        timeout: float = 600.0,
        **options: Any,
    ) -> dict[str, Any]:
        """Queues an export, waits for it (its job, with `progress`) and, when `to` is given, downloads
        the file there. The final export status."""
        accepted = self.create_export(source, format, **options)
        self.wait(accepted["id"], progress=progress, timeout=timeout)
        status = self.export_status(accepted["id"])
        if to is not None:
            self.download(status, to)
        return status

    def download(self, export: str | Mapping[str, Any], to: str | Path) -> Path:
        """Streams a finished export's file to `to` (a folder keeps the file's own name); the path."""
        status = self.export_status(export) if isinstance(export, str) else export
        url = status.get("download_url")
        if not url:
            raise ApiError(409, "not_ready", f"Export {status.get('id')} has no file ({status.get('status')}).")
        target = Path(to)
        if target.is_dir():
            target = target / httpx.URL(url).path.rsplit("/", 1)[-1]
        with self._http.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                raise api_error(response)
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        return target


def enumerate_batches(events: Iterable[Mapping[str, Any]], size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(offset of the batch's first event, the batch) with an `event_id` on every event (copies)."""
    batch: list[dict[str, Any]] = []
    offset = 0
    for event in events:
        item = dict(event)
        item.setdefault("event_id", str(uuid.uuid4()))
        batch.append(item)
        if len(batch) >= size:
            yield offset, batch
            offset += len(batch)
            batch = []
    if batch:
        yield offset, batch


def api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json().get("error", {})
    except ValueError:
        error = {}
    return ApiError(
        response.status_code,
        str(error.get("code", "http_error")),
        str(error.get("message", response.text[:200] or response.reason_phrase)),
        error.get("details"),
        response.headers.get("x-request-id"),
    )
