"""Event ingest: one validation path (HTTP, NATS, sync) and a group-commit writer into the warehouse."""
