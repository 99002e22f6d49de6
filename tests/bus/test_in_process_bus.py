from __future__ import annotations

import asyncio

from analytics_engine.bus import InProcessBus, subject_for


def test_envelope_and_subject():
    async def scenario():
        bus = InProcessBus()
        received = []

        async def handler(event):
            received.append(event)

        unsubscribe = bus.subscribe("export.*", handler)
        event = await bus.publish("export.completed", {"rows": 3}, tenant_id="tn_a")
        await bus.publish("cohort.evaluated", {"size": 1}, tenant_id="tn_a")
        await asyncio.sleep(0)
        unsubscribe()
        await bus.publish("export.completed", {"rows": 4}, tenant_id="tn_a")
        await bus.close()
        return event, received

    event, received = asyncio.run(scenario())
    assert event.subject == "analytics.export.completed.v1"
    assert [e.data["rows"] for e in received] == [3]
    assert set(event.model_dump()) == {"type", "version", "id", "tenant_id", "time", "data"}
    assert subject_for("analytics.alert.triggered") == "analytics.alert.triggered.v1"


def test_failing_subscriber_does_not_break_publish():
    async def scenario():
        bus = InProcessBus()

        async def broken(event):
            raise RuntimeError("nope")

        bus.subscribe("*", broken)
        await bus.publish("x.y", {}, tenant_id=None)
        await bus.close()
        return len(bus.published)

    assert asyncio.run(scenario()) == 1
