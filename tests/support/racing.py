"""Inserts racing a job (an erasure, the tiering job): events written one batch at a time through
the ingest writer while the job runs in a thread, so a test can check each is counted once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from analytics_engine.ingest.validation import Limits, validate_events


def write_events(runtime: Any, tenant_id: str, raw: list[dict[str, Any]], limits: Limits | None = None) -> None:
    """Validate and write `raw` as HTTP ingest would (every event must be accepted)."""
    outcome = validate_events(raw, tenant_id, limits or Limits())
    assert not outcome.rejected, outcome.rejected
    runtime.writer.write(outcome.accepted)


def write_while_running(
    runtime: Any,
    tenant_id: str,
    job: Callable[[], None],
    event_for: Callable[[int], dict[str, Any]],
    *,
    limits: Limits | None = None,
    at_least: int = 5,
) -> int:
    """Run `job` in a thread and write one event (`event_for(n)`, n = 0, 1, ...) after another until
    it has ended and at least `at_least` were written. Returns how many were written; a failure of
    the job fails the caller."""
    done = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            job()
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    sent = 0
    while not done.is_set() or sent < at_least:
        write_events(runtime, tenant_id, [event_for(sent)], limits)
        sent += 1
    thread.join()
    if failures:
        raise failures[0]
    return sent
