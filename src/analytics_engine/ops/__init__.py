"""Operations tools: the capacity model (docs/runbook.md)."""
