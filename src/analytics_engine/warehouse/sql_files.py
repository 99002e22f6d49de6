"""The migration files (`warehouse/migrations/NNNN_what.sql`) and the statement splitter, shared by
`migrations.py` (applies them) and `cluster.py` (their cluster form)."""

from __future__ import annotations

from importlib import resources


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("analytics_engine.warehouse") / "migrations"
    files = sorted((entry.name, entry.read_text()) for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), text) for name, text in files]


def split_statements(text: str) -> list[str]:
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s.strip()]
