"""Where sources and checkpoints live: the YAML file (read-only here) plus sources declared through
the API (metadata table `sync_sources`), and one checkpoint row per source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from analytics_engine.errors import Conflict, NotFound
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import utcnow
from analytics_engine.sync.models import SyncCheckpoint, SyncSource
from analytics_engine.sync.spec import SourceSpec, TableTarget, load_sources_file, parse_spec


@dataclass
class Checkpoint:
    source: str
    cursor: list[str] | None = None
    rows_copied: int = 0
    backfill_done: bool = False
    in_doubt: bool = False
    last_job_id: str | None = None
    high_water: list[str] | None = None

    def public(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "rows_copied": self.rows_copied,
            "backfill_done": self.backfill_done,
            "in_doubt": self.in_doubt,
            "last_job_id": self.last_job_id,
            "high_water": self.high_water,
        }


class SourceRegistry:
    def __init__(self, metadata: MetadataDB, sources_file: Path | None) -> None:
        self.metadata = metadata
        self.sources_file = sources_file

    # --- sources --------------------------------------------------------------------------------
    def file_specs(self) -> list[SourceSpec]:
        if self.sources_file is None:
            return []
        return load_sources_file(self.sources_file)

    def api_specs(self) -> list[SourceSpec]:
        with self.metadata.session() as session:
            rows = list(session.scalars(select(SyncSource).order_by(SyncSource.name)))
        return [parse_spec(row.spec, f"stored source {row.name}") for row in rows]

    def all(self) -> list[tuple[SourceSpec, str]]:
        """Every source with where it was declared (`file` or `api`); the file wins a name clash."""
        seen: dict[str, tuple[SourceSpec, str]] = {s.name: (s, "file") for s in self.file_specs()}
        for spec in self.api_specs():
            seen.setdefault(spec.name, (spec, "api"))
        return [seen[name] for name in sorted(seen)]

    def get(self, name: str) -> tuple[SourceSpec, str]:
        for spec, origin in self.all():
            if spec.name == name:
                return spec, origin
        raise NotFound(f"No sync source named {name!r}.")

    def create(self, spec: SourceSpec) -> SourceSpec:
        existing = self.all()
        if any(other.name == spec.name for other, _ in existing):
            raise Conflict(f"A sync source named {spec.name!r} already exists.")
        if isinstance(spec.target, TableTarget):
            for other, _ in existing:
                if isinstance(other.target, TableTarget) and other.target.table == spec.target.table:
                    raise Conflict(f"Sync source {other.name!r} already writes warehouse table {spec.target.table}.")
        with self.metadata.session() as session:
            session.add(SyncSource(name=spec.name, spec=spec.model_dump(mode="json")))
        return spec

    def delete(self, name: str) -> None:
        _, origin = self.get(name)
        if origin == "file":
            raise Conflict(f"Sync source {name!r} is declared in {self.sources_file}; remove it there.")
        with self.metadata.session() as session:
            row = session.get(SyncSource, name)
            if row is not None:
                session.delete(row)
            checkpoint = session.get(SyncCheckpoint, name)
            if checkpoint is not None:
                session.delete(checkpoint)

    # --- checkpoints ----------------------------------------------------------------------------
    def checkpoint(self, name: str) -> Checkpoint:
        with self.metadata.session() as session:
            row = session.get(SyncCheckpoint, name)
            if row is None:
                return Checkpoint(name)
            return Checkpoint(
                name, row.cursor, row.rows_copied, row.backfill_done, row.in_doubt, row.last_job_id, row.high_water
            )

    def save_checkpoint(self, name: str, **values: Any) -> None:
        with self.metadata.session() as session:
            row = session.get(SyncCheckpoint, name)
            if row is None:
                row = SyncCheckpoint(source=name, rows_copied=0, backfill_done=False, in_doubt=False)
                session.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = utcnow()

    def reset_checkpoint(self, name: str) -> None:
        with self.metadata.session() as session:
            row = session.get(SyncCheckpoint, name)
            if row is not None:
                session.delete(row)
