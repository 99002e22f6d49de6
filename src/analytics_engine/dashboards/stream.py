"""Live dashboards over Server-Sent Events.

One `StreamHub` per process. Clients of the same dashboard (and filters) share a `Feed`: when the
ingest path publishes `ingest.batch.committed` for the feed's tenant (or on the optional interval),
the feed re-renders its dashboard once (debounced, bypassing caches), and for every widget whose
data changed appends a `widget` message to its bounded replay buffer and to each client's bounded
queue. Message ids are `<feed epoch>-<sequence>`: a client reconnecting with `Last-Event-ID` gets
every message it missed while they are still in the buffer, and a full `snapshot` otherwise.
Fan-out never waits on a client: a client whose queue is full loses its backlog and is sent a
snapshot instead (so slow clients do not slow the others). A tenant may hold at most
`stream_max_per_tenant` open streams (429 beyond).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from analytics_engine.cache import canonical_json
from analytics_engine.dashboards.render import render_dashboard
from analytics_engine.dashboards.schemas import DashboardFilters, WidgetResult
from analytics_engine.dashboards.telemetry import REFRESH_SECONDS, STREAM_MESSAGES, STREAM_RESYNCS, STREAMS_OPEN
from analytics_engine.errors import AppError, NotFound, Unauthorized

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime

log = structlog.get_logger(__name__)

INGEST_EVENT = "ingest.batch.committed"
# Impact figures that changed (impact/service.py): relayed to the tenant's open dashboards as
# `sroi_updated` / `vis_updated` SSE events.
IMPACT_EVENTS = "impact.*_updated"
# Keys of an insight result that change on every computation without the numbers changing.
_VOLATILE = {"computed_at", "cached", "served_by", "served_from", "fresh_as_of", "elapsed_ms", "timing", "query_id"}
FEED_IDLE_SECONDS = 600


class TooManyStreams(AppError):
    """The tenant already holds the most open dashboard streams allowed."""

    status_code = 429
    code = "too_many_streams"


@dataclass
class Message:
    seq: int
    event: str
    data: bytes

    def sse(self, epoch: str) -> dict[str, Any]:
        return {"id": f"{epoch}-{self.seq}", "event": self.event, "data": self.data.decode()}


@dataclass(eq=False)
class Client:
    queue: asyncio.Queue[Message | None]
    tenant_id: str
    resync: bool = False
    dropped: int = 0


@dataclass
class Feed:
    key: str
    tenant: Any
    dashboard_id: str
    override: DashboardFilters | None
    replay_size: int
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    seq: int = 0
    replay: deque[Message] = field(default_factory=deque)
    clients: set[Client] = field(default_factory=set)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    refresh_task: asyncio.Task[None] | None = None
    dirty: bool = False
    idle_since: float = field(default_factory=time.monotonic)
    last_ingest_at: float | None = None

    def parse_last_id(self, last_event_id: str | None) -> int | None:
        """The sequence a reconnecting client saw last, when it is from this feed and still replayable."""
        if not last_event_id:
            return None
        epoch, _, seq = last_event_id.partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return None
        seen = int(seq)
        if seen > self.seq:
            return None
        oldest = self.replay[0].seq if self.replay else self.seq + 1
        if seen < oldest - 1:
            return None  # what it missed already left the buffer
        return seen


def _fingerprint(widget: dict[str, Any]) -> str:
    data = widget.get("data")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in _VOLATILE}
    payload = {"data": data, "error": widget.get("error"), "warning": widget.get("warning"), "title": widget["title"]}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def _widget_json(result: WidgetResult) -> dict[str, Any]:
    return result.model_dump(mode="json")


class StreamHub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.feeds: dict[str, Feed] = {}
        self.open_per_tenant: dict[str, int] = {}
        unsubscribe_ingest = runtime.bus.subscribe(INGEST_EVENT, self._on_ingest)
        unsubscribe_impact = runtime.bus.subscribe(IMPACT_EVENTS, self._on_impact)
        self._unsubscribe: Callable[[], object] = lambda: (unsubscribe_ingest(), unsubscribe_impact())
        self._interval_task: asyncio.Task[None] | None = None
        self._closed = False
        secret = self.settings.stream_token_secret
        self._secret = (secret or secrets.token_hex(32)).encode()
        self.stats = {"refreshes": 0, "messages": 0, "resyncs": 0}

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._interval_task = self.loop.create_task(self._housekeeping(), name="stream-hub")

    async def close(self) -> None:
        self._closed = True
        self._unsubscribe()
        tasks = [t for t in [self._interval_task, *(f.refresh_task for f in self.feeds.values())] if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for feed in self.feeds.values():
            for client in feed.clients:
                with contextlib.suppress(asyncio.QueueFull):
                    client.queue.put_nowait(None)

    async def _housekeeping(self) -> None:
        interval = self.settings.stream_interval_seconds
        tick = min(interval, 30.0) if interval > 0 else 30.0
        last_refresh = time.monotonic()
        while not self._closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for key, feed in list(self.feeds.items()):
                if not feed.clients and now - feed.idle_since > FEED_IDLE_SECONDS:
                    self.feeds.pop(key, None)
            if interval > 0 and now - last_refresh >= interval:
                last_refresh = now
                for feed in list(self.feeds.values()):
                    if feed.clients:
                        self._schedule(feed, debounce=False)

    # --- stream tokens (EventSource cannot send headers) ----------------------------------------
    def issue_token(self, tenant_id: str, key_id: str, dashboard_id: str) -> tuple[str, int]:
        expires = int(time.time()) + self.settings.stream_token_ttl_seconds
        payload = f"{tenant_id}|{key_id}|{dashboard_id}|{expires}".encode()
        signature = hmac.new(self._secret, payload, hashlib.sha256).digest()
        token = (
            base64.urlsafe_b64encode(payload).decode().rstrip("=")
            + "."
            + (base64.urlsafe_b64encode(signature).decode().rstrip("="))
        )
        return token, expires

    def check_token(self, token: str, dashboard_id: str) -> tuple[str, str]:
        """(tenant_id, key_id) of a valid, unexpired token for this dashboard."""
        try:
            body, _, signature = token.partition(".")
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
            tenant_id, key_id, dashboard, expires = payload.decode().split("|")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Unauthorized("Invalid stream token.") from exc
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            raise Unauthorized("Invalid stream token.")
        if int(expires) < time.time():
            raise Unauthorized("The stream token expired; ask for a new one.")
        if dashboard != dashboard_id:
            raise Unauthorized("This stream token is for another dashboard.")
        return tenant_id, key_id

    # --- connections ---------------------------------------------------------------------------
    def _feed_key(self, tenant_id: str, dashboard_id: str, override: DashboardFilters | None, version: str) -> str:
        filters = override.model_dump(mode="json", exclude_none=True) if override else {}
        digest = hashlib.sha256(canonical_json({"f": filters, "v": version})).hexdigest()[:16]
        return f"{tenant_id}:{dashboard_id}:{digest}"

    def open(
        self, tenant: Any, dashboard_id: str, override: DashboardFilters | None, version: str = ""
    ) -> tuple[Feed, Client]:
        """`version` names the dashboard as it is now (saved filters, widgets): a feed computed before a
        change is never joined by a client opened after it (the old one goes when idle)."""
        # Registers a client (the route checked the dashboard is the tenant's); enforces the tenant's cap.
        open_now = self.open_per_tenant.get(tenant.tenant_id, 0)
        cap = self.settings.stream_max_per_tenant
        if open_now >= cap:
            raise TooManyStreams(
                f"This tenant already holds {open_now} open dashboard streams (the most allowed is {cap}).",
                details={"limit": cap},
            )
        key = self._feed_key(tenant.tenant_id, dashboard_id, override, version)
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = Feed(key, tenant, dashboard_id, override, self.settings.stream_replay_size)
            feed.refresh_task = asyncio.get_running_loop().create_task(self._initial(feed))
        client = Client(asyncio.Queue(maxsize=self.settings.stream_client_queue), tenant.tenant_id)
        feed.clients.add(client)
        self.open_per_tenant[tenant.tenant_id] = open_now + 1
        STREAMS_OPEN.inc()
        return feed, client

    def close_client(self, feed: Feed, client: Client) -> None:
        if client in feed.clients:
            feed.clients.discard(client)
            STREAMS_OPEN.dec()
            left = self.open_per_tenant.get(client.tenant_id, 1) - 1
            if left > 0:
                self.open_per_tenant[client.tenant_id] = left
            else:
                self.open_per_tenant.pop(client.tenant_id, None)
            if not feed.clients:
                feed.idle_since = time.monotonic()

    def snapshot(self, feed: Feed) -> dict[str, Any]:
        return {
            "event": "snapshot",
            "id": f"{feed.epoch}-{feed.seq}",
            "data": orjson.dumps(
                {"dashboard_id": feed.dashboard_id, "widgets": [feed.latest[w] for w in feed.order if w in feed.latest]}
            ).decode(),
        }

    async def events(self, feed: Feed, client: Client, last_event_id: str | None) -> AsyncIterator[dict[str, Any]]:
        """The SSE messages of one client: what it missed (or a snapshot), then live updates."""
        try:
            await feed.ready.wait()
            seen = feed.parse_last_id(last_event_id)
            if seen is None:
                yield self.snapshot(feed)
            else:
                backlog = [m for m in feed.replay if m.seq > seen]
                # Messages queued for this client since it registered are in the backlog already.
                while not client.queue.empty():
                    client.queue.get_nowait()
                client.resync = False
                for missed in backlog:
                    yield missed.sse(feed.epoch)
                seen = backlog[-1].seq if backlog else seen
            high = feed.seq if seen is None else seen
            while True:
                message = await client.queue.get()
                if message is None:
                    return
                if client.resync:
                    client.resync = False
                    self.stats["resyncs"] += 1
                    STREAM_RESYNCS.inc()
                    while not client.queue.empty():
                        client.queue.get_nowait()
                    high = feed.seq
                    yield self.snapshot(feed)
                    continue
                if message.seq <= high:
                    continue
                high = message.seq
                yield message.sse(feed.epoch)
        finally:
            self.close_client(feed, client)

    # --- refreshing ----------------------------------------------------------------------------
    async def _on_ingest(self, event: Any) -> None:
        tenant_id = event.tenant_id
        if not tenant_id or self._closed:
            return
        for feed in list(self.feeds.values()):
            if feed.tenant.tenant_id == tenant_id and feed.clients:
                feed.last_ingest_at = time.monotonic()
                self._schedule(feed)

    async def _on_impact(self, event: Any) -> None:
        tenant_id = event.tenant_id
        if not tenant_id or self._closed:
            return
        name = event.type.removeprefix("impact.")
        for feed in list(self.feeds.values()):
            if feed.tenant.tenant_id == tenant_id and feed.clients:
                self._publish(feed, name, {"type": name, "data": event.data, "time": event.time.isoformat()})

    def _schedule(self, feed: Feed, *, debounce: bool = True) -> None:
        if feed.refresh_task is not None and not feed.refresh_task.done():
            feed.dirty = True
            return
        feed.refresh_task = asyncio.get_running_loop().create_task(self._refresh_loop(feed, debounce))

    async def _render(self, feed: Feed, *, refresh: bool, progressive: bool = False) -> list[dict[str, Any]]:
        """Every widget as JSON; with `progressive`, each changed widget is published the moment it
        is computed (from the worker thread, through the loop), not when the slowest one is done."""
        loop = asyncio.get_running_loop()

        def deliver(result: WidgetResult) -> None:
            loop.call_soon_threadsafe(self._consider, feed, _widget_json(result))

        def work() -> list[dict[str, Any]]:
            dashboard = self.runtime.dashboards.get_for_render(feed.tenant.tenant_id, feed.dashboard_id)
            result = render_dashboard(
                self.runtime,
                feed.tenant,
                dashboard,
                feed.override,
                refresh=refresh,
                on_result=deliver if progressive else None,
            )
            return [_widget_json(w) for w in result.widgets]

        return await asyncio.to_thread(work)

    def _consider(self, feed: Feed, widget: dict[str, Any]) -> None:
        """Publish a widget's data if it differs from what the feed's clients last got."""
        fingerprint = _fingerprint(widget)
        if feed.hashes.get(widget["id"]) == fingerprint:
            return
        feed.hashes[widget["id"]] = fingerprint
        feed.latest[widget["id"]] = widget
        self._publish(feed, "widget", widget)

    async def _initial(self, feed: Feed) -> None:
        try:
            widgets = await self._render(feed, refresh=False)
            feed.order = [w["id"] for w in widgets]
            for widget in widgets:
                feed.latest[widget["id"]] = widget
                feed.hashes[widget["id"]] = _fingerprint(widget)
        except NotFound:
            feed.order = []
        except Exception as exc:
            log.warning("dashboard.stream_initial_failed", dashboard_id=feed.dashboard_id, error=str(exc))
        finally:
            feed.ready.set()
        if feed.dirty:
            feed.dirty = False
            await self._refresh_loop(feed, debounce=False)

    async def _refresh_loop(self, feed: Feed, debounce: bool) -> None:
        await feed.ready.wait()
        delay = self.settings.stream_debounce_ms / 1000 if debounce else 0
        while True:
            feed.dirty = False
            if delay:
                await asyncio.sleep(delay)
            started = time.monotonic()
            try:
                await self._refresh(feed)
            except Exception as exc:
                log.warning("dashboard.stream_refresh_failed", dashboard_id=feed.dashboard_id, error=str(exc))
            REFRESH_SECONDS.observe(time.monotonic() - started)
            if not feed.dirty or not feed.clients or self._closed:
                return
            # Events kept landing during the refresh: go again, but after at least as long as the
            # refresh took, so a constantly written tenant costs a feed at most half of its time.
            delay = max(self.settings.stream_debounce_ms / 1000, time.monotonic() - started)

    async def _refresh(self, feed: Feed) -> None:
        try:
            widgets = await self._render(feed, refresh=True, progressive=True)
        except NotFound:
            self._publish(feed, "deleted", {"dashboard_id": feed.dashboard_id})
            return
        await asyncio.sleep(0)  # let the last progressive deliveries run first
        self.stats["refreshes"] += 1
        feed.order = [w["id"] for w in widgets]
        for widget in widgets:
            self._consider(feed, widget)
        for gone in set(feed.latest) - set(feed.order):
            feed.latest.pop(gone, None)
            feed.hashes.pop(gone, None)

    def _publish(self, feed: Feed, event: str, data: dict[str, Any]) -> None:
        feed.seq += 1
        message = Message(feed.seq, event, orjson.dumps(data))
        feed.replay.append(message)
        while len(feed.replay) > feed.replay_size:
            feed.replay.popleft()
        self.stats["messages"] += 1
        STREAM_MESSAGES.labels(event).inc()
        for client in list(feed.clients):
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                # Never wait for a slow client: drop its backlog, send it a snapshot when it reads.
                client.dropped += client.queue.qsize()
                while not client.queue.empty():
                    client.queue.get_nowait()
                client.resync = True
                client.queue.put_nowait(message)
