"""Object storage for exports and report files: a local folder or any S3-compatible store.

Every object lives under its tenant's prefix (`tenants/<tenant_id>/...`); the tenant is part of
every call, so one tenant's key can never name another's object. Local objects are downloaded from
the service itself at an HMAC-signed, expiring URL (`/v1/files/...`); S3 objects at a presigned URL.
"""

from analytics_engine.storage.base import ObjectInfo, Storage, build_storage, object_path
from analytics_engine.storage.signing import UrlSigner

__all__ = ["ObjectInfo", "Storage", "UrlSigner", "build_storage", "object_path"]
