"""Nexus's model providers against fakes of OpenAI's and Anthropic's APIs: answers come back in
OpenAI's shapes, streams included, and every call's tokens are what the upstream reported."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from oblivion_nexus.integrations.models import (
    JSON_MODE_INSTRUCTION,
    ChatStream,
    ModelError,
    ModelProvider,
    ProviderConfig,
)
from oblivion_nexus.integrations.upstream import Upstream
from tests.fakes.models import FakeModels, count_tokens

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


@pytest.fixture
def models() -> Iterator[FakeModels]:
    with FakeModels() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[Upstream]:
    async with Upstream(timeout=10) as client:
        yield client


def provider(
    models: FakeModels, http: Upstream, kind: str = "openai", key: str | None = None
) -> ModelProvider:
    config = ProviderConfig(kind=kind, base_url=f"{models.url}/v1", api_key=key or models.api_key)  # type: ignore[arg-type]
    return ModelProvider(config, http)


async def collect(stream: ChatStream) -> tuple[str, dict[int, dict[str, str]], list[dict[str, Any]]]:
    """The streamed text, the tool calls reassembled from their deltas, and every chunk."""
    text, calls, chunks = "", {}, []
    buffer = b""
    async for piece in stream:
        buffer += piece
    for event in buffer.decode().split("\n\n"):
        if not event.startswith("data: ") or event == "data: [DONE]":
            continue
        chunk = json.loads(event[6:])
        chunks.append(chunk)
        for choice in chunk.get("choices", []):
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"name": "", "arguments": ""})
                slot["name"] += call.get("function", {}).get("name") or ""
                slot["arguments"] += call.get("function", {}).get("arguments") or ""
    assert buffer.decode().endswith("data: [DONE]\n\n")
    return text, calls, chunks


async def test_an_openai_completion_comes_back_as_is_with_the_upstreams_usage(
    models: FakeModels, http: Upstream
) -> None:
    models.say("The deploy failed on step 3")
    messages = [{"role": "user", "content": "why did the deploy fail"}]
    answer, usage = await provider(models, http).complete({"model": "gpt-4o-mini", "messages": messages})
    assert answer["choices"][0]["message"]["content"] == "The deploy failed on step 3"
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        answer["usage"]["prompt_tokens"],
        answer["usage"]["completion_tokens"],
    )
    assert usage.completion_tokens == 6
    assert models.requests[-1].headers["authorization"] == f"Bearer {models.api_key}"


async def test_an_openai_stream_is_counted_even_when_the_agent_did_not_ask_for_usage(
    models: FakeModels, http: Upstream
) -> None:
    models.call_tool("issues_create", {"title": "Flaky deploy step"}, text="Opening an issue")
    stream = await provider(models, http).stream(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "file it"}], "tools": TOOLS}
    )
    text, calls, chunks = await collect(stream)
    assert text == "Opening an issue"
    assert calls == {0: {"name": "issues_create", "arguments": json.dumps({"title": "Flaky deploy step"})}}
    assert all(chunk["choices"] for chunk in chunks), (
        "the usage-only chunk the agent did not ask for is dropped"
    )
    assert all("usage" not in chunk for chunk in chunks)
    assert models.requests[-1].body["stream_options"] == {"include_usage": True}
    assert stream.usage is not None
    arguments = json.dumps({"title": "Flaky deploy step"})
    assert stream.usage.completion_tokens == sum(
        map(count_tokens, ("Opening an issue", "issues_create", arguments))
    )


async def test_an_openai_stream_passes_the_usage_chunk_on_when_asked(
    models: FakeModels, http: Upstream
) -> None:
    models.say("done")
    stream = await provider(models, http).stream(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
        }
    )
    _, _, chunks = await collect(stream)
    assert chunks[-1]["choices"] == []
    assert stream.usage is not None
    assert chunks[-1]["usage"]["completion_tokens"] == stream.usage.completion_tokens == 1


@pytest.mark.parametrize(
    ("plan", "status", "retry_after"),
    [
        (lambda m: m.rate_limit(retry_after=7), 429, 7.0),
        (lambda m: m.fail(500, "server_error", "boom"), 502, None),
        (lambda m: m.fail(400, "invalid_request_error", "bad tool schema"), 400, None),
    ],
)
async def test_upstream_failures_map_to_what_the_agent_should_do(
    models: FakeModels, http: Upstream, plan: Any, status: int, retry_after: float | None
) -> None:
    plan(models)
    with pytest.raises(ModelError) as failed:
        await provider(models, http).complete({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert failed.value.status == status
    if retry_after is not None:
        assert failed.value.retry_after == retry_after


async def test_a_refused_provider_key_is_nexus_problem_and_never_shows_the_key(
    models: FakeModels, http: Upstream
) -> None:
    for kind in ("openai", "anthropic"):
        with pytest.raises(ModelError) as refused:
            await provider(models, http, kind, key="sk-wrong-key-123").complete(
                {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            )
        assert refused.value.status == 502
        assert refused.value.error_type == "upstream_auth"
        assert "sk-wrong-key-123" not in str(refused.value)
        assert models.api_key not in str(refused.value)


async def test_anthropic_gets_its_own_request_shape_from_an_openai_conversation(
    models: FakeModels, http: Upstream
) -> None:
    models.say('{"status": "done"}')
    request = {
        "model": "claude-sonnet",
        "tools": TOOLS,
        "tool_choice": "required",
        "response_format": {"type": "json_object"},
        "messages": [
            {"role": "system", "content": "You are backend-bot."},
            {"role": "user", "content": "file the flaky deploy"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "issues_create", "arguments": '{"title": "Flaky"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "issue #7"},
        ],
    }
    answer, usage = await provider(models, http, "anthropic").complete(request)
    sent = models.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == models.api_key
    assert sent.headers["anthropic-version"]
    assert sent.body["system"] == f"You are backend-bot.\n\n{JSON_MODE_INSTRUCTION}"
    assert sent.body["max_tokens"] == 4096
    assert sent.body["tool_choice"] == {"type": "any"}
    assert sent.body["tools"][0]["input_schema"]["properties"] == {"title": {"type": "string"}}
    assert [m["role"] for m in sent.body["messages"]] == ["user", "assistant", "user"]
    assert sent.body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "issues_create", "input": {"title": "Flaky"}}
    ]
    assert sent.body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "issue #7"}
    ]
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == '{"status": "done"}'
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert usage.completion_tokens == answer["usage"]["completion_tokens"] == 2


async def test_an_anthropic_tool_call_comes_back_as_an_openai_tool_call_streamed_or_not(
    models: FakeModels, http: Upstream
) -> None:
    models.call_tool("issues_create", {"title": "Flaky deploy"})
    models.call_tool("issues_create", {"title": "Flaky deploy"}, text="On it")
    request = {"model": "claude", "messages": [{"role": "user", "content": "file it"}], "tools": TOOLS}
    answer, _ = await provider(models, http, "anthropic").complete(request)
    call = answer["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "issues_create", "arguments": json.dumps({"title": "Flaky deploy"})}
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    stream = await provider(models, http, "anthropic").stream(
        {**request, "stream_options": {"include_usage": True}}
    )
    text, calls, chunks = await collect(stream)
    assert text == "On it"
    assert json.loads(calls[0]["arguments"]) == {"title": "Flaky deploy"}
    assert calls[0]["name"] == "issues_create"
    assert stream.usage is not None
    assert chunks[-1]["usage"]["completion_tokens"] == stream.usage.completion_tokens
    assert stream.usage.prompt_tokens == answer["usage"]["prompt_tokens"] > 0, "same prompt, same count"


async def test_anthropic_rate_limits_and_overload_say_when_to_retry(
    models: FakeModels, http: Upstream
) -> None:
    models.rate_limit(retry_after=3)
    models.fail(529, "overloaded_error", "Overloaded")
    request = {"model": "c", "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(ModelError) as limited:
        await provider(models, http, "anthropic").stream(request)
    assert (limited.value.status, limited.value.retry_after) == (429, 3.0)
    with pytest.raises(ModelError) as overloaded:
        await provider(models, http, "anthropic").complete(request)
    assert (overloaded.value.status, overloaded.value.message) == (503, "Overloaded")
