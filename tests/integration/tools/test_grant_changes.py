"""A change to an agent's grants takes effect on the next call, on every replica, although each
replica keeps the grants it read in memory: narrowed or deleted credentials and narrowed agent tools
refuse at once, and what the cache holds heals by itself even if the registry's notice is lost."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select, update

from oblivion_nexus.services.tools.grants import GRANTS_TTL_SECONDS, GrantsCache
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.db import create_engine, create_sessionmaker
from tests.support.nexus import running_nexus
from tests.support.registry import register_agent
from tests.support.tool_gateway import ToolWorld

READ = {"tool": "github", "action": "repos.get_file_contents"}
README = {"owner": "acme", "repo": "api", "path": "README.md"}
ISSUE = {"owner": "acme", "repo": "api", "title": "Flaky deploy"}


@asynccontextmanager
async def second_replica(world: ToolWorld, agent: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Another Nexus on the same database and Redis, and the agent's client pointed at it."""
    async with (
        running_nexus(world.nexus.settings) as replica,
        httpx.AsyncClient(base_url=replica.url, headers=agent.headers, timeout=30) as client,
    ):
        yield client


async def call(agent: httpx.AsyncClient, action: str, args: dict[str, Any]) -> httpx.Response:
    return await agent.post("/v1/tools/invoke", json={"tool": "github", "action": action, "args": args})


async def test_a_credential_narrowed_on_one_replica_refuses_the_next_call_on_another(
    world: ToolWorld,
) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    async with second_replica(world, bot) as elsewhere:
        for agent in (bot, elsewhere):  # both replicas now hold the grants in memory
            assert (await call(agent, "issues.create", ISSUE)).status_code == 200
        await world.credential(
            "github",
            type="github",
            value=world.github.token,
            allowedActions=["repos.*"],
            config={"baseUrl": world.github.url},
        )
        refused = await call(elsewhere, "issues.create", ISSUE)
        assert refused.status_code == 403, refused.text
        assert "does not allow 'issues.create'" in refused.json()["detail"]["rule"]
        assert (await call(elsewhere, "repos.get_file_contents", README)).status_code == 200


async def test_a_deleted_credential_refuses_the_next_call_on_every_replica(world: ToolWorld) -> None:
    bot = await world.agent("backend-bot", [{"credential": "github"}])
    async with second_replica(world, bot) as elsewhere:
        for agent in (bot, elsewhere):
            assert (await call(agent, "repos.get_file_contents", README)).status_code == 200
        async with world.admin() as admin:
            assert (
                await admin.delete(f"/workgroups/{world.workgroup}/credentials/github")
            ).status_code == 204
        calls_before = len(world.github.calls)
        for agent in (bot, elsewhere):
            refused = await call(agent, "repos.get_file_contents", README)
            assert refused.status_code == 422, refused.text
            assert "no credential of type 'github'" in refused.text
        assert len(world.github.calls) == calls_before


async def test_an_agent_whose_tools_are_narrowed_is_refused_at_once(world: ToolWorld) -> None:
    secret = secrets.token_urlsafe(24)
    agent = await register_agent(
        world.nexus.url,
        world.nexus.admin_headers(),
        world.secrets,
        world.workgroup,
        "backend-bot",
        client_secret=secret,
        tools=[{"credential": "github"}],
    )
    bot = await agent.client(timeout=30)
    world.clients.append(bot)
    async with second_replica(world, bot) as elsewhere:
        assert (await call(elsewhere, "issues.create", ISSUE)).status_code == 200
        await register_agent(  # same client credentials: the token stays good, the tools shrink
            world.nexus.url,
            world.nexus.admin_headers(),
            world.secrets,
            world.workgroup,
            "backend-bot",
            client_secret=secret,
            tools=[{"credential": "github", "actions": ["repos.get_file_contents"]}],
        )
        refused = await call(elsewhere, "issues.create", ISSUE)
        assert refused.status_code == 403, refused.text
        assert "is not granted 'issues.create'" in refused.json()["detail"]["rule"]
        listed = (await elsewhere.get("/v1/tools")).json()["tools"]
        assert [tool["action"] for tool in listed] == ["repos.get_file_contents"]


async def test_grants_changed_behind_the_registrys_back_are_seen_once_the_cache_entry_expires(
    world: ToolWorld,
) -> None:
    await world.agent("backend-bot", [{"credential": "github"}])
    engine = create_engine(world.nexus.settings.database.url)
    now = [0.0]
    cache = GrantsCache(create_sessionmaker(engine), clock=lambda: now[0])
    try:
        async with create_sessionmaker(engine)() as session:
            named = (t.Agent.workgroup == world.workgroup, t.Agent.name == "backend-bot")
            agent_id = (await session.execute(select(t.Agent.id).where(*named))).scalar_one()
        before = await cache.get(world.workgroup, "backend-bot", agent_id, "v1")
        assert before.credentials["github"].allowed_actions == ("repos.*", "issues.*", "pulls.get")
        async with engine.begin() as conn:  # as if the registry's new version never reached Redis
            await conn.execute(
                update(t.Credential)
                .where(t.Credential.workgroup == world.workgroup, t.Credential.name == "github")
                .values(allowed_actions=["repos.*"])
            )
        now[0] += GRANTS_TTL_SECONDS / 2
        cached = await cache.get(world.workgroup, "backend-bot", agent_id, "v1")
        assert cached.credentials["github"].allowed_actions == ("repos.*", "issues.*", "pulls.get")
        now[0] += GRANTS_TTL_SECONDS / 2
        healed = await cache.get(world.workgroup, "backend-bot", agent_id, "v1")
        assert healed.credentials["github"].allowed_actions == ("repos.*",)
    finally:
        await engine.dispose()
