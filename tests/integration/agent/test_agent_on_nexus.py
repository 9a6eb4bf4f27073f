"""The SDK against the real Nexus: registry → token → WebSocket → handler → ack → empty inbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from oblivion_agent import Agent, AgentDisabledError, AgentSettings, Context, TaskAssigned
from oblivion_agent._token import AccessToken
from tests.support.agent_runtime import RuntimeAgent
from tests.support.waiting import eventually

TASK = {"task_id": "86a1b2c3", "project": "payments", "title": "Add retries to the webhook sender"}

Register = Callable[..., Awaitable[RuntimeAgent]]


@asynccontextmanager
async def serving(agent: Agent, settings: AgentSettings) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(agent.serve(settings))
    try:
        yield task
    finally:
        agent.stop()
        await asyncio.wait_for(asyncio.shield(task), 15)


def task_agent(seen: list[tuple[str, TaskAssigned]], *, fail_first: int = 0) -> Agent:
    agent = Agent("integration")
    failures = {"left": fail_first}

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        seen.append((ctx.event_id, event))
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("the model provider timed out")

    return agent


async def test_a_registered_agent_receives_a_task_and_its_inbox_empties(register_agent: Register) -> None:
    registered = await register_agent()
    seen: list[tuple[str, TaskAssigned]] = []
    async with serving(task_agent(seen), registered.settings()):
        await eventually(lambda: _connected(registered), what="the agent to be connected", timeout=15)
        event_id = await registered.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: _inbox_empty(registered), what="the event to be acked", timeout=15)
        assert [s[0] for s in seen] == [event_id]
        assert seen[0][1].title == TASK["title"]
    presence = await eventually(lambda: _disconnected(registered), what="the agent to disconnect", timeout=15)
    assert presence["pendingEvents"] == 0


async def test_events_queued_before_the_agent_starts_arrive_in_order(register_agent: Register) -> None:
    registered = await register_agent()
    ids = [await registered.queue("TASK_ASSIGNED", {**TASK, "task_id": f"t{n}"}) for n in range(5)]
    seen: list[tuple[str, TaskAssigned]] = []
    async with serving(task_agent(seen), registered.settings(max_concurrent_handlers=1)):
        await eventually(lambda: _inbox_empty(registered), what="every event to be acked", timeout=15)
    assert [s[0] for s in seen] == ids


async def test_a_handler_that_raises_once_gets_the_event_again(
    register_agent: Register, caplog: pytest.LogCaptureFixture
) -> None:
    registered = await register_agent()
    seen: list[tuple[str, TaskAssigned]] = []
    async with serving(task_agent(seen, fail_first=1), registered.settings()):
        await eventually(lambda: _connected(registered), what="the agent to be connected", timeout=15)
        event_id = await registered.queue("TASK_ASSIGNED", TASK)
        await eventually(lambda: _handled(seen, 2), what="the second attempt", timeout=15)
        await eventually(lambda: _inbox_empty(registered), what="the event to be acked", timeout=15)
    assert [s[0] for s in seen] == [event_id, event_id]
    assert "not acked, Nexus will deliver it again" in caplog.text


async def test_an_agent_disabled_while_it_runs_stops_with_a_clear_error(register_agent: Register) -> None:
    registered = await register_agent()
    agent = Agent("soon-disabled")
    disabled = asyncio.Event()

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        await disabled.wait()
        raise RuntimeError("fails, so the runtime reconnects to have the event redelivered")

    task = asyncio.create_task(agent.serve(registered.settings()))
    try:
        await eventually(lambda: _connected(registered), what="the agent to be connected", timeout=15)
        await registered.queue("TASK_ASSIGNED", TASK)
        async with registered.admin() as admin:
            body = {
                "clientId": registered.client_id,
                "clientSecret": registered.client_secret,
                "disabled": True,
            }
            assert (await admin.put(registered.path, json=body)).status_code == 200
        disabled.set()
        # The reconnect presents a still-valid token; the gateway closes it with 4403.
        with pytest.raises(AgentDisabledError, match="disabled or not registered"):
            await asyncio.wait_for(task, 15)
    finally:
        agent.stop()


async def test_a_disabled_agent_is_refused_a_token_and_keeps_retrying_until_stopped(
    register_agent: Register, caplog: pytest.LogCaptureFixture
) -> None:
    # The operator may disable an agent before its pod is gone; the runtime waits rather than crash-looping.
    registered = await register_agent(disabled=True)
    agent = task_agent([])
    async with serving(agent, registered.settings()) as task:
        await eventually(
            lambda: _logged(caplog, "invalid_client", 2), what="two refused token requests", timeout=15
        )
        assert not task.done()
    assert "this agent is disabled" in caplog.text


async def test_the_agent_keeps_its_connection_through_many_heartbeat_intervals(
    register_agent: Register,
) -> None:
    registered = await register_agent()
    agent = task_agent([])
    async with serving(agent, registered.settings()):
        await eventually(lambda: _connected(registered), what="the agent to be connected", timeout=15)
        first = (await registered.presence())["lastSeen"]
        # lastSeen moves only when Nexus hears the agent: its heartbeats keep it present.
        await eventually(
            lambda: _last_seen_after(registered, first), timeout=10, what="a later lastSeen from heartbeats"
        )
        await eventually(
            lambda: _last_seen_after(registered, first, connections=1), what="one connection", timeout=15
        )
        assert agent._link is not None
        assert agent._link.sessions == 1  # never reconnected: neither side took the other for dead


async def _connected(registered: RuntimeAgent) -> bool:
    return bool((await registered.presence())["connected"])


async def _disconnected(registered: RuntimeAgent) -> dict[str, Any] | None:
    presence = await registered.presence()
    return None if presence["connected"] else presence


async def _inbox_empty(registered: RuntimeAgent) -> bool:
    return (await registered.presence())["pendingEvents"] == 0


async def _logged(caplog: pytest.LogCaptureFixture, text: str, count: int) -> bool:
    return caplog.text.count(text) >= count


async def _handled(seen: list[Any], count: int) -> bool:
    return len(seen) >= count


async def _last_seen_after(registered: RuntimeAgent, first: str, connections: int | None = None) -> bool:
    presence = await registered.presence()
    if connections is not None and presence["connections"] != connections:
        return False
    return bool(presence["lastSeen"] and presence["lastSeen"] > first)


async def test_a_token_nexus_rejects_with_4401_is_replaced_and_the_agent_carries_on(
    register_agent: Register, caplog: pytest.LogCaptureFixture
) -> None:
    registered = await register_agent()
    seen: list[tuple[str, TaskAssigned]] = []
    agent = task_agent(seen, fail_first=1)
    async with serving(agent, registered.settings()):
        await eventually(lambda: _connected(registered), what="the agent to be connected", timeout=15)
        assert agent._link is not None
        tokens = agent._link._tokens
        assert tokens.current is not None
        assert tokens.fetches == 1
        # As if the signing key had been rotated: the token held is no longer valid for Nexus.
        tokens._current = AccessToken(SecretStr("forged.jwt.token"), time.monotonic(), 900)
        event_id = await registered.queue("TASK_ASSIGNED", TASK)  # fails once → the agent reconnects
        await eventually(
            lambda: _inbox_empty(registered), what="the event to be handled after all", timeout=15
        )
    assert [s[0] for s in seen] == [event_id, event_id]
    assert tokens.fetches == 2
    assert "Nexus rejected the access token (close 4401)" in caplog.text
