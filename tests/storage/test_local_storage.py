"""Local storage: tenant prefixes, key checks, and signed URLs (tampered, expired, other tenant -> 403)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from analytics_engine.errors import Forbidden, InvalidInput, NotFound
from analytics_engine.storage.base import LocalStorage, object_path
from analytics_engine.storage.signing import UrlSigner


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "store", UrlSigner(b"k" * 32))


def put(storage: LocalStorage, tmp_path: Path, tenant: str, key: str, data: bytes) -> int:
    source = tmp_path / f"upload-{time.monotonic_ns()}"
    source.write_bytes(data)
    return storage.put_file(tenant, key, source)


def test_objects_live_under_the_tenant_prefix(storage: LocalStorage, tmp_path: Path) -> None:
    assert put(storage, tmp_path, "tn_a", "exports/one.csv", b"a,b\n1,2\n") == 8
    assert (storage.root / "tenants" / "tn_a" / "exports" / "one.csv").read_bytes() == b"a,b\n1,2\n"
    assert b"".join(storage.open("tn_a", "exports/one.csv")) == b"a,b\n1,2\n"
    # the same key for another tenant is another object, and it does not exist
    assert storage.info("tn_b", "exports/one.csv") is None
    with pytest.raises(NotFound):
        b"".join(storage.open("tn_b", "exports/one.csv"))
    assert [o.key for o in storage.list("tn_a")] == ["exports/one.csv"]
    assert storage.list("tn_b") == []
    storage.delete("tn_a", "exports/one.csv")
    assert storage.info("tn_a", "exports/one.csv") is None


@pytest.mark.parametrize(
    "tenant,key",
    [("tn_a", "../tn_b/x.csv"), ("tn_a", "/etc/passwd"), ("tn_a", "a/../../b"), ("../x", "k.csv"), ("tn_a", "")],
)
def test_keys_cannot_escape_the_prefix(tenant: str, key: str) -> None:
    with pytest.raises(InvalidInput):
        object_path(tenant, key)


def test_signed_url_round_trip_and_refusals() -> None:
    signer = UrlSigner(b"s" * 32)
    url = signer.sign("tn_a", "exports/x.csv", 60)
    parsed = urlparse(url)
    assert parsed.path == "/v1/files/tn_a/exports/x.csv"
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    signer.verify("tn_a", "exports/x.csv", query["expires"], query["signature"])  # valid: no error
    with pytest.raises(Forbidden):  # another tenant with the same signature
        signer.verify("tn_b", "exports/x.csv", query["expires"], query["signature"])
    with pytest.raises(Forbidden):  # another file
        signer.verify("tn_a", "exports/y.csv", query["expires"], query["signature"])
    with pytest.raises(Forbidden):  # a later expiry
        signer.verify("tn_a", "exports/x.csv", str(int(query["expires"]) + 3600), query["signature"])
    with pytest.raises(Forbidden):  # a flipped signature character
        flipped = ("0" if query["signature"][0] != "0" else "1") + query["signature"][1:]
        signer.verify("tn_a", "exports/x.csv", query["expires"], flipped)
    expired = urlparse(signer.sign("tn_a", "exports/x.csv", 10, now=time.time() - 100))
    q2 = {k: v[0] for k, v in parse_qs(expired.query).items()}
    with pytest.raises(Forbidden) as info:
        signer.verify("tn_a", "exports/x.csv", q2["expires"], q2["signature"])
    assert info.value.code == "link_expired"
    with pytest.raises(Forbidden):  # another key signs differently
        UrlSigner(b"t" * 32).verify("tn_a", "exports/x.csv", query["expires"], query["signature"])


def test_delete_removes_the_folders_it_leaves_empty(tmp_path) -> None:  # type: ignore[no-untyped-def]
    storage = LocalStorage(tmp_path, UrlSigner(b"k" * 32))
    source = tmp_path / "f.csv"
    for key in ("exports/job_1/a.csv", "exports/job_2/b.csv"):
        source.write_bytes(b"x")
        storage.put_file("tn_a", key, source)
    storage.delete("tn_a", "exports/job_1/a.csv")
    assert not (tmp_path / "tenants" / "tn_a" / "exports" / "job_1").exists()
    assert (tmp_path / "tenants" / "tn_a" / "exports" / "job_2" / "b.csv").exists()
