"""One replica's job runner and scheduler for tests/scale/test_replicas.py: the very classes `serve`
runs (JobRunner, Scheduler) on the shared PostgreSQL metadata database, with a probe job kind and
a probe schedule that write down each run (who, what, when) in the `scale_probe_runs` table.

    python tests/scale/replica_worker.py METADATA_URL NAME SECONDS INTERVAL
"""

from __future__ import annotations

import asyncio
import sys
import time

from sqlalchemy import text

from analytics_engine.jobs.runner import JobRunner
from analytics_engine.jobs.service import JobService
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.scheduler import Every, Scheduler

PROBE_KIND = "scale.probe"
PROBE_SCHEDULE = "scale:probe"


def record(metadata: MetadataDB, owner: str, what: str) -> None:
    with metadata.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO scale_probe_runs (owner, what, at) VALUES (:owner, :what, clock_timestamp())"),
            {"owner": owner, "what": what},
        )


async def main(url: str, name: str, seconds: float, interval: float) -> None:
    metadata = MetadataDB(url)
    runner = JobRunner(metadata, JobService(metadata), lease_seconds=5, concurrency=2, poll_seconds=0.1, owner=name)

    def probe(ctx):  # type: ignore[no-untyped-def]
        record(metadata, name, f"job:{ctx.job_id}")
        time.sleep(0.02)
        return {"ran_by": name}

    runner.register(PROBE_KIND, probe, max_attempts=1)
    scheduler = Scheduler(metadata, tick_seconds=0.05)

    async def tick() -> None:
        await asyncio.to_thread(record, metadata, name, "schedule")

    scheduler.add(PROBE_SCHEDULE, Every(seconds=interval), tick)
    await runner.start()
    scheduler.start()
    print("ready", flush=True)
    await asyncio.sleep(seconds)
    await scheduler.stop()
    await runner.stop()
    metadata.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
