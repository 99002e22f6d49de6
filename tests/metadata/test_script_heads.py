"""`script_heads` (read with `ast`, so the CLI can skip importing alembic) agrees with alembic's own."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from analytics_engine.metadata.db import MetadataDB, alembic_config, script_heads


def test_script_heads_are_alembics():
    config = alembic_config("sqlite://")
    assert script_heads() == set(ScriptDirectory.from_config(config).get_heads())


def test_migrate_if_needed_migrates_a_new_database_and_then_does_nothing(tmp_path):
    metadata = MetadataDB(f"sqlite:///{tmp_path / 'meta.db'}")
    metadata.migrate_if_needed()
    with metadata.engine.connect() as conn:
        from sqlalchemy import text

        applied = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    assert applied == script_heads()
    metadata.migrate_if_needed()  # at every head: no migration, no error
    metadata.dispose()
