"""Thread summaries by the workgroup's model (real worker, embedded engine, local embedding model,
the fake OpenAI API): every 50 replies the model writes the summary point from the previous summary
and the new messages, its usage is recorded, and a model that fails leaves an extractive summary
after one call."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from oblivion_nexus.services.llm.summaries import SUMMARY_AGENT
from oblivion_nexus.services.memory.runtime import ingestion_queue
from oblivion_nexus.services.memory.summaries import SUMMARY_EVERY
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores import tables as t
from oblivion_nexus.worker import running_worker
from tests.fakes.models import FakeModels
from tests.fakes.slack_events import SlackEventRelay, SlackEventSender
from tests.secret_logs import SecretRegistry
from tests.support.memory import MemoryWorld, build_memory_world, search
from tests.support.taskflow import WORKGROUP, FlowStack, put_model_credential
from tests.support.waiting import eventually

MODEL = "gpt-4o-mini"
FIRST = "The nightly warehouse export fails on the orders table timeout; Bo raises the timeout."
SECOND = "The export works again since the timeout was raised to 30 minutes; nothing is open."


@pytest.fixture
def models(secret_registry: SecretRegistry) -> Any:
    with FakeModels(api_key="sk-summary-" + "k" * 24) as fake:
        secret_registry.add(fake.api_key)
        yield fake


async def _summary_model(stack: FlowStack, models: FakeModels) -> None:
    """The workgroup's ``openai`` credential holding the fake's key, and its summary model."""
    await put_model_credential(stack, models)
    await stack.put(f"/workgroups/{WORKGROUP}", {"displayName": "Backend", "summaryModel": {"name": MODEL}})


def _priced(settings: NexusSettings) -> NexusSettings:
    models = settings.models.model_copy(update={"prices": f"{MODEL}=0.15/0.60"})
    return settings.model_copy(update={"models": models})


def _replies(stack: FlowStack, root: str, start: int) -> None:
    for n in range(start, start + SUMMARY_EVERY):
        text = (
            "The warehouse export fails on the orders table timeout."
            if n % 10 == 0
            else f"Reply {n}: looking."
        )
        stack.slack.post_as_user(stack.channel_id, text, thread_ts=root)


async def _summaries(world: MemoryWorld) -> list[dict[str, Any]]:
    answer = await search(world.auth_agent, "why does the warehouse export fail?", kinds=["summary"])
    return list(answer.json()["hits"])


async def _ingestion_idle(settings: NexusSettings) -> bool:
    """Whether no job of the ingestion queue waits, runs, waits for a retry or failed."""
    queue = ingestion_queue(settings)
    try:
        counts = await queue.counts()
    finally:
        await queue.close()
    return all(counts.get(state, 0) == 0 for state in ("waiting", "active", "delayed", "failed"))


async def test_the_workgroups_model_writes_each_summary_from_the_previous_one_and_the_new_replies(
    stack: FlowStack, secret_registry: SecretRegistry, models: FakeModels
) -> None:
    world = await build_memory_world(stack, secret_registry)
    await _summary_model(stack, models)
    models.say(FIRST)
    models.say(SECOND)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    settings = _priced(stack.settings)
    async with running_worker(settings):
        root = stack.slack.post_as_user(
            stack.channel_id, "The nightly export to the warehouse keeps failing."
        )
        _replies(stack, root["ts"], 0)
        await relay.deliver_new()
        [first] = await eventually(
            lambda: _summaries(world), timeout=30, what="the thread's first summary point"
        )
        assert first["author"] == f"Oblivion (summary by {MODEL})"
        assert first["text"] == f"Summary of a thread of {SUMMARY_EVERY + 1} messages: {FIRST}"
        assert first["threadTs"] == root["ts"]

        _replies(stack, root["ts"], SUMMARY_EVERY)
        await relay.deliver_new()

        async def second() -> list[dict[str, Any]]:
            return [h for h in await _summaries(world) if SECOND in h["text"]]

        [latest] = await eventually(second, timeout=30, what="the thread's summary replaced")
        assert [h for h in await _summaries(world) if h["threadTs"] == root["ts"]] == [latest]
    assert latest["text"] == f"Summary of a thread of {2 * SUMMARY_EVERY + 1} messages: {SECOND}"
    first_call, second_call = models.requests
    assert first_call.headers["authorization"] == f"Bearer {models.api_key}"
    assert first_call.body["model"] == MODEL
    system, asked = first_call.body["messages"]
    assert system["role"] == "system"
    assert "keeps failing." in asked["content"]
    assert "Reply 49: looking." in asked["content"]
    # The second call: the first summary and the 50 replies since, not the replies it covered.
    asked = second_call.body["messages"][1]["content"]
    assert f"Summary of its first {SUMMARY_EVERY + 1} messages:\n{FIRST}" in asked
    assert "Reply 99: looking." in asked
    assert "Reply 49: looking." not in asked
    engine = create_async_engine(settings.database.url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(t.ModelUsage).order_by(t.ModelUsage.id))).all()
    finally:
        await engine.dispose()
    assert [(r.workgroup, r.agent, r.agent_id, r.model) for r in rows] == [
        (WORKGROUP, SUMMARY_AGENT, 0, MODEL)
    ] * 2
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 and r.cost_usd > 0 for r in rows)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        pytest.param(lambda m: m.fail(500, "server_error", "The server had an error"), "HTTP 500", id="500"),
        pytest.param(lambda m: m.rate_limit(retry_after=1), "HTTP 429", id="429"),
        pytest.param(lambda m: m.say(""), "no text", id="empty"),
    ],
)
async def test_a_failing_model_leaves_an_extractive_summary_after_one_call(
    stack: FlowStack,
    secret_registry: SecretRegistry,
    models: FakeModels,
    caplog: pytest.LogCaptureFixture,
    failure: Any,
    reason: str,
) -> None:
    world = await build_memory_world(stack, secret_registry)
    await _summary_model(stack, models)
    failure(models)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    caplog.set_level(logging.WARNING, logger="oblivion_nexus.services.memory.summaries")
    async with running_worker(stack.settings):
        root = stack.slack.post_as_user(
            stack.channel_id, "The nightly export to the warehouse keeps failing."
        )
        _replies(stack, root["ts"], 0)
        await relay.deliver_new()
        [summary] = await eventually(lambda: _summaries(world), timeout=30, what="the thread's summary point")
        await eventually(lambda: _ingestion_idle(stack.settings), what="every ingestion job done")
    assert summary["author"] == "Oblivion (extractive summary)"
    assert str(summary["text"]).startswith(f"Extractive summary of a thread of {SUMMARY_EVERY + 1} messages")
    assert len(models.requests) == 1
    [warning] = [r.getMessage() for r in caplog.records if "gave no summary" in r.getMessage()]
    assert f"workgroup {WORKGROUP}" in warning
    assert reason in warning
    assert models.api_key not in caplog.text


async def test_a_workgroup_with_a_model_credential_but_no_summary_model_gets_extractive_summaries(
    stack: FlowStack, secret_registry: SecretRegistry, models: FakeModels
) -> None:
    world = await build_memory_world(stack, secret_registry)
    await _summary_model(stack, models)
    await stack.put(f"/workgroups/{WORKGROUP}", {"displayName": "Backend"})  # the field removed
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings):
        root = stack.slack.post_as_user(
            stack.channel_id, "The nightly export to the warehouse keeps failing."
        )
        _replies(stack, root["ts"], 0)
        await relay.deliver_new()
        [summary] = await eventually(lambda: _summaries(world), timeout=30, what="the thread's summary point")
    assert summary["author"] == "Oblivion (extractive summary)"
    assert models.requests == []
