"""The S3 path against a real S3-speaking server on loopback (moto's standalone server, started
here; it is a test dependency, so this runs everywhere, CI included: never skipped)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from analytics_engine.bench.common import free_port
from analytics_engine.storage import build_storage
from tests.conftest import build_settings
from tests.exports.helpers import fill_events, wait_export

BUCKET = "analytics-exports"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def settings(tmp_path_factory, warehouse_path, s3_endpoint):  # type: ignore[no-untyped-def]
    return build_settings(
        tmp_path_factory.mktemp("data"),
        warehouse_path,
        storage_url=f"s3://{BUCKET}/prod/analytics",
        storage_s3_endpoint_url=s3_endpoint,
        storage_s3_region="us-east-1",
    )


def test_objects_go_under_prefix_and_tenant(settings, tmp_path, s3_endpoint) -> None:  # type: ignore[no-untyped-def]
    storage = build_storage(settings)
    assert storage.kind == "s3"
    source = tmp_path / "f.csv"
    source.write_bytes(b"x\n" * 1000)
    assert storage.put_file("tn_one", "exports/f.csv", source) == 2000
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "prod/analytics/tenants/tn_one/exports/f.csv" in keys
    assert b"".join(storage.open("tn_one", "exports/f.csv")) == b"x\n" * 1000
    assert storage.info("tn_two", "exports/f.csv") is None  # same key, other tenant: nothing
    assert [o.key for o in storage.list("tn_one")] == ["exports/f.csv"]
    url = storage.download_url("tn_one", "exports/f.csv", 60)
    assert httpx.get(url).content == b"x\n" * 1000
    storage.delete("tn_one", "exports/f.csv")
    assert storage.info("tn_one", "exports/f.csv") is None


def test_export_job_writes_to_s3(client, admin_headers, runtime, s3_endpoint) -> None:  # type: ignore[no-untyped-def]
    from tests.support.factories import make_tenant

    tenant = make_tenant(client, admin_headers, "s3-tenant")
    fill_events(runtime, tenant.id, 20_000)
    response = tenant.post("/v1/exports", json={"source": {"type": "events"}, "format": "parquet"})
    status = wait_export(tenant, response.json()["id"])
    assert status["status"] == "succeeded", status
    assert status["download_url"].startswith(s3_endpoint)  # a presigned S3 URL, not the service
    body = httpx.get(status["download_url"]).content
    assert len(body) == status["bytes"] and body[:4] == b"PAR1"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    # The file is named after what it holds, under the export's own folder (exports/<id>/<name>).
    prefix = f"prod/analytics/tenants/{tenant.id}/exports/{status['id']}/"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    assert len(keys) == 1 and keys[0].endswith(".parquet"), keys
    head = s3.head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ContentLength"] == status["bytes"]
    assert runtime.storage.kind == "s3"
