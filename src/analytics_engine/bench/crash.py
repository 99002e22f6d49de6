"""`analytics-engine bench crash`: ingest SIGKILLed at random instants, clients retrying as real
ones do, then every acknowledged event checked in `events` and in every derived table.

Paths (docs/ingest.md, "Exactly once across crashes"):
- `http`: `serve` under two clients posting batches with their own event ids, retrying a batch
  until it is acknowledged;
- `nats-worker`: the standalone `ingest nats` worker while a publisher keeps publishing;
- `nats-serve`: the NATS consumer inside `serve` (ANALYTICS_NATS_INGEST=true), same publisher.

After each kill, before the restart, a child process inspects the warehouse without replaying the
journal and names the state the kill left (`state_of`); the restart replays the journal. At the
end: acknowledged events == distinct stored events == stored rows, and `check_derived` finds no
difference. The same harness runs in the test suite with a few kills per path and metadata on
SQLite and PostgreSQL (tests/bench/test_crash_bench.py); the benchmark runs many.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from analytics_engine.bench.common import free_port, print_table, wait_until_ready, write_result
from analytics_engine.config import JOURNAL_FOLDER_NAME
from analytics_engine.ingest.consistency import Mismatch

PATHS = ("http", "nats-worker", "nats-serve")
CLI = [sys.executable, "-m", "analytics_engine.cli.main"]
NATS_URL = "nats://127.0.0.1:4222"
EVENTS_PER_BATCH = 2_000
EVENTS_PER_MESSAGE = 100
CODE_UNDER_TEST = "AE_CRASH_CODE_UNDER_TEST"


@dataclass
class CrashReport:
    path: str
    metadata: str
    kills: int
    states: dict[str, int]
    acknowledged: int
    stored: int
    distinct: int
    mismatches: list[str]
    journal_left: int
    seconds: float

    @property
    def exact(self) -> bool:
        return (
            self.acknowledged > 0
            and self.acknowledged == self.stored == self.distinct
            and not self.mismatches
            and not self.journal_left
        )


@dataclass
class Harness:
    """One data folder, one metadata database and the environment of every child process."""

    data_dir: Path
    metadata_url: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    admin_key: str = field(default_factory=lambda: "adm_" + secrets.token_hex(8))
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream(self) -> str:
        return f"CRASH_{self.tag}".upper()

    def env(self, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANALYTICS_")}
        env.update(
            {
                "ANALYTICS_DATA_DIR": str(self.data_dir),
                "ANALYTICS_METADATA_URL": self.metadata_url,
                "ANALYTICS_ADMIN_KEY": self.admin_key,
                "ANALYTICS_PORT": str(self.port),
                "ANALYTICS_LOG_LEVEL": "warning",
                "ANALYTICS_LOG_JSON": "false",
                "ANALYTICS_NATS_URL": NATS_URL,
                "ANALYTICS_NATS_STREAM": self.stream,
                "ANALYTICS_NATS_SUBJECTS": f"crash{self.tag}.>",
                "ANALYTICS_NATS_CONSUMER": "crash",
                "ANALYTICS_NATS_ACK_WAIT_SECONDS": "3",
                "ANALYTICS_NATS_RETRY_MAX_SECONDS": "1",
                "ANALYTICS_NATS_BATCH_MAX_SECONDS": "0.2",
                # Inserts as large as HTTP group commit makes them: a kill lands inside one often.
                "ANALYTICS_NATS_BATCH_MAX_EVENTS": "5000",
                **extra,
            }
        )
        return env

    def spawn(self, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        """An ingest process (`serve`, `ingest nats`). With CODE_UNDER_TEST set (the `src` folder of
        another checkout) it runs that code, while the harness and its inspections run this one:
        how the code before a change fares under the same kills."""
        log = open(self.data_dir / "children.log", "ab")  # noqa: SIM115 - handed to the child
        env = self.env(**extra_env)
        if os.environ.get(CODE_UNDER_TEST):
            env["PYTHONPATH"] = os.environ[CODE_UNDER_TEST]
        try:
            return subprocess.Popen([*CLI, *args], env=env, stdout=log, stderr=log)
        finally:
            log.close()

    def inspect(self) -> dict[str, Any]:
        return inspect_warehouse(self.env())

    def log_tail(self) -> str:
        path = self.data_dir / "children.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def state_of(inspection: dict[str, Any]) -> str:
    """What a kill left: the first derived table behind `events`, or where the batch stood."""
    behind = {m["table"] for m in inspection["mismatches"] if m["derived"] < m["raw"]}
    if "events" in {m["table"] for m in inspection["mismatches"]}:
        return "events stored twice"
    if "event_ids" in behind:
        return "events written, ids not"
    if behind:
        return "events and ids written, " + "/".join(sorted(behind)) + " not"
    if inspection["mismatches"]:
        return "derived table ahead of events"
    if inspection["journal"]:
        return "batch landed, not yet acknowledged"
    return "no batch in flight"


@contextmanager
def running(harness: Harness, process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_ready(harness: Harness, process: subprocess.Popen[bytes]) -> None:
    wait_until_ready(harness.url, process, harness.log_tail)


def wait_for_insert(harness: Harness, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until a batch file appears in the ingest journal (written just before each insert), or
    `timeout` passed (nothing left to insert: the kill then falls wherever the process is)."""
    journal = harness.data_dir / JOURNAL_FOLDER_NAME  # the children's default (ANALYTICS_DATA_DIR)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the ingest process exited on its own: {harness.log_tail()}")
        if journal.exists() and any(journal.glob("*.batch")):
            return
        time.sleep(0.005)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


