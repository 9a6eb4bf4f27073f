"""Nexus creates a ClickUp webhook per project, verifies its deliveries with the webhook's own sealed
secret, and revives a suspended webhook while catching up on what ClickUp did not send."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from oblivion_nexus.services.taskflow import webhook_upkeep
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.stores import tables as t
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.fakes.clickup_delivery import send_webhook
from tests.support.taskflow import ALIAS, LIST_ID, FlowStack, inbox_frames, register_team, settle
from tests.support.waiting import eventually


@pytest.fixture
async def managing(stack: FlowStack) -> AsyncIterator[FlowContext]:
    """A flow that manages webhooks pointing at the served Nexus."""
    await register_team(stack)
    async with running_worker(stack.settings) as flow:
        current = flow.resources.settings
        settings = current.model_copy(
            update={
                "http": current.http.model_copy(update={"public_url": stack.nexus.url}),
                "clickup": current.clickup.model_copy(update={"team_id": stack.clickup.team_id}),
            }
        )
        yield FlowContext.create(dataclasses.replace(flow.resources, settings=settings))


async def test_each_project_gets_one_webhook_whose_secret_is_sealed(
    stack: FlowStack, managing: FlowContext
) -> None:
    assert await webhook_upkeep.ensure_project_webhooks(managing) == 1
    assert await webhook_upkeep.ensure_project_webhooks(managing) == 0
    (hook,) = stack.clickup.webhooks.values()
    assert hook["endpoint"] == stack.nexus.url + "/webhooks/clickup"
    assert str(hook["list_id"]) == LIST_ID
    async with managing.resources.sessionmaker() as session:
        row = (await session.execute(select(t.ClickUpWebhook))).scalar_one()
    assert row.webhook_id == hook["id"]
    assert hook["secret"].encode() not in row.secret_ciphertext

    task, deliveries = await stack.clickup.create_task(
        list_id=LIST_ID, name="Via own webhook", description=f"@{ALIAS}"
    )
    assert all(d.statuses == [200] for d in deliveries)
    forged = await send_webhook(
        stack.clickup_url, "taskCreated", secret="another-secret", task_id=task["id"], webhook_id=hook["id"]
    )
    assert forged.statuses == [401]


async def test_suspended_webhook_is_reactivated_and_what_it_missed_is_caught_up(
    stack: FlowStack, managing: FlowContext
) -> None:
    await webhook_upkeep.ensure_project_webhooks(managing)
    (hook,) = stack.clickup.webhooks.values()
    tracked, _ = await stack.clickup.create_task(list_id=LIST_ID, name="Tracked", description=f"@{ALIAS}")
    await eventually(lambda: _assigned(stack, tracked["id"]), what="the tracked task assigned")
    await settle(stack)
    stack.clickup.set_webhook_health(hook["id"])
    # While the webhook is suspended ClickUp sends nothing: a new task and a comment go unreported.
    missed = stack.clickup.add_task(
        list_id=LIST_ID, name="Missed", description=f"@{ALIAS} help", creator=shapes.user(5, "Ann")
    )
    stack.clickup.add_comment(tracked["id"], "Any news?", author=shapes.user(6, "Bea"))

    reread = await webhook_upkeep.check_webhooks(managing)

    assert reread >= 2
    assert stack.clickup.webhooks[hook["id"]]["health"]["status"] == "active"
    await eventually(lambda: _assigned(stack, missed["id"]), what="TASK_ASSIGNED of the missed task")
    thread = [m for m in stack.slack.messages(stack.channel_id) if m.get("username") == "Bea (ClickUp)"]
    assert [m["text"] for m in thread] == ["Any news?"]
    assert await webhook_upkeep.check_webhooks(managing) == 0  # healthy: nothing to re-read


async def _assigned(stack: FlowStack, task_id: str) -> bool:
    frames = await inbox_frames(stack)
    return any(f["type"] == "TASK_ASSIGNED" and f["data"]["task_id"] == task_id for f in frames)
