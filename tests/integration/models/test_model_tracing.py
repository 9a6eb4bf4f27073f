"""Model calls as OpenTelemetry spans: exported over OTLP to the configured endpoint, in the trace the
agent's ``traceparent`` names, with GenAI attributes (model, tokens) and never the key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.clickup import FakeClickUp
from tests.fakes.models import FakeModels
from tests.fakes.otlp import FakeOtlpReceiver, ReceivedSpan
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import TaskWorld, task_world
from tests.support.model_gateway import PRICES, model_agent, model_credential
from tests.support.waiting import eventually

MINI = {"provider": "openai", "name": "gpt-4o-mini"}
HELLO = [{"role": "user", "content": "what changed"}]
SPAN_KIND_CLIENT = 3  # OTLP's Span.SpanKind


@pytest.fixture
def otlp() -> Iterator[FakeOtlpReceiver]:
    with FakeOtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
async def traced(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
    otlp: FakeOtlpReceiver,
) -> AsyncIterator[TaskWorld]:
    async with task_world(
        nexus_env,
        fake_slack,
        fake_clickup,
        secret_registry,
        model_prices=PRICES,
        tracing_endpoint=otlp.url,
        tracing_service_name="nexus-under-test",
    ) as world:
        yield world


async def test_a_model_call_is_a_genai_span_in_the_agents_trace(
    traced: TaskWorld, models: FakeModels, otlp: FakeOtlpReceiver
) -> None:
    await model_credential(traced, models)
    agent = await model_agent(traced, "coder", MINI)
    task = traced.track_task("Fix login", agents=["coder"])
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    models.say("the session cookie")

    async with await agent.client(timeout=30) as client:
        r = await client.post(
            "/v1/llm/chat/completions",
            json={"messages": HELLO},
            headers={"traceparent": f"00-{trace_id}-{parent}-01", "X-Oblivion-Task-Id": task},
        )
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]

    def chat_spans() -> list[ReceivedSpan]:
        return [s for s in otlp.received() if s.name == "chat gpt-4o-mini"]

    [span] = await eventually(chat_spans, what="the model call's span")
    assert (span.trace_id, span.parent_span_id) == (trace_id, parent)
    assert span.service == "nexus-under-test"
    assert span.kind == SPAN_KIND_CLIENT
    assert span.attributes["gen_ai.operation.name"] == "chat"
    assert span.attributes["gen_ai.provider.name"] == "openai"
    assert span.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert span.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert span.attributes["oblivion.task_id"] == task
    assert models.api_key not in repr(otlp.received())


async def test_a_failed_streamed_call_is_an_error_span(
    traced: TaskWorld, models: FakeModels, otlp: FakeOtlpReceiver
) -> None:
    await model_credential(traced, models)
    agent = await model_agent(traced, "coder", MINI)
    models.rate_limit(retry_after=3)

    async with await agent.client(timeout=30) as client:
        r = await client.post("/v1/llm/chat/completions", json={"messages": HELLO, "stream": True})
    assert r.status_code == 429

    [span] = await eventually(
        lambda: [s for s in otlp.received() if s.name == "chat gpt-4o-mini"], what="the failed call's span"
    )
    assert span.attributes["error.type"] == "rate_limit_exceeded"
    assert span.status_code == 2  # ERROR
    assert "gen_ai.usage.input_tokens" not in span.attributes
