"""Renders docs/configuration.md from the Settings class, so the documented list is the real one."""

from __future__ import annotations

from analytics_engine.config import Settings


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable (or a line in `.env`). Generated from",
        "`src/analytics_engine/config.py` by `analytics-engine config-docs > docs/configuration.md`;",
        "a test fails when a setting is missing here.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(derived)" if default is None and name in ("warehouse_dsn", "metadata_url") else repr(default)
        if default is None and shown != "(derived)":
            shown = "unset"
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `ANALYTICS_{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(lines) + "\n"
