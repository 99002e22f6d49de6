"""HMAC-signed, expiring download URLs for objects of local storage.

The signature covers the tenant, the object key and the expiry, so changing any of them (another
tenant's id, another file, a later expiry) invalidates the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from analytics_engine.errors import Forbidden

FILES_PREFIX = "/v1/files"
_VERSION = "v1"


def load_signing_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret, or one generated once and kept in the data folder."""
    if configured:
        return configured.encode()
    path = data_dir / "storage-signing-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


class UrlSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the signing key must be at least 16 bytes")
        self._key = key

    def signature(self, tenant_id: str, key: str, expires: int) -> str:
        message = f"{_VERSION}\n{tenant_id}\n{key}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, tenant_id: str, key: str, expires_in: int, *, now: float | None = None) -> str:
        """A path (no host) valid for `expires_in` seconds: `/v1/files/<tenant>/<key>?expires=..&signature=..`."""
        expires = int((now if now is not None else time.time()) + expires_in)
        return (
            f"{FILES_PREFIX}/{quote(tenant_id)}/{quote(key)}"
            f"?expires={expires}&signature={self.signature(tenant_id, key, expires)}"
        )

    def verify(self, tenant_id: str, key: str, expires: int | str | None, signature: str | None) -> None:
        """Raise `Forbidden` unless the signature matches and has not expired."""
        if expires is None or signature is None:
            raise Forbidden("This download link is not signed.", code="bad_signature")
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            raise Forbidden("This download link is malformed.", code="bad_signature") from None
        expected = self.signature(tenant_id, key, expires_at)
        if not hmac.compare_digest(expected, str(signature)):
            raise Forbidden("This download link's signature does not match.", code="bad_signature")
        if expires_at < time.time():
            raise Forbidden("This download link has expired.", code="link_expired")
