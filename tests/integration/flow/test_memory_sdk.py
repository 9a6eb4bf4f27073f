"""The Memory Bank as agents use it: ``ctx.memory.search`` in a handler of an SDK agent on a real Nexus.

A Slack reply, a ClickUp comment and an edited description are found by the project's agent (how soon
is measured by bench/memory_ingestion.py, and logged here); an agent of another project and one of
another workgroup find none.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pydantic import SecretStr

from oblivion_agent import Agent, AgentSettings, Context, MemoryHit, TaskAssigned, WakeUp
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.secret_logs import SecretRegistry
from tests.support.memory import MemoryWorld, build_memory_world, found_texts
from tests.support.registry import RegisteredAgent
from tests.support.taskflow import LIST_ID, FlowStack, add_clickup_webhook
from tests.support.waiting import eventually

REPLY = "The flaky checkout test fails because the sandbox card expires at midnight UTC"
COMMENT = "Customer support asks for the refund window to be 30 days instead of 14"
DESCRIPTION = "Export every invoice of the quarter as one PDF, signed with the finance team's key"
QUERIES = {
    REPLY: "why does the checkout test fail?",
    COMMENT: "how long should the refund window be?",
    DESCRIPTION: "what format is the quarterly invoice export?",
}


async def serving(world: MemoryWorld, registered: RegisteredAgent, agent: Agent) -> asyncio.Task[None]:
    settings = AgentSettings(
        nexus_url=world.stack.nexus.url,
        client_id=registered.client_id,
        client_secret=SecretStr(registered.client_secret),
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )
    task = asyncio.create_task(agent.serve(settings))
    await eventually(lambda: agent.connected is not None and agent.connected.is_set(), what="agent connected")
    return task


async def wake(world: MemoryWorld, registered: RegisteredAgent) -> None:
    response = await world.stack.http.post(
        f"{world.stack.nexus.url}/internal/v1{registered.path}/events",
        json={"type": "WAKE_UP", "data": {}},
        headers=world.stack.nexus.admin_headers(),
    )
    assert response.status_code == 202, response.text


def found(hits: list[MemoryHit]) -> set[str]:
    return {text for text in QUERIES if any(text in hit.text for hit in hits)}


async def test_the_projects_agent_finds_a_reply_a_comment_and_an_edit_and_no_one_else_does(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    add_clickup_webhook(stack)
    accepted: dict[str, float] = {}
    first_seen: dict[str, float] = {}
    others: dict[str, set[str]] = {}
    searcher, billing, frontend = Agent("auth-searcher"), Agent("billing-searcher"), Agent("web-searcher")

    @searcher.on_wake_up
    async def watch(event: WakeUp, ctx: Context) -> None:
        deadline = time.monotonic() + 30
        while len(first_seen) < len(QUERIES) and time.monotonic() < deadline:
            for text, query in QUERIES.items():
                if text not in first_seen and text in found(await ctx.memory.search(query, limit=3)):
                    first_seen[text] = time.monotonic()
            await asyncio.sleep(0.02)

    def looking(name: str) -> Callable[[WakeUp, Context], Coroutine[Any, Any, None]]:
        async def look(event: WakeUp, ctx: Context) -> None:
            seen: set[str] = set()
            for query in QUERIES.values():
                seen |= found(await ctx.memory.search(query, limit=50))
            others[name] = seen

        return look

    billing.on_wake_up(looking("billing"))
    frontend.on_wake_up(looking("frontend"))

    async with running_worker(stack.settings):
        running = [
            await serving(world, world.auth_agent, searcher),
            await serving(world, world.billing_agent, billing),
            await serving(world, world.frontend_agent, frontend),
        ]
        try:
            # A running worker has its model loaded: one message first, so the clock measures ingestion.
            await world.say(stack.channel_id, "Warming up the Memory Bank")
            await eventually(
                lambda: _contains(world.auth_agent, "warming up", "Warming up"), what="the first message"
            )
            task, _ = await stack.clickup.create_task(
                list_id=LIST_ID, name="Quarterly invoices", description="Export invoices"
            )
            await wake(world, world.auth_agent)

            root = await world.say(stack.channel_id, "Checkout tests are red again")
            await world.say(stack.channel_id, REPLY, thread_ts=root)
            accepted[REPLY] = time.monotonic()
            await stack.clickup.post_comment(task["id"], COMMENT, author=shapes.user(321, "Jane"))
            accepted[COMMENT] = time.monotonic()
            await stack.clickup.change_description(task["id"], DESCRIPTION)
            accepted[DESCRIPTION] = time.monotonic()

            await eventually(lambda: len(first_seen) == len(QUERIES), timeout=30, what="all three found")
            await wake(world, world.billing_agent)
            await wake(world, world.frontend_agent)
            await eventually(lambda: len(others) == 2, what="the other agents' searches")
        finally:
            for agent in (searcher, billing, frontend):
                agent.stop()
            await asyncio.wait_for(asyncio.gather(*running), 15)
    _collect_garbage()

    # How soon is a benchmark's to say (bench/memory_ingestion.py: p99 0.5 to 0.8 s at 50 messages/s);
    # a timed assertion here failed whenever the CI machine was busy. The delays are logged.
    delays = {text[:20]: round(first_seen[text] - accepted[text], 3) for text in QUERIES}
    logging.getLogger(__name__).info("accepted → found by ctx.memory.search: %s s", delays)
    assert set(first_seen) == set(QUERIES)
    assert others == {"billing": set(), "frontend": set()}


async def test_related_gives_a_new_task_what_its_project_said_before(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    agent, related = Agent("auth-searcher"), []

    @agent.on_wake_up
    async def on_wake(event: WakeUp, ctx: Context) -> None:
        task = TaskAssigned(
            task_id="t-1", project="auth", title="Session cookies", description="Make them last longer"
        )
        related.extend(await ctx.memory.related(task, limit=3))

    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "The session cookie lifetime is 2 hours, set in auth/config.py")
        await world.say(world.billing_channel, "Session cookies of the billing portal are separate")

        async def searchable() -> bool:
            texts = await found_texts(world.auth_agent, "session cookie")
            return any("auth/config.py" in t for t in texts)

        await eventually(searchable, what="the message searchable")
        running = await serving(world, world.auth_agent, agent)
        try:
            await wake(world, world.auth_agent)
            await eventually(lambda: bool(related), what="the handler's related memories")
        finally:
            agent.stop()
            await asyncio.wait_for(running, 15)
    _collect_garbage()
    assert [hit.project for hit in related] == ["auth"]
    assert "auth/config.py" in related[0].text
    assert related[0].kind == "message"
    assert related[0].source == "slack"


def _collect_garbage() -> None:
    """Collect now what the worker left: a Redis client it did not close warns when collected, and a
    warning fails the test (a queue consumer's clients, closed before its loop had stopped, once did
    so at a random later moment)."""
    gc.collect()


async def _contains(agent: RegisteredAgent, query: str, needle: str) -> bool:
    return any(needle in text for text in await found_texts(agent, query))
