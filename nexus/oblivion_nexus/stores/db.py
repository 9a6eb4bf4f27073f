"""PostgreSQL access: the async engine, sessions, and the Alembic schema revision Nexus needs.

``oblivion nexus migrate`` brings a database to the newest revision; ``serve`` and ``/readyz`` only
compare, because a server that silently altered its schema on start-up would race its replicas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from oblivion_nexus.errors import NexusError

logger = logging.getLogger(__name__)

MIGRATIONS = "oblivion_nexus:migrations"
MIGRATE_HINT = "run `oblivion nexus migrate` against this database first"


class DatabaseError(NexusError):
    """PostgreSQL is unreachable or refused an operation."""


class SchemaNotReady(DatabaseError):
    """The database schema is missing or older/newer than this Nexus; the message says what to run."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        state = "has no Nexus schema" if current is None else f"is at revision {current}"
        super().__init__(f"the database {state}, this Nexus needs revision {head}: {MIGRATE_HINT}")


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def _describe(e: SQLAlchemyError) -> str:
    """The driver's first line (e.g. "connection refused"), without SQLAlchemy's SQL and links."""
    cause = getattr(e, "orig", None) or e
    return f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause).strip() else ''}"


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    # hide_parameters: an error's text and the engine's log show the SQL without its bound values,
    # which can be a client secret's hash, a credential's ciphertext or text an attacker chose.
    return create_async_engine(
        database_url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10, hide_parameters=True
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside this package."""
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise DatabaseError("the Nexus package ships no migrations")
    return head


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    """Which revision the database is at, against the one this code needs."""
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_current_revision)
    except SQLAlchemyError as e:
        raise DatabaseError(f"cannot read the schema revision: {_describe(e)}") from e
    return SchemaStatus(current=current, head=head_revision())


async def require_schema_at_head(engine: AsyncEngine) -> None:
    status = await schema_status(engine)
    if not status.at_head:
        raise SchemaNotReady(status.current, status.head)


async def migrate(engine: AsyncEngine, revision: str = "head") -> SchemaStatus:
    """Upgrade the database to ``revision`` (idempotent) and return the resulting status."""
    cfg = alembic_config()

    def _upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    except SQLAlchemyError as e:
        raise DatabaseError(_describe(e)) from e
    status = await schema_status(engine)
    logger.info("database schema at revision %s", status.current)
    return status
