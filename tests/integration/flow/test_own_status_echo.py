"""An agent's own state change comes back from ClickUp as a status webhook — before Nexus has even
heard ClickUp's answer when ClickUp is slow — and is recognised as the echo it is: the agent gets no
``CONTEXT_UPDATE`` and no ``TASK_CANCELLED`` for its own DONE, while a person's change still reaches it."""

from __future__ import annotations

import secrets
from typing import Any

from oblivion_nexus.services.taskflow.tracked_tasks import mapping_for_task
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.secret_logs import SecretRegistry
from tests.support.taskflow import (
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    put_reviewer,
    register_team,
    settle,
    start_task,
)
from tests.support.waiting import eventually

# Long enough for the worker to take the webhook before Nexus hears ClickUp's answer.
SLOW_ANSWER_SECONDS = 1.5


async def agent_client(stack: FlowStack, registry: SecretRegistry) -> dict[str, str]:
    """The agent's headers, with a token from ``/oauth/token`` under a secret the test knows."""
    secret = secrets.token_urlsafe(24)
    registry.add(secret)
    await put_reviewer(stack, secret)
    answer = await stack.http.post(
        stack.nexus.url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "backend-reviewer", "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    registry.add(token)
    return {"Authorization": f"Bearer {token}"}


async def move(stack: FlowStack, headers: dict[str, str], task_id: str, state: str) -> None:
    answer = await stack.http.patch(
        f"{stack.nexus.url}/v1/tasks/{task_id}", json={"state": state}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == state


async def events_after_assignment(stack: FlowStack) -> list[tuple[str, Any]]:
    return [
        (f["type"], f["data"].get("kind") or f["data"].get("reason"))
        for f in await inbox_frames(stack)
        if f["type"] != "TASK_ASSIGNED"
    ]


async def test_an_agents_own_done_echoed_by_clickup_before_its_answer_is_no_cancellation(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings) as flow:
        task, _ = await start_task(stack)
        headers = await agent_client(stack, secret_registry)
        stack.clickup.answer_after_webhooks_seconds = SLOW_ANSWER_SECONDS

        await move(stack, headers, task["id"], "IN_PROGRESS")
        await move(stack, headers, task["id"], "DONE")
        await settle(stack)
        mapping = await mapping_for_task(flow.resources, task["id"])

    assert stack.clickup.tasks[task["id"]]["status"]["status"] == "complete"
    assert mapping is not None
    assert mapping.state == "DONE"
    assert await events_after_assignment(stack) == [], "the agent is told nothing of its own changes"


async def test_a_persons_close_after_the_agents_own_change_still_stops_the_agent(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings):
        task, _ = await start_task(stack)
        headers = await agent_client(stack, secret_registry)
        stack.clickup.answer_after_webhooks_seconds = SLOW_ANSWER_SECONDS

        await move(stack, headers, task["id"], "IN_PROGRESS")
        await stack.clickup.change_status(task["id"], "complete", author=shapes.user(321, "Jane"))
        await eventually(lambda: events_after_assignment(stack), what="the person's close")
        await settle(stack)

    assert await events_after_assignment(stack) == [
        ("CONTEXT_UPDATE", "status"),
        ("TASK_CANCELLED", "closed"),
    ]
