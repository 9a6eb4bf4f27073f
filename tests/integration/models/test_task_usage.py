"""A task's model usage where people look: a ClickUp comment with its tokens and cost when the agent
moves the task to DONE, once."""

from __future__ import annotations

from tests.fakes.models import FakeModels
from tests.support.agent_tasks import TaskWorld
from tests.support.model_gateway import chat, expected_cost, model_agent, model_credential, usage_today

MINI = {"provider": "openai", "name": "gpt-4o-mini"}
HELLO = [{"role": "user", "content": "plan the fix"}]


def usage_comments(world: TaskWorld, task: str) -> list[str]:
    return [
        c["comment_text"]
        for c in world.clickup.comments_newest_first(task)
        if "Model usage" in c["comment_text"]
    ]


async def test_done_comments_the_tasks_tokens_and_cost_on_clickup_once(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    task = world.track_task("Fix login", agents=["coder"])
    other = world.track_task("Write docs", agents=["coder"])
    models.say("first step done")
    models.say("second step done too")
    answers = [(await chat(agent, {"messages": HELLO}, task_id=task)).json() for _ in range(2)]
    await chat(agent, {"messages": HELLO}, task_id=other)  # not this task's
    await usage_today(world, "coder", calls=3)  # the agent finishes once its calls are counted
    prompt = sum(a["usage"]["prompt_tokens"] for a in answers)
    completion = sum(a["usage"]["completion_tokens"] for a in answers)

    async with await agent.client(timeout=30) as client:
        assert (await client.patch(f"/v1/tasks/{task}", json={"state": "DONE"})).status_code == 200
        assert (await client.patch(f"/v1/tasks/{task}", json={"state": "DONE"})).status_code == 200

    [comment] = usage_comments(world, task)
    assert (
        f"{prompt + completion:,} tokens ({prompt:,} prompt, {completion:,} completion) in 2 model calls"
        in comment
    )
    assert f"US$ {expected_cost('gpt-4o-mini', prompt, completion):.4f}" in comment
    assert usage_comments(world, other) == []


async def test_a_task_without_model_calls_gets_no_usage_comment(world: TaskWorld, models: FakeModels) -> None:
    agent = await model_agent(world, "coder", MINI)
    task = world.track_task("Fix login", agents=["coder"])

    async with await agent.client(timeout=30) as client:
        assert (await client.patch(f"/v1/tasks/{task}", json={"state": "DONE"})).status_code == 200

    assert world.state(task) == "DONE"
    assert usage_comments(world, task) == []
    assert models.requests == []
