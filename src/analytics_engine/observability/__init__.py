"""Logs, Prometheus metrics and request ids."""
