"""The storage interface and its two implementations (local folder, S3-compatible)."""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from analytics_engine.errors import InvalidInput, NotFound
from analytics_engine.storage.signing import UrlSigner

if TYPE_CHECKING:
    from analytics_engine.config import Settings

_TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")


def object_path(tenant_id: str, key: str) -> str:
    """`tenants/<tenant>/<key>` after strict checks: no `..`, no absolute keys, no odd characters."""
    if not _TENANT_RE.match(tenant_id):
        raise InvalidInput("Not a tenant id.", code="bad_object_key")
    segments = key.split("/")
    if not key or len(segments) > 8 or not all(_SEGMENT_RE.match(s) and ".." not in s for s in segments):
        raise InvalidInput(f"Not a valid object key: {key[:100]!r}.", code="bad_object_key")
    return f"tenants/{tenant_id}/{key}"


def content_type_for(key: str) -> str:
    known = {
        ".csv": "text/csv",
        ".ndjson": "application/x-ndjson",
        ".json": "application/json",
        ".parquet": "application/vnd.apache.parquet",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".pdf": "application/pdf",
    }
    suffix = os.path.splitext(key)[1].lower()
    return known.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


@dataclass
class ObjectInfo:
    key: str
    size: int
    modified: datetime


class Storage(Protocol):
    kind: str

    def put_file(self, tenant_id: str, key: str, path: Path) -> int:
        """Store the local file `path` (moved or uploaded) as the tenant's `key`; returns its size."""
        ...

    def open(self, tenant_id: str, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; `NotFound` if missing."""
        ...

    def info(self, tenant_id: str, key: str) -> ObjectInfo | None: ...

    def delete(self, tenant_id: str, key: str) -> None: ...

    def list(self, tenant_id: str, prefix: str = "") -> list[ObjectInfo]: ...

    def download_url(self, tenant_id: str, key: str, expires_in: int, *, base_url: str = "") -> str:
        """A URL anyone holding it can download from until it expires."""
        ...


class LocalStorage:
    kind = "local"

    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.signer = signer

    def _path(self, tenant_id: str, key: str) -> Path:
        path = (self.root / object_path(tenant_id, key)).resolve()
        if not path.is_relative_to(self.root / "tenants" / tenant_id):
            raise InvalidInput("Not a valid object key.", code="bad_object_key")
        return path

    def put_file(self, tenant_id: str, key: str, path: Path) -> int:
        target = self._path(tenant_id, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = path.stat().st_size
        try:
            os.replace(path, target)
        except OSError:  # another file system: copy, then remove
            shutil.copyfile(path, target)
            path.unlink(missing_ok=True)
        return size

    def open(self, tenant_id: str, key: str) -> Iterator[bytes]:
        path = self._path(tenant_id, key)
        if not path.is_file():
            raise NotFound("No such file.")
        handle = path.open("rb")

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

        return chunks()

    def info(self, tenant_id: str, key: str) -> ObjectInfo | None:
        path = self._path(tenant_id, key)
        if not path.is_file():
            return None
        stat = path.stat()
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def delete(self, tenant_id: str, key: str) -> None:
        """Remove the object and the folders it leaves empty (an export's `exports/<id>/`)."""
        path = self._path(tenant_id, key)
        path.unlink(missing_ok=True)
        base = self.root / "tenants" / tenant_id
        for folder in path.parents:
            if folder == base or base not in folder.parents:
                break
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break

    def list(self, tenant_id: str, prefix: str = "") -> list[ObjectInfo]:
        base = self.root / "tenants" / tenant_id
        if not base.is_dir():
            return []
        found = []
        for path in sorted(base.rglob("*")):
            key = path.relative_to(base).as_posix()
            if path.is_file() and key.startswith(prefix):
                stat = path.stat()
                found.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return found

    def download_url(self, tenant_id: str, key: str, expires_in: int, *, base_url: str = "") -> str:
        object_path(tenant_id, key)
        return base_url.rstrip("/") + self.signer.sign(tenant_id, key, expires_in)


class S3Storage:
    """Any S3-compatible store through boto3; objects at `<prefix>/tenants/<tenant>/<key>`."""

    kind = "s3"

    def __init__(
        self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
        )

    def _key(self, tenant_id: str, key: str) -> str:
        path = object_path(tenant_id, key)
        return f"{self.prefix}/{path}" if self.prefix else path

    def put_file(self, tenant_id: str, key: str, path: Path) -> int:
        size = path.stat().st_size
        # upload_file streams from disk in multipart chunks: constant memory whatever the size.
        self.client.upload_file(
            str(path), self.bucket, self._key(tenant_id, key), ExtraArgs={"ContentType": content_type_for(key)}
        )
        path.unlink(missing_ok=True)
        return size

    def open(self, tenant_id: str, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(tenant_id, key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound("No such file.") from exc
            raise
        chunks: Iterator[bytes] = body.iter_chunks(1 << 20)  # botocore's StreamingBody, untyped
        return chunks

    def info(self, tenant_id: str, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(tenant_id, key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"])

    def delete(self, tenant_id: str, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(tenant_id, key))

    def list(self, tenant_id: str, prefix: str = "") -> list[ObjectInfo]:
        base = self._key(tenant_id, "x")[:-1]
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
            for item in page.get("Contents", []):
                found.append(ObjectInfo(item["Key"][len(base) :], int(item["Size"]), item["LastModified"]))
        return found

    def download_url(self, tenant_id: str, key: str, expires_in: int, *, base_url: str = "") -> str:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(tenant_id, key),
                "ResponseContentDisposition": f'attachment; filename="{key.rsplit("/", 1)[-1]}"',
            },
            ExpiresIn=expires_in,
        )
        return url


def build_storage(settings: Settings) -> Storage:
    """From `ANALYTICS_STORAGE_URL`: `s3://bucket/prefix`, `file:///path`, a plain path, or the default."""
    from analytics_engine.storage.signing import load_signing_key

    url = settings.storage_url
    signer = UrlSigner(load_signing_key(settings.storage_signing_key, settings.data_dir))
    if url and url.startswith("s3://"):
        parsed = urlparse(url)
        if not parsed.netloc:
            raise ValueError("ANALYTICS_STORAGE_URL must name a bucket: s3://bucket/prefix")
        return S3Storage(
            parsed.netloc,
            parsed.path,
            endpoint_url=settings.storage_s3_endpoint_url,
            region=settings.storage_s3_region,
        )
    if url and url.startswith("file://"):
        root = Path(urlparse(url).path)
    elif url:
        root = Path(url)
    else:
        root = settings.data_dir / "storage"
    return LocalStorage(root, signer)
