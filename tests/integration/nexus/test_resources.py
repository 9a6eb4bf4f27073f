"""``open_resources``: the one place both Nexus processes open their clients, and close them again.

A refused start (a database not migrated) must not leave connections behind: a crash-looping pod
would otherwise hold PostgreSQL connections until the server runs out of them.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from oblivion_nexus.resources import open_resources
from oblivion_nexus.settings import load_settings
from oblivion_nexus.stores.db import SchemaNotReady, create_engine, migrate


def _connections_to(database_url: str) -> int:
    """Sessions open on the database of ``database_url``, other than the one asking."""
    admin_url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = admin_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, nexus_env: dict[str, str]) -> pytest.MonkeyPatch:
    for name, value in nexus_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OBLIVION_SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("OBLIVION_CLICKUP_TOKEN", "pk_test")
    return monkeypatch


async def test_open_resources_gives_working_clients_and_closes_them_all(
    env: pytest.MonkeyPatch, fresh_postgres_url: str
) -> None:
    env.setenv("OBLIVION_DATABASE_URL", fresh_postgres_url)
    settings = load_settings()
    engine = create_engine(settings.database.url, pool_size=1)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    async with open_resources(settings) as resources:
        async with resources.sessionmaker() as session:
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
        assert await resources.redis.ping()
        assert resources.slack is not None
        assert resources.clickup is not None
        assert resources.webhook_queue is not None
        assert resources.tool_http is not None
        assert _connections_to(settings.database.url) >= 1
    assert resources.tool_http.is_closed
    assert _connections_to(settings.database.url) == 0


async def test_a_refused_start_closes_what_was_already_opened(
    env: pytest.MonkeyPatch, fresh_postgres_url: str
) -> None:
    env.setenv("OBLIVION_DATABASE_URL", fresh_postgres_url)  # empty: no schema
    settings = load_settings()
    with pytest.raises(SchemaNotReady, match="oblivion nexus migrate"):
        async with open_resources(settings):
            raise AssertionError("a database without the schema was accepted")
    assert _connections_to(settings.database.url) == 0
