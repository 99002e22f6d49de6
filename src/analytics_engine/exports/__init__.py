"""Async exports of raw events, insight results, metrics and dashboards to CSV, XLSX, JSON, NDJSON
and Parquet: a job per export, workers in `serve`, files in object storage behind signed URLs."""
