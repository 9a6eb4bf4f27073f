"""``/readyz`` tells an orchestrator which dependency is missing; ``/healthz`` never depends on one."""

from __future__ import annotations

import json

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text

from oblivion_nexus.api.health import readyz
from oblivion_nexus.resources import Resources
from oblivion_nexus.stores.crypto import MasterKeys
from oblivion_nexus.stores.db import create_engine, create_sessionmaker
from tests.support.nexus import migrate_database, nexus_settings, running_nexus
from tests.support.servers import free_port


async def test_ready_when_postgres_redis_and_schema_are_fine(nexus_env: dict[str, str]) -> None:
    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    async with running_nexus(settings) as nexus, httpx.AsyncClient(base_url=nexus.url) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "memory": "ok"}
    assert alive.json() == {"status": "ok"}


async def test_not_ready_when_the_schema_moved_on_under_a_running_nexus(
    nexus_env: dict[str, str], fresh_postgres_url: str
) -> None:
    settings = nexus_settings(nexus_env, database_url=fresh_postgres_url)
    migrate_database(fresh_postgres_url)
    async with running_nexus(settings) as nexus, httpx.AsyncClient(base_url=nexus.url) as client:
        async with nexus.app.state.resources.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["schema"]
    assert "oblivion nexus migrate" in ready.json()["checks"]["schema"]
    assert alive.status_code == 200


async def test_not_ready_names_postgres_and_redis_when_unreachable(nexus_env: dict[str, str]) -> None:
    settings = nexus_settings(
        nexus_env,
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/none",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    engine = create_engine(settings.database.url, pool_size=1)
    redis = aioredis.Redis.from_url(settings.redis.url)
    resources = Resources(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        redis=redis,
        master_keys=MasterKeys.parse(settings.security.master_key.get_secret_value()),
    )
    try:
        response = await readyz(resources)
    finally:
        await redis.aclose()
        await engine.dispose()
    body = json.loads(bytes(response.body))
    assert response.status_code == 503
    assert body["failed"] == ["postgres", "redis"]
    assert body["checks"]["redis"].startswith("unreachable")
