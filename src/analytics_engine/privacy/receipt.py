"""Signing receipts: HMAC-SHA256 over the receipt's canonical JSON (keys sorted, no spaces, UTF-8),
with `ANALYTICS_PRIVACY_RECEIPT_KEY` or a key generated once in the data folder. docs/privacy.md shows
how to check one by hand."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

KEY_FILE = "privacy-receipt-key"


def load_receipt_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def canonical(receipt: dict[str, Any]) -> bytes:
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(receipt: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(receipt), hashlib.sha256).hexdigest()


def verify(receipt: dict[str, Any], signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(receipt, key), signature)


def subject_hash(tenant_id: str, distinct_id: str) -> str:
    """What a receipt and the suppression list keep of an id: SHA-256 of `tenant_id:distinct_id`."""
    return hashlib.sha256(f"{tenant_id}:{distinct_id}".encode()).hexdigest()
