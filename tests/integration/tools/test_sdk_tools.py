"""The agent SDK's ctx.tools: list, call, and wait inside a handler for a person's approval."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import SecretStr

from oblivion_agent import Agent, AgentSettings, Context, ToolDeniedError, WakeUp
from tests.support.tool_gateway import APPROVER, REPO, ToolWorld, click, merge_needs_approval, open_pull
from tests.support.waiting import eventually


async def run_agent(
    world: ToolWorld, name: str, tools: list[dict[str, Any]], agent: Agent
) -> asyncio.Task[None]:
    client_id, client_secret = await world.register(name, tools)
    settings = AgentSettings(
        nexus_url=world.nexus.url,
        client_id=client_id,
        client_secret=SecretStr(client_secret),
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )
    task = asyncio.create_task(agent.serve(settings))
    await eventually(
        lambda: agent.connected is not None and agent.connected.is_set(), what="the agent connecting"
    )
    return task


async def wake(world: ToolWorld, name: str) -> None:
    async with world.admin() as admin:
        r = await admin.post(
            f"/workgroups/{world.workgroup}/agents/{name}/events", json={"type": "WAKE_UP", "data": {}}
        )
    assert r.status_code == 202, r.text


async def test_a_handler_lists_tools_and_waits_for_an_approved_merge(world: ToolWorld) -> None:
    await merge_needs_approval(world)
    number = open_pull(world)
    agent, seen = Agent("merger"), {}

    @agent.on_wake_up
    async def merge(event: WakeUp, ctx: Context) -> None:
        seen["tools"] = {tool.action: tool.approval for tool in await ctx.tools.list()}
        outcome = await ctx.tools.invoke(
            "github", "pulls.merge", {"owner": "acme", "repo": "api", "number": number}
        )
        seen["outcome"] = outcome

    running = await run_agent(world, "merger", [{"credential": "github"}], agent)
    try:
        await wake(world, "merger")
        message = await eventually(
            lambda: [m for m in world.slack.messages(world.channel) if "pulls.merge" in m.get("text", "")],
            what="the approval request",
        )
        approval_id = next(b for b in message[0]["blocks"] if b["type"] == "actions")["elements"][0]["value"]
        await click(world, APPROVER, "approve", approval_id)
        await eventually(lambda: "outcome" in seen, what="the handler's call returning")
    finally:
        agent.stop()
        await asyncio.wait_for(running, 10)
    assert seen["tools"]["pulls.merge"] is True
    assert seen["tools"]["issues.create"] is False
    assert seen["outcome"].ok
    assert seen["outcome"].result["merged"] is True
    assert seen["outcome"].approval_id == approval_id
    assert world.github.state.repos[REPO.lower()].issues[number]["merged"] is True


async def test_a_refused_call_raises_naming_the_rule(world: ToolWorld) -> None:
    agent, seen = Agent("reader"), {}

    @agent.on_wake_up
    async def write(event: WakeUp, ctx: Context) -> None:
        with pytest.raises(ToolDeniedError) as refused:
            await ctx.tools.invoke("github", "issues.create", {"owner": "acme", "repo": "api", "title": "x"})
        seen["rule"] = refused.value.rule

    running = await run_agent(world, "reader", [{"credential": "github", "actions": ["issues.get"]}], agent)
    try:
        await wake(world, "reader")
        await eventually(lambda: "rule" in seen, what="the refusal")
    finally:
        agent.stop()
        await asyncio.wait_for(running, 10)
    assert "is not granted 'issues.create'" in seen["rule"]


async def test_a_call_repeated_with_its_idempotency_key_creates_one_issue(world: ToolWorld) -> None:
    agent, seen = Agent("writer"), {}
    args = {"owner": "acme", "repo": "api", "title": "Once"}

    @agent.on_wake_up
    async def write(event: WakeUp, ctx: Context) -> None:
        first = await ctx.tools.invoke("github", "issues.create", args, idempotency_key="once-1")
        again = await ctx.tools.invoke("github", "issues.create", args, idempotency_key="once-1")
        fresh = await ctx.tools.invoke("github", "issues.create", args)
        seen["outcomes"] = (first, again, fresh)

    running = await run_agent(world, "writer", [{"credential": "github"}], agent)
    try:
        await wake(world, "writer")
        await eventually(lambda: "outcomes" in seen, what="the handler's calls returning")
    finally:
        agent.stop()
        await asyncio.wait_for(running, 10)
    first, again, fresh = seen["outcomes"]
    assert again.audit_id == first.audit_id
    assert again.result["number"] == first.result["number"]
    assert fresh.result["number"] != first.result["number"]
    posts = [c for c in world.github.calls if c.method == "POST" and c.path == f"/repos/{REPO}/issues"]
    assert len(posts) == 2
