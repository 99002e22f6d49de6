"""JSON bodies without a JSON Content-Type (issue 24 item 1).

`curl -d '{...}'` without `-H 'Content-Type: application/json'` sends the header
`application/x-www-form-urlencoded`; a client may send none at all. No route of ours takes a form, and
every body we read is JSON (or NDJSON / CSV, which callers label), so such a body is read as JSON:
it is accepted when it parses, and a body that does not parse gets a 400 naming the header
(`api/errors.py`). We chose accepting over a 415 because the documented examples and most people's
first `curl` work as typed, and nothing is ambiguous: a form body is never valid for any route.

A body labelled with some other type (`text/plain` on a route that takes a JSON object) is answered by
the validation handler with a 415 that names the header.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

# The types read as JSON: none at all, and curl's default for `-d`.
RELABELLED = {"", "application/x-www-form-urlencoded"}
BODY_METHODS = {"POST", "PUT", "PATCH"}


def media_type(value: str) -> str:
    return value.split(";")[0].strip().lower()


def is_json(value: str) -> bool:
    kind = media_type(value)
    return kind == "application/json" or kind.endswith("+json")


class JsonByDefault:
    """ASGI middleware: a POST/PUT/PATCH whose Content-Type is missing or form-urlencoded is JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in BODY_METHODS:
            headers = [(name, value) for name, value in scope["headers"] if name != b"content-type"]
            declared = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
            if media_type(declared.decode("latin-1")) in RELABELLED:
                # In place, so that the middleware outside this one sees the route the router matches
                # (api/middleware.py labels the latency metric with it).
                scope["headers"] = [*headers, (b"content-type", b"application/json")]
        await self.app(scope, receive, send)
