"""``POST /v1/memory/search``: the scope of an agent's token, narrowed never widened, and the answers
for malformed searches and an unreachable Memory Bank."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from oblivion_nexus.worker import running_worker
from tests.secret_logs import SecretRegistry
from tests.support.memory import build_memory_world, found_texts, search
from tests.support.registry import RegisteredAgent, register_agent
from tests.support.taskflow import WORKGROUP, FlowStack
from tests.support.waiting import eventually


async def test_projects_narrow_the_scope_and_a_project_outside_it_is_403(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    nexus = stack.nexus
    everything = await register_agent(
        nexus.url, nexus.admin_headers(), secret_registry, WORKGROUP, "all-projects"
    )
    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "Auth: tokens expire after one hour")
        await world.say(world.billing_channel, "Billing: tokens for the payment API never expire")
        await world.say(world.web_channel, "Web: tokens live in local storage")

        async def both_projects() -> bool:
            texts = await found_texts(everything, "when do tokens expire?")
            return {t.split(":")[0] for t in texts} == {"Auth", "Billing"}

        await eventually(both_projects, what="an agent without projects searching its whole workgroup")
        assert [t.split(":")[0] for t in await found_texts(everything, "tokens", projects=["billing"])] == [
            "Billing"
        ]
        assert await found_texts(everything, "tokens", projects=[]) == []
        assert [t.split(":")[0] for t in await found_texts(world.auth_agent, "tokens")] == ["Auth"]

        widened = await search(world.auth_agent, "tokens", projects=["auth", "billing"])
        assert widened.status_code == 403, widened.text
        assert "billing" in widened.json()["detail"]
        # Another workgroup's project, named outright: refused like any project outside the scope.
        foreign = await search(everything, "tokens", projects=["web"])
        assert foreign.status_code == 403, foreign.text
        assert [t.split(":")[0] for t in await found_texts(world.frontend_agent, "tokens")] == ["Web"]


async def test_malformed_searches_are_422_and_no_token_is_401(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    for body in (
        {"query": ""},
        {"query": "   "},
        {"query": "x" * 2001},
        {"query": "q", "limit": 0},
        {"query": "q", "limit": 51},
        {"query": "q", "kinds": ["tweet"]},
        {"query": "q", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"query": "q", "projects": ["Not A Name"]},
        {"query": "q", "unknown": 1},
    ):
        async with await world.auth_agent.client() as client:
            r = await client.post("/v1/memory/search", json=body)
        assert r.status_code == 422, (body, r.text)
    async with httpx.AsyncClient(base_url=stack.nexus.url) as anonymous:
        r = await anonymous.post("/v1/memory/search", json={"query": "tokens"})
    assert r.status_code == 401


async def test_without_the_worker_owning_the_engine_search_is_503_with_retry_after(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    r = await search(world.auth_agent, "anything")
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1


@asynccontextmanager
async def mcp_session(stack: FlowStack, agent: RegisteredAgent) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {await agent.token()}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(stack.nexus.url + "/mcp", http_client=http)) as client,
    ):
        yield client


async def test_memory_search_over_mcp_answers_like_the_route_within_the_same_scope(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "Auth: the refresh token rotates on every use")
        await world.say(world.billing_channel, "Billing: the refresh token of the payment API is static")
        await eventually(
            lambda: found_texts(world.auth_agent, "refresh token"), what="the auth message searchable"
        )
        await eventually(
            lambda: found_texts(world.billing_agent, "refresh token"), what="the billing message searchable"
        )
        async with mcp_session(stack, world.auth_agent) as client:
            found = await client.call_tool("memory_search", {"query": "refresh token", "limit": 5})
            assert not found.is_error, found.content
            hits = (found.structured_content or {})["hits"]
            assert [h["text"] for h in hits] == ["Auth: the refresh token rotates on every use"]
            assert hits[0]["project"] == "auth"
            assert json.loads(found.content[0].text)[0]["text"] == hits[0]["text"]  # type: ignore[union-attr]

            widened = await client.call_tool("memory_search", {"query": "token", "projects": ["billing"]})
            assert widened.is_error
            assert (widened.structured_content or {})["httpStatus"] == 403

            malformed = await client.call_tool("memory_search", {"query": "token", "limit": 0})
            assert malformed.is_error
            assert (malformed.structured_content or {})["httpStatus"] == 422
