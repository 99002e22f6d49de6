"""Materialized properties: hot event properties as typed columns of `events` (docs/materialized-properties.md)."""
