from __future__ import annotations

from pathlib import Path

from analytics_engine.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented():
    text = DOC.read_text()
    missing = [name for name in Settings.model_fields if f"`ANALYTICS_{name.upper()}`" not in text]
    assert not missing, f"run `analytics-engine config-docs > docs/configuration.md`; missing: {missing}"


def test_every_setting_has_help_text():
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []
