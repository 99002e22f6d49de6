from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from analytics_engine.scheduler import Cron, Every, Scheduler


def test_cron_is_evaluated_in_the_time_zone_across_dst():
    daily = Cron("0 8 * * *", "Europe/Oslo")
    before_switch = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    first = daily.next_after(before_switch)
    second = daily.next_after(first)
    assert first == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST (UTC+2) on the DST day
    assert second == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert daily.next_after(datetime(2026, 3, 27, 12, 0, tzinfo=UTC)) == datetime(2026, 3, 28, 7, 0, tzinfo=UTC)


def test_invalid_cron_is_refused():
    with pytest.raises(ValueError, match="cron"):
        Cron("every day")


def test_missed_runs_happen_once_on_start(runtime):
    calls: list[str] = []

    async def job() -> None:
        calls.append("ran")

    async def scenario() -> None:
        scheduler = Scheduler(runtime.metadata)
        scheduler._record_run("hourly-report", datetime.now(UTC) - timedelta(hours=5))  # down for 5 slots
        scheduler.add("hourly-report", Cron("0 * * * *"), job)
        assert await scheduler.run_due() == ["hourly-report"]
        await asyncio.sleep(0.05)
        assert await scheduler.run_due() == []  # the five missed slots collapse into one run
        await scheduler.stop()

    asyncio.run(scenario())
    assert calls == ["ran"]


def test_interval_runs_at_start_then_waits(runtime):
    async def scenario() -> list[str]:
        scheduler = Scheduler(runtime.metadata)

        async def job() -> None:
            await asyncio.sleep(0)

        scheduler.add("every-minute", Every(seconds=60), job)
        first = await scheduler.run_due()
        await asyncio.sleep(0.05)
        second = await scheduler.run_due()
        assert scheduler.next_run("every-minute") > datetime.now(UTC) + timedelta(seconds=50)
        await scheduler.stop()
        return first + second

    assert asyncio.run(scenario()) == ["every-minute"]
