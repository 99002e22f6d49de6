"""Analytics Engine: multi-tenant analytics and impact measurement on ClickHouse."""

__version__ = "0.1.0"
