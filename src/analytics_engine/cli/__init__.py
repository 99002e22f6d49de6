"""The `analytics-engine` command line."""
