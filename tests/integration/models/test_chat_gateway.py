"""``POST /v1/llm/chat/completions`` on a real Nexus against the fake model APIs: the agent's model
with the workgroup's key (which never comes back), every call counted as the upstream counted it,
refusals and upstream failures in OpenAI's error shape."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.fakes.models import FakeModels, count_tokens
from tests.support.agent_tasks import TaskWorld
from tests.support.model_gateway import (
    chat,
    chat_stream,
    expected_cost,
    model_agent,
    model_credential,
    usage_today,
)

MINI = {"provider": "openai", "name": "gpt-4o-mini"}
HELLO = [{"role": "user", "content": "say hello to the team"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "issues_create",
            "description": "Open an issue",
            "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
        },
    }
]


def fake_prompt_tokens(
    messages: list[dict[str, object]], tools: list[dict[str, object]] | None = None
) -> int:
    """What the fake counts for a request's prompt (its documented tokenizer)."""
    return count_tokens(messages) + 3 * len(messages) + count_tokens(tools or [])


async def test_a_completion_goes_to_the_agents_model_with_the_workgroups_key_and_is_counted(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.say("hello team, ready to work")

    r = await chat(agent, {"messages": HELLO})

    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["choices"][0]["message"]["content"] == "hello team, ready to work"
    sent = models.requests[-1]
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == f"Bearer {models.api_key}"
    assert models.api_key not in r.text
    prompt, completion = answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]
    assert (prompt, completion) == (fake_prompt_tokens(HELLO), 5)
    usage = await usage_today(world, "coder", calls=1)
    assert (usage["calls"], usage["promptTokens"], usage["completionTokens"]) == (1, prompt, completion)
    assert Decimal(usage["costUsd"]) == expected_cost("gpt-4o-mini", prompt, completion)


