"""Holding one of a tenant's query slots from another thread, as a concurrent query would.

Held in the test's own thread, the admission's context variable would travel into the request
(TestClient copies the caller's context), and the tenant scope would take the request for a
statement of that same admission; a real concurrent query runs in its own context."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def slot_held(budgets: Any, tenant_id: str) -> Iterator[None]:
    entered, release = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            with budgets.admit(tenant_id):
                entered.set()
                release.wait(30)
        except BaseException as exc:  # surfaced in the test's thread below
            failure.append(exc)
            entered.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    entered.wait(30)
    if failure:
        raise failure[0]
    try:
        yield
    finally:
        release.set()
        thread.join(30)
