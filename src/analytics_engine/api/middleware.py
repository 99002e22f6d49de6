"""The request context every HTTP request runs in: its request id, the log context, the latency metric.

A pure ASGI middleware (issue 18, cached renders): it was a Starlette `BaseHTTPMiddleware`
(`@app.middleware("http")`), which runs the rest of the app in a second task and passes every
response through a memory stream, about a millisecond of CPU per request on this machine. This one
wraps `send` instead and keeps what the old one did:

- the request id is the `X-Request-ID` header the client sent (the first, when not empty), or a new
  uuid4 hex; it is on `request.state.request_id` (events and the 500 handler read it), bound as
  `request_id` in structlog's context for the whole request, and answered in `X-Request-ID` (replacing
  one a route may have set) on every response the app sends, the error envelopes included;
- `analytics_http_request_seconds{method, route, status}` observes the time until the response's
  headers are sent (for a stream: until it opens, not until it ends), labelled with the matched
  route's path (`unmatched` when none). When the app raises instead of answering, it observes status
  500 and the exception goes on to the server-error handler (`api/errors.py`), which answers the
  envelope with the request id in its details; that answer is sent outside this middleware, so it
  carries no `X-Request-ID` header (as before).
"""

from __future__ import annotations

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analytics_engine.observability import metrics

HEADER = b"x-request-id"


def request_id_of(scope: Scope) -> str:
    """The client's `X-Request-ID` (the first one; ASGI servers send header names in lower case), or
    a new id when there is none or it is empty."""
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("latin-1") or uuid.uuid4().hex
    return uuid.uuid4().hex


class RequestContext:
    """ASGI middleware: request id, log context and latency metric for each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id  # request.state.request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        observed = False
        echoed = (HEADER, request_id.encode("latin-1"))

        def observe(status: int) -> None:
            nonlocal observed
            observed = True
            route = scope.get("route")
            metrics.HTTP_SECONDS.labels(scope["method"], getattr(route, "path", "unmatched"), str(status)).observe(
                time.perf_counter() - started
            )

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != HEADER]
                message["headers"] = [*headers, echoed]
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not observed:
                observe(500)
            structlog.contextvars.unbind_contextvars("request_id")
