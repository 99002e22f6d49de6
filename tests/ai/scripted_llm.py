"""A tiny real OpenAI-compatible server for tests: `POST .../chat/completions` answers from a script
(a function of the request body), so the LLM path runs end to end over HTTP without any network."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[dict[str, Any]], "Reply"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0


def message(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None) -> Reply:
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    body = {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0, "message": msg}]}
    return Reply(body=json.dumps(body).encode())


def tool_call(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool outputs the agent has sent back so far, parsed."""
    return [json.loads(m["content"]) for m in body["messages"] if m.get("role") == "tool"]


@dataclass
class ScriptedServer:
    port: int
    script: Script
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
    state = ScriptedServer(0, script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            try:
                reply = state.script(body) if self.path.endswith("/chat/completions") else Reply(404, b"{}")
            except Exception as exc:  # a broken script shows up in the test, not as a dropped connection
                state.errors.append(repr(exc))
                reply = Reply(500, json.dumps({"script_error": repr(exc)}).encode())
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
