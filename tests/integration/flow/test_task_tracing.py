"""One OpenTelemetry trace per task: the ClickUp webhook that creates it, the queued job the worker
takes, the thread it creates, the ``TASK_ASSIGNED`` that carries the trace context to the agent, and
the agent's calls to Nexus (its model call, its tools, its messages and state) are spans of one trace,
each a child of the step that led to it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from oblivion_agent import Agent, AgentSettings, Context, TaskAssigned
from oblivion_nexus.settings import NexusSettings, TracingSettings
from oblivion_nexus.worker import running_worker
from tests.fakes.models import FakeModels
from tests.fakes.otlp import FakeOtlpReceiver, ReceivedSpan
from tests.secret_logs import SecretRegistry
from tests.support.taskflow import (
    AGENT,
    ALIAS,
    LIST_ID,
    FlowStack,
    add_clickup_webhook,
    put_model_credential,
    put_reviewer,
    register_team,
)
from tests.support.waiting import eventually

SPAN_KIND_SERVER, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 2, 4, 5  # OTLP's Span.SpanKind


@pytest.fixture
def otlp() -> Iterator[FakeOtlpReceiver]:
    with FakeOtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def flow_settings(flow_settings: NexusSettings, otlp: FakeOtlpReceiver) -> NexusSettings:
    """The flow's Nexus (API and worker) exporting its spans to the fake OTLP receiver."""
    tracing = TracingSettings(endpoint=otlp.url, service_name="nexus-under-test")
    return flow_settings.model_copy(update={"tracing": tracing})


@pytest.fixture
def models(secret_registry: SecretRegistry) -> Iterator[FakeModels]:
    with FakeModels(api_key="sk-canary-" + secrets.token_urlsafe(24)) as fake:
        secret_registry.add(fake.api_key)
        yield fake


def working_agent() -> Agent:
    """An agent that, on its task, says it is on it, looks at its tools, asks its model and finishes."""
    agent = Agent(AGENT)

    @agent.on_task
    async def work(event: TaskAssigned, ctx: Context) -> None:
        await ctx.say("On it.")
        await ctx.tools.list()
        await ctx.models.chat([{"role": "user", "content": event.title}])
        await ctx.set_state("DONE")

    return agent


async def test_a_task_from_the_clickup_webhook_to_the_agents_model_call_is_one_trace(
    stack: FlowStack, models: FakeModels, otlp: FakeOtlpReceiver, secret_registry: SecretRegistry
) -> None:
    secret = secrets.token_urlsafe(24)
    secret_registry.add(secret)
    await register_team(stack)
    await put_model_credential(stack, models)
    await put_reviewer(stack, secret, model={"provider": "openai", "name": "gpt-4o-mini"})
    add_clickup_webhook(stack)
    models.say("The cookie path is wrong.")
    agent = working_agent()
    settings = AgentSettings(
        nexus_url=stack.nexus.url, client_id="backend-reviewer", client_secret=SecretStr(secret)
    )

    async with running_worker(stack.settings):
        serving = asyncio.create_task(agent.serve(settings))
        try:
            task, _ = await stack.clickup.create_task(
                list_id=LIST_ID, name="Login loops", description=f"@{ALIAS} please look"
            )
            await eventually(
                lambda: stack.clickup.tasks[task["id"]]["status"]["status"] == "complete",
                timeout=20,
                what="the agent done",
            )
            spans = await eventually(lambda: _task_trace(otlp), timeout=20, what="the task's trace exported")
        finally:
            agent.stop()
            await asyncio.wait_for(serving, 20)

    by_name = {s.name: s for s in spans}
    webhook = by_name["clickup taskCreated"]
    job = by_name["process clickup webhook"]
    assigned = by_name["send TASK_ASSIGNED"]
    assert (webhook.kind, webhook.parent_span_id) == (SPAN_KIND_SERVER, ""), "the trace starts at the door"
    assert webhook.attributes["oblivion.task_id"] == task["id"]
    assert (job.kind, job.parent_span_id) == (SPAN_KIND_CONSUMER, webhook.span_id), "through the queue"
    assert by_name["create thread"].parent_span_id == job.span_id
    assert (assigned.kind, assigned.parent_span_id) == (SPAN_KIND_PRODUCER, job.span_id)
    model_call = by_name["chat gpt-4o-mini"]
    assert model_call.parent_span_id == assigned.span_id, "the agent's model call, from its TASK_ASSIGNED"
    assert model_call.attributes["gen_ai.usage.output_tokens"] > 0
    for name in ("POST /v1/tasks", "GET /v1/tools", "PATCH /v1/tasks"):
        assert (by_name[name].kind, by_name[name].parent_span_id) == (SPAN_KIND_SERVER, assigned.span_id), (
            name
        )
    for name, call in (("post in thread", "POST /v1/tasks"), ("set clickup status", "PATCH /v1/tasks")):
        assert by_name[name].parent_span_id == by_name[call].span_id, f"{name}: back to the thread and task"
    assert {s.service for s in spans} == {"nexus-under-test"}
    assert len({s.trace_id for s in spans}) == 1


async def _task_trace(otlp: FakeOtlpReceiver) -> list[ReceivedSpan]:
    """The spans of the trace that sent TASK_ASSIGNED, once its agent's last call is among them."""
    spans = otlp.received()
    assigned = next((s for s in spans if s.name == "send TASK_ASSIGNED"), None)
    if assigned is None:
        return []
    trace = [s for s in spans if s.trace_id == assigned.trace_id]
    return trace if any(s.name == "PATCH /v1/tasks" for s in trace) else []
