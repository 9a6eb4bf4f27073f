"""Edges of the flow: a crash between posting and recording, echoes without a subtype, untracked
threads, archived projects, and a task that mentions an agent only after an edit."""

from __future__ import annotations

from sqlalchemy import select

from oblivion_nexus.integrations.clickup_models import Task
from oblivion_nexus.services.taskflow import intake, ledger, tracked_tasks
from oblivion_nexus.services.taskflow.mirror import METADATA_EVENT_TYPE
from oblivion_nexus.stores import tables as t
from oblivion_nexus.worker import running_worker
from tests.fakes import slack_events
from tests.fakes.slack_events import SlackEventSender
from tests.fakes.slack_state import BOT_USER_ID
from tests.support.taskflow import (
    ALIAS,
    LIST_ID,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    register_team,
    settle,
)
from tests.support.waiting import eventually


def roots(stack: FlowStack) -> list[dict]:
    return [m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m]


async def test_crash_after_posting_the_root_message_does_not_post_it_again(stack: FlowStack) -> None:
    await register_team(stack)
    raw = stack.clickup.add_task(list_id=LIST_ID, name="Half done", description=f"@{ALIAS}")
    async with running_worker(stack.settings) as flow:
        task = Task.model_validate(raw)
        async with flow.resources.sessionmaker() as session:
            project = await tracked_tasks.project_for_list(session, LIST_ID)
        assert project is not None
        # What a worker killed right after chat.postMessage leaves behind: the claim, the message, no ts.
        await tracked_tasks.claim_mapping(flow.resources, project, task)
        key = ledger.intent_key(f"root:{task.id}")
        await ledger.record(flow.resources.engine, key, None)
        posted = stack.slack.workspace.post(
            stack.channel_id,
            {
                "text": "New task",
                "user": BOT_USER_ID,
                "metadata": {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": str(key)}},
            },
        )
        await intake.take_task(flow, task)
        mapping = await tracked_tasks.mapping_for_task(flow.resources, task.id)
    assert len(roots(stack)) == 1
    assert stack.slack.calls_to("chat.postMessage") == []
    assert mapping is not None
    assert mapping.thread_ts == posted["ts"]
    assert [f["type"] for f in await inbox_frames(stack)] == ["TASK_ASSIGNED"]


async def test_own_message_without_subtype_and_untracked_threads_are_not_mirrored(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    sender = SlackEventSender(stack.slack_url, stack.signing_secret)
    async with running_worker(stack.settings):
        task, _ = await stack.clickup.create_task(list_id=LIST_ID, name="Echo", description=f"@{ALIAS}")
        await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
        await settle(stack)
        thread_ts = roots(stack)[0]["ts"]
        own = slack_events.message_event(
            stack.channel_id, "from the bot", user=BOT_USER_ID, thread_ts=thread_ts
        )
        stranger = slack_events.message_event(stack.channel_id, "elsewhere", thread_ts="1700000000.000001")
        for event in (own, stranger):
            assert (await sender.send(slack_events.event_callback(event))).delivered
        await settle(stack)
    texts = [str(c.get("comment_text")) for c in stack.clickup.comments[task["id"]]]
    assert len(texts) == 1, texts  # only the thread link
    assert all("from the bot" not in text and "elsewhere" not in text for text in texts)


async def test_task_of_an_archived_project_is_recorded_and_ignored(stack: FlowStack) -> None:
    await register_team(stack, archived=True)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings) as flow:
        task, _ = await stack.clickup.create_task(list_id=LIST_ID, name="Too late", description=f"@{ALIAS}")

        async def ignored() -> str | None:
            async with flow.resources.sessionmaker() as session:
                return (
                    await session.execute(
                        select(t.IgnoredTask.reason).where(t.IgnoredTask.clickup_task_id == task["id"])
                    )
                ).scalar_one_or_none()

        assert await eventually(ignored, what="task recorded as ignored") == "archived_project"
        await settle(stack)
    assert roots(stack) == []
    assert await inbox_frames(stack) == []


async def test_task_edited_to_mention_an_agent_is_taken_then(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings):
        task, _ = await stack.clickup.create_task(
            list_id=LIST_ID, name="Plain task", description="no agent yet"
        )
        await settle(stack)
        assert roots(stack) == []
        await stack.clickup.change_description(task["id"], f"now for @{ALIAS.upper()}")
        frames = await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED after the edit")
        await settle(stack)
    assert len(roots(stack)) == 1
    assert [f["type"] for f in frames] == ["TASK_ASSIGNED"]
