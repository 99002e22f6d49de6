"""Start hook of the privacy package inside `serve`: its job kind on the one runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics_engine.runtime import Runtime


async def start_privacy(runtime: Runtime) -> None:
    """STARTUP_HOOK: erasures queued or cut short by a kill run again once the runner starts."""
    runtime.privacy.register_jobs()
