"""GDPR erasure with signed receipts (docs/privacy.md)."""
