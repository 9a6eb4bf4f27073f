"""The collection a project's memory goes to is the one the operator registered for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from oblivion_nexus.services.memory import ProjectNotRegistered, collection_for, collections_of
from oblivion_nexus.stores.db import create_engine, create_sessionmaker
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus


@pytest.fixture
async def nexus(nexus_env: dict[str, str]) -> AsyncIterator[RunningNexus]:
    settings = nexus_settings(nexus_env)
    migrate_database(settings.database.url)
    async with running_nexus(settings) as running:
        yield running


async def test_projects_map_to_the_workgroups_collection_or_their_own(nexus: RunningNexus) -> None:
    wg = f"wg-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=nexus.url + "/internal/v1", headers=nexus.admin_headers()) as admin:
        assert (await admin.put(f"/workgroups/{wg}", json={"collection": f"tenant_{wg}"})).status_code == 201
        shared = await admin.put(f"/workgroups/{wg}/projects/payments", json={"memoryIsolation": "Shared"})
        own = await admin.put(
            f"/workgroups/{wg}/projects/search",
            json={"memoryIsolation": "PerProject", "collection": f"tenant_{wg}__search"},
        )
        assert (shared.status_code, own.status_code) == (201, 201)

    engine = create_engine(nexus.settings.database.url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            payments = await collection_for(session, wg, "payments")
            search = await collection_for(session, wg, "search")
            everything = await collections_of(session, wg)
            with pytest.raises(ProjectNotRegistered, match=f"{wg}/missing is not registered"):
                await collection_for(session, wg, "missing")
    finally:
        await engine.dispose()
    assert (payments.collection, payments.isolation) == (f"tenant_{wg}", "Shared")
    assert (search.collection, search.isolation) == (f"tenant_{wg}__search", "PerProject")
    assert everything == {"payments": f"tenant_{wg}", "search": f"tenant_{wg}__search"}
