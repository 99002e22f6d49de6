"""The real `analytics-engine ingest nats` worker, made to SIGKILL itself right after its Nth insert
returned and before the batch is acknowledged: the worst moment to die (data in, acks not sent).
Used by test_worker_process.py as `python tests/streaming/crash_worker.py <N> ingest nats ...`."""

import os
import signal
import sys

from analytics_engine.cli.main import app
from analytics_engine.ingest.writer import EventWriter

crash_after = int(sys.argv[1])
inserts = 0
real_write = EventWriter.write


def write_then_die(self, *args, **kwargs):  # type: ignore[no-untyped-def]
    global inserts
    written = real_write(self, *args, **kwargs)
    inserts += 1
    if inserts >= crash_after:
        os.kill(os.getpid(), signal.SIGKILL)
    return written


EventWriter.write = write_then_die  # type: ignore[method-assign]
app(sys.argv[2:])
