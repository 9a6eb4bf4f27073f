"""Two-way mirroring of a tracked task: every message reaches the other side once, none echoes back."""

from __future__ import annotations

from typing import Any

from oblivion_nexus.services import registry
from oblivion_nexus.services.taskflow import mirror, tracked_tasks
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.fakes import slack_events
from tests.fakes.slack_events import SlackEventRelay, SlackEventSender
from tests.fakes.slack_state import BOT_USER_ID, HUMAN_USER_ID
from tests.support.taskflow import (
    AGENT,
    ALIAS,
    WORKGROUP,
    FlowStack,
    add_clickup_webhook,
    inbox_frames,
    register_team,
    settle,
    start_task,
)
from tests.support.waiting import eventually


def replies(stack: FlowStack, thread_ts: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.thread(stack.channel_id, thread_ts) if m["ts"] != thread_ts]


def comment_texts(stack: FlowStack, task_id: str) -> list[str]:
    return [str(c.get("comment_text", "")) for c in stack.clickup.comments_newest_first(task_id)]


async def test_replies_on_both_sides_are_mirrored_once_and_never_echo(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings):
        task, thread_ts = await start_task(stack)
        await relay.deliver_new()  # the root message comes back as an event: Nexus's own

        stack.slack.post_as_user(stack.channel_id, "The cookie TTL is too short", thread_ts=thread_ts)
        await relay.deliver_new()
        await eventually(
            lambda: any(
                "(Slack): The cookie TTL is too short" in c for c in comment_texts(stack, task["id"])
            ),
            what="Slack reply mirrored to ClickUp",
        )
        await settle(stack)  # including ClickUp's webhook for Nexus's own comment

        await stack.clickup.post_comment(task["id"], "Check mobile too", author=shapes.user(321, "Jane"))
        await eventually(
            lambda: any(m.get("username") == "Jane (ClickUp)" for m in replies(stack, thread_ts)),
            what="ClickUp comment mirrored to the thread",
        )
        await relay.deliver_new()  # Nexus's post comes back as a Slack event
        await settle(stack)

    thread = replies(stack, thread_ts)
    assert [m.get("username") or m["user"] for m in thread] == [HUMAN_USER_ID, "Jane (ClickUp)"]
    comments = comment_texts(stack, task["id"])
    assert len(comments) == 3, comments  # the thread link, the mirrored reply, Jane's comment
    updates = [f["data"] for f in await inbox_frames(stack) if f["type"] == "CONTEXT_UPDATE"]
    assert sorted(u["kind"] for u in updates) == ["clickup_comment", "slack_reply"]
    assert {u["author"] for u in updates} == {"Jane", "spengler"}


async def test_agent_message_is_posted_under_its_name_and_mirrored_once(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings) as flow:
        task, thread_ts = await start_task(stack)
        mapping = await tracked_tasks.mapping_for_task(flow.resources, task["id"])
        agent = await registry.get_agent_status(flow.resources, WORKGROUP, AGENT)
        assert mapping is not None
        assert agent is not None
        first = await mirror.post_agent_message(
            flow.resources, mapping, agent, "Plan: raise TTL", idempotency_key="k1"
        )
        again = await mirror.post_agent_message(
            flow.resources, mapping, agent, "Plan: raise TTL", idempotency_key="k1"
        )
        assert first == again
        await relay.deliver_new()
        await settle(stack)

    thread = replies(stack, thread_ts)
    assert len(thread) == 1
    assert thread[0]["username"] == "Reviewer Bot"
    assert thread[0]["icons"] == {"icon_emoji": ":robot_face:"}
    comments = comment_texts(stack, task["id"])
    assert comments.count("Reviewer Bot (Oblivion): Plan: raise TTL") == 1
    assert len(comments) == 2  # with the thread link; nothing came back from Slack
    assert [f["type"] for f in await inbox_frames(stack)] == ["TASK_ASSIGNED"]


async def test_mention_of_an_agent_in_the_thread_wakes_it(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    sender = SlackEventSender(stack.slack_url, stack.signing_secret)
    async with running_worker(stack.settings):
        _, thread_ts = await start_task(stack)
        text = f"<@{BOT_USER_ID}> @{ALIAS} can you retry?"
        await sender.send(
            slack_events.event_callback(
                slack_events.app_mention_event(stack.channel_id, text, thread_ts=thread_ts)
            )
        )
        frames = await eventually(lambda: _of_type(inbox_frames(stack), "WAKE_UP"), what="WAKE_UP")
        # A mention outside any tracked thread wakes nobody.
        await sender.send(slack_events.event_callback(slack_events.app_mention_event(stack.channel_id, text)))
        await settle(stack)
    assert len(frames) == 1
    assert frames[0]["data"]["reason"] == "mention"
    assert len(await _of_type(inbox_frames(stack), "WAKE_UP")) == 1


async def _of_type(frames: Any, kind: str) -> list[dict[str, Any]]:
    return [f for f in await frames if f["type"] == kind]


async def test_status_change_updates_the_state_and_deletion_closes_the_thread(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    async with running_worker(stack.settings) as flow:
        task, thread_ts = await start_task(stack)
        await stack.clickup.change_status(task["id"], "in progress")

        async def state() -> str | None:
            mapping = await tracked_tasks.mapping_for_task(flow.resources, task["id"])
            return mapping.state if mapping else None

        await eventually(lambda: _equals(state(), "IN_PROGRESS"), what="state IN_PROGRESS")
        await stack.clickup.change_description(task["id"], f"@{ALIAS} also the refresh token")
        await eventually(lambda: _equals(_kinds(stack), ["description", "status"]), what="description update")
        await stack.clickup.delete_task(task["id"])
        await eventually(lambda: replies(stack, thread_ts), what="thread told of the deletion")
        await settle(stack)
        mapping = await tracked_tasks.mapping_for_task(flow.resources, task["id"])
    assert mapping is not None
    assert mapping.closed
    assert "deleted in ClickUp" in replies(stack, thread_ts)[0]["text"]


async def _kinds(stack: FlowStack) -> list[str]:
    return sorted(f["data"]["kind"] for f in await _of_type(inbox_frames(stack), "CONTEXT_UPDATE"))


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
