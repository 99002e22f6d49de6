from __future__ import annotations

import contextlib
import shutil

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from analytics_engine.api.deps import RuntimeDep
from analytics_engine.observability.metrics import DATA_DIR_FREE_BYTES, DATA_DIR_TOTAL_BYTES

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Liveness: answers `{"status": "ok"}` while the process runs; checks nothing else. No key."""
    return {"status": "ok"}


@router.get("/readyz", summary="The warehouse and the metadata database answer")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: 200 when the warehouse and the metadata database answer, 503 with the failing part
    otherwise (load balancers route on it). No key."""
    checks = {"warehouse": runtime.warehouse.ping(), "metadata": runtime.metadata.ping()}
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def prometheus_metrics(runtime: RuntimeDep) -> Response:
    """Prometheus text exposition of the process's metrics (HTTP latency, ingest, jobs, cache,
    streams, the data folder's disk). No key: expose it only on an internal network."""
    with contextlib.suppress(OSError):
        disk = shutil.disk_usage(runtime.settings.data_dir)
        DATA_DIR_FREE_BYTES.set(disk.free)
        DATA_DIR_TOTAL_BYTES.set(disk.total)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
