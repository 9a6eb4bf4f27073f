"""Alembic migrations: they build exactly the schema the code declares, repeatably."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from oblivion_nexus.stores.db import create_engine, head_revision, migrate, schema_status
from oblivion_nexus.stores.tables import Base

EXPECTED_TABLES = {
    "workgroups",
    "projects",
    "agents",
    "agent_aliases",
    "agent_projects",
    "task_mappings",
    "mirror_ledger",
    "credentials",
    "audit_log",
}


async def test_empty_database_is_reported_without_a_schema(fresh_postgres_url: str) -> None:
    engine = create_engine(fresh_postgres_url)
    try:
        status = await schema_status(engine)
    finally:
        await engine.dispose()
    assert status.current is None
    assert not status.at_head


async def test_migrate_creates_every_table_and_reaches_head(fresh_postgres_url: str) -> None:
    engine = create_engine(fresh_postgres_url)
    try:
        status = await migrate(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert status.at_head
    assert status.current == head_revision()
    assert tables >= EXPECTED_TABLES


async def test_migrate_twice_changes_nothing(fresh_postgres_url: str) -> None:
    engine = create_engine(fresh_postgres_url)
    try:
        first = await migrate(engine)
        second = await migrate(engine)
    finally:
        await engine.dispose()
    assert first == second


async def test_migrated_schema_matches_the_declared_tables(fresh_postgres_url: str) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(fresh_postgres_url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_downgrade_to_base_removes_the_schema(fresh_postgres_url: str) -> None:
    from alembic import command

    from oblivion_nexus.stores.db import alembic_config

    engine = create_engine(fresh_postgres_url)
    try:
        await migrate(engine)

        def down(connection: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "base")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        status = await schema_status(engine)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert status.current is None
    assert not tables & EXPECTED_TABLES
