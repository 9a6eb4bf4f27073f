"""The agent SDK's ``ctx.models``: a handler calls its model through Nexus, the tokens count on the
event's task, and a refusal is a typed error; an OpenAI client gets what it needs from it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from oblivion_agent import Context, ModelCallError
from tests.fakes.models import FakeModels
from tests.support.agent_tasks import TaskWorld, run_handler
from tests.support.model_gateway import model_agent, model_credential, usage_today

MINI = {"provider": "openai", "name": "gpt-4o-mini"}


async def test_a_handler_calls_its_model_and_the_tokens_count_on_its_task(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    registered = await model_agent(world, "coder", MINI)
    task_id = world.track_task("Fix login", agents=["coder"])
    models.call_tool("issues_create", {"title": "login loop"})

    async def act(ctx: Context) -> Any:
        tools = [
            {"type": "function", "function": {"name": "issues_create", "parameters": {"type": "object"}}}
        ]
        answer = await ctx.models.chat([{"role": "user", "content": "file it"}], tools=tools)
        return answer, ctx.models.base_url, ctx.models.headers, await ctx.models.api_key()

    answer, base_url, headers, key = await run_handler(world, registered, task_id, act)

    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "issues_create"
    assert base_url == f"{world.nexus.url}/v1/llm"
    assert headers == {"X-Oblivion-Task-Id": task_id}
    usage = await usage_today(world, "coder", calls=1)
    assert usage["completionTokens"] == answer["usage"]["completion_tokens"]
    # what an OpenAI client is given works as its base URL, key and default headers
    async with httpx.AsyncClient(
        base_url=base_url, headers={**headers, "Authorization": f"Bearer {key}"}
    ) as openai:
        r = await openai.post("/chat/completions", json={"messages": [{"role": "user", "content": "again"}]})
    assert r.status_code == 200, r.text
    assert (await usage_today(world, "coder", calls=2))["calls"] == 2


async def test_a_refused_model_call_raises_a_typed_error(world: TaskWorld, models: FakeModels) -> None:
    registered = await model_agent(world, "idle", None)
    task_id = world.track_task("Fix login", agents=["idle"])

    async def act(ctx: Context) -> Any:
        with pytest.raises(ModelCallError) as refused:
            await ctx.models.chat([{"role": "user", "content": "hello"}])
        return refused.value

    error = await run_handler(world, registered, task_id, act)

    assert (error.status, error.error_type) == (403, "permission_error")
    assert "spec.model" in str(error)
    assert models.requests == []
