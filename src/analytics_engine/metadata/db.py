"""Engine and sessions of the metadata database; SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

VERSIONS = Path(__file__).parent / "alembic" / "versions"


class MetadataDB:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
        finally:
            session.close()

    def migrate(self) -> None:
        from alembic import command

        command.upgrade(alembic_config(self.url), "heads")

    def migrate_if_needed(self) -> None:
        """`migrate()` unless the database already stands at every head: importing alembic alone takes
        longer than a CLI command that only reads tenants may (issue 24), so the heads are read from the
        revision files with `ast` and compared with `alembic_version`; any doubt runs the migration."""
        try:
            with self.engine.connect() as conn:
                applied = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
        except SQLAlchemyError:
            applied = set()
        if applied != script_heads():
            self.migrate()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def script_heads(folder: Path = VERSIONS) -> set[str]:
    """The revisions no other revision names as its `down_revision`: what `upgrade heads` reaches."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in folder.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, assigned = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, assigned = node.target, node.value
            else:
                continue
            if not isinstance(target, ast.Name) or target.id not in ("revision", "down_revision"):
                continue
            name, value = target.id, ast.literal_eval(assigned)
            values = set(value) if isinstance(value, tuple | list) else {value} if value else set()
            (revisions if name == "revision" else parents).update(values)
    return revisions - parents


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
