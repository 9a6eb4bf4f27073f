"""The default agent through the whole task flow: a ClickUp task mentioning it becomes a thread and a
``TASK_ASSIGNED``; it says it is on it, asks a question (the fake model's scripted turn), a person
answers in Slack, the worker hands the reply over as ``CONTEXT_UPDATE``, and it finishes: the task
complete in ClickUp with its model usage commented there."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from oblivion_agent import AgentSettings
from oblivion_agent.default import DefaultAgentSettings, create_agent
from oblivion_nexus.worker import running_worker
from tests.fakes.models import FakeModels
from tests.fakes.slack_events import SlackEventRelay, SlackEventSender
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


@pytest.fixture
def models(secret_registry: SecretRegistry) -> Iterator[FakeModels]:
    with FakeModels(api_key="sk-canary-" + secrets.token_urlsafe(24)) as fake:
        secret_registry.add(fake.api_key)
        yield fake


async def give_the_agent_a_model(stack: FlowStack, models: FakeModels, secret: str) -> None:
    await put_model_credential(stack, models)
    await put_reviewer(stack, secret, model={"provider": "openai", "name": "gpt-4o-mini"})


def agent_said(stack: FlowStack, thread_ts: str) -> list[str]:
    thread = stack.slack.thread(stack.channel_id, thread_ts)
    return [m["text"] for m in thread if m.get("username") == "Reviewer Bot"]


async def test_a_clickup_task_is_taken_on_asked_about_answered_and_finished(
    stack: FlowStack, models: FakeModels, secret_registry: SecretRegistry
) -> None:
    secret = secrets.token_urlsafe(24)
    secret_registry.add(secret)
    await register_team(stack)
    await give_the_agent_a_model(stack, models, secret)
    add_clickup_webhook(stack)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    models.call_tool("ask_human", {"question": "Only the web login, or mobile too?"})
    models.call_tool("finish", {"summary": "Fixed the web login; mobile was fine."})
    agent = create_agent(DefaultAgentSettings(name=AGENT, display_name="Reviewer Bot", memory_hits=0))
    settings = AgentSettings(
        nexus_url=stack.nexus.url,
        client_id="backend-reviewer",
        client_secret=SecretStr(secret),
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )

    async with running_worker(stack.settings):
        serving = asyncio.create_task(agent.serve(settings))
        try:
            task, _ = await stack.clickup.create_task(
                list_id=LIST_ID,
                name="Login loops",
                description=f"@{ALIAS} the login page redirects to itself",
            )
            root = await eventually(
                lambda: [m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m],
                what="the task's thread",
            )
            thread_ts = root[0]["ts"]
            asked = await eventually(
                lambda: [t for t in agent_said(stack, thread_ts) if t.startswith("Only the web")],
                timeout=20,
                what="the agent's question",
            )
            said_before = agent_said(stack, thread_ts)
            await relay.deliver_new()  # the agent's posts come back as events: Nexus's own

            stack.slack.post_as_user(stack.channel_id, "Web only, mobile is fine.", thread_ts=thread_ts)
            await relay.deliver_new()
            await eventually(
                lambda: _status(stack, task["id"]) == "complete",
                timeout=20,
                what="the task complete in ClickUp",
            )
            comments = await eventually(
                lambda: [
                    c["comment_text"]
                    for c in stack.clickup.comments_newest_first(task["id"])
                    if "Model usage" in c["comment_text"]
                ],
                what="the usage comment",
            )
        finally:
            agent.stop()
            await asyncio.wait_for(serving, 20)

    assert said_before[0] == "On it: Login loops. I will post my progress here."
    assert asked == ["Only the web login, or mobile too?"]
    said = agent_said(stack, thread_ts)
    assert said[-1] == "Fixed the web login; mobile was fine."
    assert sum(t.startswith("On it:") for t in said) == 1
    resumed = models.requests[1].body["messages"]
    assert resumed[-1]["role"] == "user"
    assert resumed[-1]["content"].endswith("Web only, mobile is fine.")
    assert len(comments) == 1


def _status(stack: FlowStack, task_id: str) -> Any:
    return stack.clickup.tasks[task_id]["status"]["status"]
