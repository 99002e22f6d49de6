"""Streaming ingest: a JetStream durable pull consumer that validates, batches and inserts events,
acknowledges only after the insert, and records its checkpoints (docs/streaming.md)."""