class HttpClients:
    """Clients posting batches with their own event ids, each retried until acknowledged."""

    def __init__(self, harness: Harness, key: str, clients: int = 2) -> None:
        self.harness = harness
        self.headers = {"Authorization": f"Bearer {key}"}
        self.acknowledged = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._post, args=(n,), daemon=True) for n in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _post(self, client: int) -> None:
        batch = 0
        with httpx.Client(base_url=self.harness.url, headers=self.headers, timeout=60) as http:
            while not self.stop.is_set():
                body = [
                    {
                        "event": f"e{i % 5}",
                        "distinct_id": f"u{(batch * 31 + i) % 997}",
                        "event_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{client}/{batch}/{i}")),
                        "properties": {"plan": ["free", "pro"][i % 2], "n": i},
                    }
                    for i in range(EVENTS_PER_BATCH)
                ]
                while True:  # as a client does: the same batch again until it is acknowledged
                    try:
                        if http.post("/v1/events", json=body).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    time.sleep(0.1)
                with self.lock:
                    self.acknowledged += len(body)
                batch += 1


class Publisher:
    """Publishes messages of EVENTS_PER_MESSAGE events with a Nats-Msg-Id; a message counts as
    acknowledged once JetStream acknowledged the publish."""

    def __init__(self, harness: Harness, tenant_id: str, per_second: int = 3_000, limit: int = 1_000_000) -> None:
        self.harness = harness
        self.tenant_id = tenant_id
        self.per_second = per_second
        self.limit = limit  # events in all: the check after each kill reads everything stored
        self.acknowledged = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self.thread.start()

    async def _run(self) -> None:
        import nats
        import nats.js.errors

        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        subject = f"crash{self.harness.tag}"
        try:
            await js.stream_info(self.harness.stream)  # `serve` with the consumer may have made it
        except nats.js.errors.NotFoundError:
            await js.add_stream(name=self.harness.stream, subjects=[f"{subject}.>"])
        message = 0
        started = time.monotonic()
        while not self.stop.is_set() and self.acknowledged < self.limit:
            body = {
                "tenant_id": self.tenant_id,
                "events": [
                    {"event": f"e{i % 5}", "distinct_id": f"u{(message + i) % 997}", "properties": {"n": i}}
                    for i in range(EVENTS_PER_MESSAGE)
                ],
            }
            await js.publish(f"{subject}.in", json.dumps(body).encode(), headers={"Nats-Msg-Id": f"crash-{message}"})
            self.acknowledged += EVENTS_PER_MESSAGE
            message += 1
            ahead = self.acknowledged / self.per_second - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await nc.close()

    async def delete_stream(self) -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(self.harness.stream)
        finally:
            await nc.close()


