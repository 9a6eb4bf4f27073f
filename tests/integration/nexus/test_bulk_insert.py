"""One-statement inserts on a connection of their own (stores.bulk), against the real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.bulk import BulkInsert, unnest_insert
from oblivion_nexus.stores.db import DatabaseError
from tests.support.nexus import migrate_database

COLUMNS = ("day", "workgroup", "agent", "agent_id", "task_id", "provider", "model", "prompt_tokens",
           "completion_tokens", "cost_usd")  # fmt: skip
TABLE = t.Base.metadata.tables["model_usage"]
DAY = dt.date(2026, 12, 7)


@pytest.fixture
async def engine(fresh_postgres_url: str) -> AsyncIterator[AsyncEngine]:
    migrate_database(fresh_postgres_url)
    engine = create_async_engine(fresh_postgres_url)
    async with engine.begin() as connection:
        await connection.execute(insert(t.Workgroup).values(name="backend"))
    yield engine
    await engine.dispose()


def row(n: int, *, workgroup: str = "backend", cost: Decimal | None = None) -> tuple[object, ...]:
    return (DAY, workgroup, "bot", 7, f"task{n}" if n % 2 else None, "openai", "gpt-4o-mini", n, 2 * n, cost)


async def stored(engine: AsyncEngine) -> list[tuple[object, ...]]:
    columns = [TABLE.c[name] for name in COLUMNS]
    async with engine.connect() as connection:
        result = await connection.execute(select(*columns).order_by(TABLE.c.prompt_tokens))
        return [tuple(r) for r in result]


def test_the_statement_takes_one_array_per_column_typed_as_the_schema_says() -> None:
    statement = unnest_insert(TABLE, ("day", "agent", "cost_usd"))
    assert statement == (
        "INSERT INTO model_usage (day, agent, cost_usd)"
        " SELECT * FROM unnest(%s::DATE[], %s::VARCHAR(253)[], %s::NUMERIC(18, 6)[])"
    )


async def test_rows_go_in_as_given_nulls_and_decimals_included(engine: AsyncEngine) -> None:
    bulk = BulkInsert(engine.url.render_as_string(hide_password=False), TABLE, COLUMNS)
    try:
        await bulk.insert([row(1, cost=Decimal("0.000123")), row(2)])
        await bulk.insert([row(n) for n in range(3, 503)])  # one statement, however many rows
        await bulk.insert([])
    finally:
        await bulk.aclose()

    assert await stored(engine) == [row(1, cost=Decimal("0.000123")), *(row(n) for n in range(2, 503))]


async def test_a_row_the_schema_refuses_fails_its_whole_batch_and_the_next_one_goes_in(
    engine: AsyncEngine,
) -> None:
    bulk = BulkInsert(engine.url.render_as_string(hide_password=False), TABLE, COLUMNS)
    try:
        with pytest.raises(DatabaseError, match=r"could not insert 2 row\(s\): ForeignKeyViolation"):
            await bulk.insert([row(1), row(2, workgroup=f"nobody-{uuid.uuid4().hex[:6]}")])
        assert await stored(engine) == []
        await bulk.insert([row(3)])
    finally:
        await bulk.aclose()
    assert await stored(engine) == [row(3)]


async def test_after_its_connection_is_cut_the_next_insert_goes_in_on_a_new_one(engine: AsyncEngine) -> None:
    bulk = BulkInsert(
        engine.url.render_as_string(hide_password=False), TABLE, COLUMNS, synchronous_commit=False
    )
    try:
        await bulk.insert([row(1)])
        async with engine.connect() as admin:  # a database restart or failover, as the writer sees it
            cut = await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND application_name = ''"
                )
            )
            assert any(cut.scalars()), "the writer's connection was not found to cut"
        await bulk.insert([row(2)])
    finally:
        await bulk.aclose()
    assert await stored(engine) == [row(1), row(2)]


async def test_a_database_that_is_not_there_is_a_database_error(fresh_postgres_url: str) -> None:
    unreachable = fresh_postgres_url.replace("127.0.0.1:5432", "127.0.0.1:9")
    assert unreachable != fresh_postgres_url
    bulk = BulkInsert(unreachable, TABLE, COLUMNS)
    with pytest.raises(DatabaseError, match=r"could not insert 1 row\(s\): OperationalError"):
        await bulk.insert([row(1)])
    await bulk.aclose()
