"""A tiny Server-Sent Events reader over an httpx streaming response (for tests)."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class SseMessage:
    event: str = "message"
    id: str | None = None
    data: str = ""
    comment: bool = False

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseClient:
    """Reads one stream in a background thread; messages land in `messages` (a queue)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    messages: queue.Queue[SseMessage] = field(default_factory=queue.Queue)
    status: int | None = None
    body: bytes = b""
    opened: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _response: httpx.Response | None = None

    def start(self) -> SseClient:
        threading.Thread(target=self._run, daemon=True).start()
        if not self.opened.wait(15):
            raise TimeoutError("stream did not open")
        return self

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(30, read=60)) as client,
                client.stream("GET", self.url, headers=self.headers) as response,
            ):
                self._response = response
                self.status = response.status_code
                if response.status_code != 200:
                    self.body = response.read()
                    self.opened.set()
                    return
                self.opened.set()
                current = SseMessage()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if current.data or current.id or current.event != "message":
                            self.messages.put(current)
                        current = SseMessage()
                    elif line.startswith(":"):
                        self.messages.put(SseMessage(event="comment", data=line[1:].strip(), comment=True))
                    else:
                        name, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if name == "event":
                            current.event = value
                        elif name == "id":
                            current.id = value
                        elif name == "data":
                            current.data = f"{current.data}\n{value}" if current.data else value
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()

    def next(self, event: str | None = None, timeout: float = 15) -> SseMessage:
        """The next message (of type `event`; heartbeats skipped unless asked for)."""
        while True:
            message = self.messages.get(timeout=timeout)
            if event is None and not message.comment:
                return message
            if message.event == event:
                return message

    def close(self) -> None:
        self._stop.set()
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.close()