def create_tenant(harness: Harness) -> tuple[str, str]:
    with httpx.Client(base_url=harness.url, headers={"Authorization": f"Bearer {harness.admin_key}"}) as admin:
        tenant = admin.post("/v1/admin/tenants", json={"name": "crash"}).raise_for_status().json()
        key = admin.post(f"/v1/admin/tenants/{tenant['id']}/keys", json={"scopes": ["ingest", "read"]})
        return str(tenant["id"]), str(key.raise_for_status().json()["key"])


def caught_up(harness: Harness) -> bool:
    try:
        response = httpx.get(
            f"{harness.url}/v1/admin/ingest/status",
            headers={"Authorization": f"Bearer {harness.admin_key}"},
            timeout=30,
        )
    except httpx.HTTPError:
        return False  # busy draining the backlog: ask again
    consumers = response.json().get("consumers", [])
    return bool(consumers) and all(c.get("lag") == 0 and not c.get("num_ack_pending") for c in consumers)


def run_path(path: str, harness: Harness, kills: int, rng: random.Random, max_up: float = 0.5) -> CrashReport:
    """SIGKILL the ingest process `kills` times at random instants of its work, then finish."""
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}: one of {', '.join(PATHS)}")
    started = time.monotonic()
    states: Counter[str] = Counter()
    nats_in_serve = {"ANALYTICS_NATS_INGEST": "true"} if path == "nats-serve" else {}
    with running(harness, harness.spawn("serve", **nats_in_serve)) as serve:
        wait_ready(harness, serve)
        tenant_id, key = create_tenant(harness)
        serve.terminate()  # the kills below start from a clean stop
        serve.wait(timeout=60)
    source: HttpClients | Publisher = HttpClients(harness, key) if path == "http" else Publisher(harness, tenant_id)
    source.start()
    try:
        for _ in range(kills):
            process = (
                harness.spawn("ingest", "nats") if path == "nats-worker" else harness.spawn("serve", **nats_in_serve)
            )
            with running(harness, process):
                if path != "nats-worker":
                    wait_ready(harness, process)
                # Inserts are a fraction of the work (validation, acks and start-up are the rest): the
                # kill falls at a random instant after the process has begun writing a batch.
                wait_for_insert(harness, process)
                time.sleep(rng.uniform(0.0, max_up))
                if process.poll() is not None:
                    raise RuntimeError(f"the ingest process exited on its own: {harness.log_tail()}")
                kill(process)
            states[state_of(harness.inspect())] += 1
        source.stop.set()
        if isinstance(source, HttpClients):
            with running(harness, harness.spawn("serve")) as serve:
                wait_ready(harness, serve)
                for thread in source.threads:
                    thread.join(timeout=300)
                serve.terminate()
                serve.wait(timeout=60)
        else:
            source.thread.join(timeout=60)
            finish(path, harness)
    finally:
        source.stop.set()
        if isinstance(source, Publisher):
            asyncio.run(source.delete_stream())
    final = harness.inspect()
    counts = final["tenants"].get(tenant_id, {"count": 0, "distinct": 0})
    return CrashReport(
        path=path,
        metadata="postgresql" if harness.metadata_url.startswith("postgresql") else "sqlite",
        kills=kills,
        states=dict(states),
        acknowledged=source.acknowledged,
        stored=int(counts["count"]),
        distinct=int(counts["distinct"]),
        mismatches=[Mismatch(**m).describe() for m in final["mismatches"]],
        journal_left=int(final["journal"]),
        seconds=round(time.monotonic() - started, 1),
    )


