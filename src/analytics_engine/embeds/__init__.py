"""Sharing and embedding (docs/embedding.md): signed, expiring, revocable read-only tokens for one
dashboard or one insight of one tenant, with locked filters a viewer cannot widen, and the `/embed/`
page that shows them."""
