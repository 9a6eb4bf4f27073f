"""A person stops a task's agents: a stop word in the thread or a ClickUp comment, or the task closed
in ClickUp, reaches them as TASK_CANCELLED (and a stop word as no CONTEXT_UPDATE to answer), and the
task's pending approvals are withdrawn."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from oblivion_nexus.services.tools.audit_log import ToolAuditLog
from oblivion_nexus.stores import tables as t
from oblivion_nexus.worker import running_worker
from tests.fakes import clickup_payloads as shapes
from tests.fakes.slack_events import SlackEventRelay, SlackEventSender
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


async def frames(stack: FlowStack, kind: str) -> list[dict[str, Any]]:
    return [f["data"] for f in await inbox_frames(stack) if f["type"] == kind]


async def test_a_stop_word_in_the_thread_or_a_comment_cancels_and_a_closed_task_too(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings):
        task, thread_ts = await start_task(stack)
        await relay.deliver_new()

        stack.slack.post_as_user(stack.channel_id, f"@{ALIAS} Stop!", thread_ts=thread_ts)
        stack.slack.post_as_user(stack.channel_id, "please stop using the old cookie", thread_ts=thread_ts)
        await relay.deliver_new()
        await eventually(lambda: frames(stack, "CONTEXT_UPDATE"), what="the ordinary reply")
        await stack.clickup.post_comment(task["id"], "cancel", author=shapes.user(321, "Jane"))
        await eventually(
            lambda: _count(frames(stack, "TASK_CANCELLED"), 2), what="the Slack and the ClickUp stop"
        )
        await stack.clickup.change_status(task["id"], "complete")
        await eventually(lambda: _count(frames(stack, "TASK_CANCELLED"), 3), what="the closed task's stop")
        await relay.deliver_new()
        await settle(stack)

    stops = await frames(stack, "TASK_CANCELLED")
    assert [(s["reason"], s["text"]) for s in stops] == [
        ("stop_word", f"@{ALIAS} Stop!"),
        ("stop_word", "cancel"),
        ("closed", "complete"),
    ]
    assert {s["task_id"] for s in stops} == {task["id"]}
    assert stops[1]["author"] == "Jane"
    replies = [u["text"] for u in await frames(stack, "CONTEXT_UPDATE") if u["kind"] != "status"]
    assert replies == ["please stop using the old cookie"], "a stop word is no reply to answer"


async def test_a_stop_withdraws_the_tasks_pending_approvals_and_the_agent_is_told(stack: FlowStack) -> None:
    await register_team(stack)
    add_clickup_webhook(stack)
    relay = SlackEventRelay(stack.slack, SlackEventSender(stack.slack_url, stack.signing_secret))
    async with running_worker(stack.settings) as flow:
        task, thread_ts = await start_task(stack)
        await relay.deliver_new()
        assert flow.resources.slack is not None
        asked = await flow.resources.slack.post_message(
            stack.channel_id, "approve or deny", thread_ts=thread_ts
        )
        approval = await pending_approval(flow, task["id"], (stack.channel_id, asked.ts))

        stack.slack.post_as_user(stack.channel_id, "stop", thread_ts=thread_ts)
        await relay.deliver_new()
        results = await eventually(
            lambda: frames(stack, "TOOL_RESULT"), timeout=20, what="the agent told of the withdrawn approval"
        )
        await settle(stack)
        async with flow.resources.sessionmaker() as session:
            row = await session.get(t.ToolApproval, approval)
            audit = list(
                await session.scalars(
                    select(t.ToolAuditRecord).where(t.ToolAuditRecord.workgroup == WORKGROUP)
                )
            )
        records, breaks = await ToolAuditLog(flow.resources.sessionmaker).verify(WORKGROUP)

    assert results == [
        {"request_id": approval, "ok": False, "result": None, "error": "the call was withdrawn"}
    ]
    assert row is not None
    assert row.status == "withdrawn", "nobody can approve it any more"
    assert [(r.outcome, r.detail) for r in audit] == [("withdrawn", f"approval {approval}")]
    assert (records, breaks) == (1, []), "the audit chain still verifies"
    message = next(m for m in stack.slack.messages(stack.channel_id) if m["ts"] == asked.ts)
    assert "was *withdrawn*" in str(message["blocks"]), "the request in the thread says it was withdrawn"


async def pending_approval(flow: Any, task_id: str, message: tuple[str, str] | None = None) -> str:
    """A merge of the task waiting for a person's approval for another hour (asked in ``message``,
    a channel and ts, when given)."""
    approval = f"apr_{task_id}"
    async with flow.resources.sessionmaker() as session:
        mine = select(t.Agent.id).where(t.Agent.workgroup == WORKGROUP, t.Agent.name == AGENT)
        agent_id = (await session.execute(mine)).scalar_one()
        session.add(
            t.ToolApproval(
                id=approval,
                workgroup=WORKGROUP,
                agent=AGENT,
                agent_id=agent_id,
                task_id=task_id,
                tool="github",
                credential="github",
                action="pulls.merge",
                arguments={"owner": "acme", "repo": "api", "number": 7},
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                slack_channel=message[0] if message else None,
                slack_ts=message[1] if message else None,
            )
        )
        await session.commit()
    return approval


async def _count(found: Any, n: int) -> bool:
    return len(await found) >= n