async def test_a_streamed_tool_call_comes_back_as_openai_chunks_and_its_usage_is_counted(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.call_tool("issues_create", {"title": "flaky login test"})

    r, events = await chat_stream(agent, {"messages": HELLO, "tools": TOOLS, "tool_choice": "auto"})

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert not any(c.get("usage") for c in chunks), "the usage chunk only Nexus asked for is not passed on"
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "issues_create"
    arguments = "".join(tc["function"]["arguments"] for tc in calls)
    assert json.loads(arguments) == {"title": "flaky login test"}
    assert models.requests[-1].body["stream_options"] == {"include_usage": True}
    usage = await usage_today(world, "coder", calls=1)
    completion = count_tokens("issues_create") + count_tokens(json.dumps({"title": "flaky login test"}))
    assert (usage["promptTokens"], usage["completionTokens"]) == (
        fake_prompt_tokens(HELLO, TOOLS),
        completion,
    )


async def test_a_stream_that_asks_for_usage_gets_the_count_nexus_records(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.say("a b c d e f g h i j k l")

    _, events = await chat_stream(agent, {"messages": HELLO, "stream_options": {"include_usage": True}})

    reported = next(c["usage"] for c in events[:-1] if c.get("usage"))
    usage = await usage_today(world, "coder", calls=1)
    assert (usage["promptTokens"], usage["completionTokens"]) == (
        reported["prompt_tokens"],
        reported["completion_tokens"],
    )
    assert reported["completion_tokens"] == 12


async def test_json_mode_reaches_the_provider_as_the_agent_asked(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.say('{"ok": true}')

    r = await chat(agent, {"messages": HELLO, "response_format": {"type": "json_object"}})

    assert r.status_code == 200, r.text
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"ok": True}
    assert models.requests[-1].body["response_format"] == {"type": "json_object"}


async def test_an_anthropic_model_is_called_through_its_messages_api(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models, "claude", type="anthropic")
    agent = await model_agent(world, "writer", {"provider": "anthropic", "name": "claude-sonnet-4"})
    models.say("drafted the release notes")

    r = await chat(agent, {"messages": [{"role": "system", "content": "be brief"}, *HELLO]})

    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "drafted the release notes"
    sent = models.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == models.api_key
    assert sent.body["system"] == "be brief"
    usage = await usage_today(world, "writer", calls=1)
    assert usage["completionTokens"] == 4
    assert Decimal(usage["costUsd"]) == expected_cost(
        "claude-sonnet-4", usage["promptTokens"], usage["completionTokens"]
    )


async def test_another_model_or_none_at_all_is_refused_with_403_and_never_reaches_the_provider(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    coder = await model_agent(world, "coder", MINI)
    idle = await model_agent(world, "idle", None)

    other = await chat(coder, {"model": "gpt-4o", "messages": HELLO})
    none = await chat(idle, {"messages": HELLO})

    assert other.status_code == 403
    assert other.json()["error"]["type"] == "permission_error"
    assert "gpt-4o-mini" in other.json()["error"]["message"]
    assert none.status_code == 403
    assert "spec.model" in none.json()["error"]["message"]
    assert models.requests == []


async def test_a_task_not_assigned_to_the_agent_cannot_be_charged(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    coder = await model_agent(world, "coder", MINI)
    await model_agent(world, "other", MINI)
    task = world.track_task("Fix login", agents=["other"])

    r = await chat(coder, {"messages": HELLO}, task_id=task)

    assert r.status_code == 403
    assert models.requests == []


async def test_an_upstream_failure_is_a_502_without_the_key(world: TaskWorld, models: FakeModels) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.fail(500, "server_error", f"backend crashed while using key {models.api_key}")

    r = await chat(agent, {"messages": HELLO})

    assert r.status_code == 502
    error = r.json()["error"]
    assert error["upstream_status"] == 500
    assert "backend crashed" in error["message"]
    assert models.api_key not in r.text


async def test_a_refused_key_is_a_502_that_tells_the_agent_nothing_of_the_key(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models, value=models.api_key + "-revoked")
    agent = await model_agent(world, "coder", MINI)

    r = await chat(agent, {"messages": HELLO})

    assert r.status_code == 502
    assert r.json()["error"]["type"] == "upstream_auth"
    assert models.api_key not in r.text


async def test_an_upstream_rate_limit_is_a_429_with_retry_after(world: TaskWorld, models: FakeModels) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    models.rate_limit(retry_after=7)

    r = await chat(agent, {"messages": HELLO})

    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["type"] == "rate_limit_exceeded"


async def test_a_malformed_request_is_a_400_in_openais_shape(world: TaskWorld, models: FakeModels) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)

    r = await chat(agent, {"messages": []})

    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_a_long_conversation_fits_where_other_agent_routes_would_refuse_it(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    long_log = "line of a long build log " * 40_000  # 1 MB, four times the agents' routes' limit

    r = await chat(agent, {"messages": [{"role": "user", "content": long_log}]})

    assert r.status_code == 200, r.text[:200]
    assert models.requests[-1].body["messages"][0]["content"] == long_log


async def test_an_agent_that_hangs_up_mid_stream_is_still_counted_in_full(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models)
    agent = await model_agent(world, "coder", MINI)
    long_answer = " ".join(f"word{i}" for i in range(2000))
    models.say(long_answer)

    async with await agent.client(timeout=30) as client:
        body = {"messages": HELLO, "stream": True}
        async with client.stream("POST", "/v1/llm/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for _ in response.aiter_bytes():
                break  # the agent leaves after the first bytes

    usage = await usage_today(world, "coder", calls=1)
    assert usage["completionTokens"] == 2000


async def test_an_anthropic_stream_comes_back_as_openai_chunks_and_is_counted(
    world: TaskWorld, models: FakeModels
) -> None:
    await model_credential(world, models, "claude", type="anthropic")
    agent = await model_agent(world, "writer", {"provider": "anthropic", "name": "claude-sonnet-4"})
    models.say("release notes drafted for the auth service")

    _, events = await chat_stream(agent, {"messages": HELLO, "stream_options": {"include_usage": True}})

    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events[:-1] if c.get("choices"))
    assert text == "release notes drafted for the auth service"
    assert events[-1] == "[DONE]"
    reported = next(c["usage"] for c in events[:-1] if c.get("usage"))
    usage = await usage_today(world, "writer", calls=1)
    assert (usage["promptTokens"], usage["completionTokens"]) == (
        reported["prompt_tokens"],
        reported["completion_tokens"],
    )
    assert reported["completion_tokens"] == 7
    assert models.requests[-1].path == "/v1/messages"