def finish(path: str, harness: Harness) -> None:
    """Let the NATS path consume everything published, then stop it cleanly."""
    if path == "nats-worker":
        done = subprocess.run(
            [*CLI, "ingest", "nats", "--until-idle"], env=harness.env(), capture_output=True, timeout=600
        )
        if done.returncode != 0:
            raise RuntimeError(f"the draining worker failed: {done.stderr.decode()[-2000:]}")
        return
    with running(harness, harness.spawn("serve", ANALYTICS_NATS_INGEST="true")) as serve:
        wait_ready(harness, serve)
        deadline = time.monotonic() + 300
        while not caught_up(harness):
            if time.monotonic() > deadline:
                raise RuntimeError("the consumer inside serve did not catch up in 300 s")
            time.sleep(0.5)
        serve.terminate()
        serve.wait(timeout=60)


def run(paths: list[str], kills: int, metadata_url: str | None, seed: int | None) -> list[CrashReport]:
    import tempfile

    rng = random.Random(seed)
    reports = []
    for path in paths:
        folder = Path(tempfile.mkdtemp(prefix=f"ae-crash-{path}-"))
        url = metadata_url or f"sqlite:///{folder / 'meta.db'}"
        reports.append(run_path(path, Harness(folder, url), kills, rng))
    print_table(
        "Ingest killed at random instants (SIGKILL), clients retrying",
        ["path", "metadata", "kills", "acknowledged", "stored", "distinct", "exact"],
        [
            [
                r.path,
                r.metadata,
                r.kills,
                r.acknowledged,
                r.stored,
                r.distinct,
                "yes" if r.exact else "NO: " + "; ".join(r.mismatches[:3]),
            ]
            for r in reports
        ],
    )
    for r in reports:
        print(f"{r.path}: states the kills left (before the restart replayed the journal):")
        for state, count in sorted(r.states.items()):
            print(f"  {count:>3}  {state}")
    write_result("crash", {"seed": seed, "reports": [asdict(r) | {"exact": r.exact} for r in reports]})
    return reports


def inspect_warehouse(env: dict[str, str]) -> dict[str, Any]:
    """Counts per tenant, derived-table differences and journal size of the data folder `env` names,
    read by a child process that does not replay the journal: the embedded warehouse allows one
    process at a time, and one data path per process (the caller may hold another)."""
    child = [sys.executable, "-m", "analytics_engine.bench.crash"]
    done = subprocess.run(child, env=env, capture_output=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"inspection failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def _inspect_main() -> None:
    """Child process of `Harness.inspect`: reads the warehouse as it is, journal untouched."""
    from analytics_engine.config import Settings
    from analytics_engine.ingest.consistency import check_derived, events_table_exists
    from analytics_engine.ingest.journal import IngestJournal
    from analytics_engine.warehouse.client import Warehouse

    settings = Settings()
    warehouse = Warehouse(str(settings.warehouse_dsn), settings.warehouse_database, pool_size=1)
    try:
        exists = events_table_exists(warehouse)
        mismatches = [asdict(m) for m in check_derived(warehouse)] if exists else []
        tenants = (
            {
                str(tenant): {"count": int(count), "distinct": int(distinct)}
                for tenant, count, distinct in warehouse.query(
                    "SELECT tenant_id, count(), uniqExact(event_id) "
                    f"FROM {warehouse.table('events')} GROUP BY tenant_id"
                ).rows
            }
            if exists
            else {}
        )
    finally:
        warehouse.close()
    journal = IngestJournal(settings.journal_folder).status().in_flight
    print(json.dumps({"mismatches": mismatches, "tenants": tenants, "journal": journal}))


if __name__ == "__main__":
    _inspect_main()
