"""The SDK's ``ctx.context()``, ``ctx.say()``, ``ctx.set_state()`` against the real Nexus, and the
reference triage agent run as ``oblivion agent run`` reacting to a queued TASK_ASSIGNED."""

from __future__ import annotations

from typing import Any

import pytest

from oblivion_agent import (
    AgentMutedError,
    Context,
    IllegalTransitionError,
)
from tests.support.agent_tasks import TaskWorld, queue_task, run_handler
from tests.support.processes import agent_process
from tests.support.waiting import eventually


async def test_a_handler_reads_the_context_says_and_moves_the_state_through_the_sdk(world: TaskWorld) -> None:
    registered = await world.register_agent("backend-bot", displayName="Backend Bot")
    task_id = world.track_task("Fix login", "Users are logged out.", agents=["backend-bot"])

    async def act(ctx: Context) -> Any:
        assert ctx.task_id == task_id
        known = await ctx.context()
        posted = await ctx.say(f"I read: {known.task.description}")
        change = await ctx.set_state("IN_PROGRESS")
        return known, posted, change

    known, posted, change = await run_handler(world, registered, task_id, act)
    assert known.task.name == "Fix login"
    assert known.state == "TODO"
    assert [m.text for m in known.thread] == ["Fix login"]
    assert world.thread(task_id)[-1]["text"] == "I read: Users are logged out."
    assert world.thread(task_id)[-1]["username"] == "Backend Bot"
    assert posted.ts == world.thread(task_id)[-1]["ts"]
    assert posted.clickup_comment_id is not None
    assert (change.previous_state, change.state, change.clickup_status) == (
        "TODO",
        "IN_PROGRESS",
        "in progress",
    )
    assert world.clickup.tasks[task_id]["status"]["status"] == "in progress"


async def test_the_sdk_raises_readable_errors_for_illegal_moves_and_a_muted_agent(world: TaskWorld) -> None:
    registered = await world.register_agent("backend-bot", rateLimitPerMinute=1)
    task_id = world.track_task("Fix login", agents=["backend-bot"], state="DONE")

    async def act(ctx: Context) -> Any:
        with pytest.raises(IllegalTransitionError) as illegal:
            await ctx.set_state("IN_PROGRESS")
        await ctx.say("first")
        with pytest.raises(AgentMutedError) as muted:
            await ctx.say("second")
        return illegal.value, muted.value

    illegal, muted = await run_handler(world, registered, task_id, act)
    assert illegal.current == "DONE"
    assert illegal.allowed == []
    assert muted.retry_after >= 1
    assert [m["text"] for m in world.thread(task_id)].count("first") == 1


async def test_the_triage_agent_run_as_a_process_acknowledges_plans_and_starts_a_queued_task(
    world: TaskWorld,
) -> None:
    registered = await world.register_agent("triage-bot", displayName="Triage")
    description = "@triage-bot\n- Reproduce the logout\n- Check the token TTL\n- Fix the refresh"
    task_id = world.track_task("Users logged out", description, agents=["triage-bot"])
    env = {
        "OBLIVION_NEXUS_URL": registered.nexus_url,
        "OBLIVION_CLIENT_ID": registered.client_id,
        "OBLIVION_CLIENT_SECRET": registered.client_secret,
    }
    async with agent_process("examples.agents.triage:agent", env, world.secrets) as agent:
        await queue_task(world, "triage-bot", task_id, "Users logged out", description)

        def triaged() -> bool:
            return world.state(task_id) == "IN_PROGRESS" and len(world.thread(task_id)) == 3

        await eventually(
            triaged, what="the triage agent to answer and start the task", timeout=20, watch=[agent]
        )
        texts = [m["text"] for m in world.thread(task_id)]
        assert texts[1] == "Acknowledged: Users logged out. I am on it."
        assert texts[2] == "Plan:\n1. Reproduce the logout\n2. Check the token TTL\n3. Fix the refresh"
        assert world.clickup.tasks[task_id]["status"]["status"] == "in progress"
        assert len(world.clickup.comments_newest_first(task_id)) == 2

        # A redelivered assignment finds its own messages in the thread and repeats nothing.
        await queue_task(world, "triage-bot", task_id, "Users logged out", description)

        def handled_twice() -> bool:
            return agent.output().count(f"triaged task {task_id}") == 2

        await eventually(handled_twice, what="the second assignment to be handled", timeout=20, watch=[agent])
        assert len(world.thread(task_id)) == 3
        assert await agent.terminate(20) == 0, agent.output()
