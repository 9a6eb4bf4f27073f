"""Task intake: a ClickUp task that summons an agent becomes a Slack thread and a TASK_ASSIGNED.

Each step is get-or-create keyed in PostgreSQL, so any duplicate, retry or crash ends with exactly
one root message, one ClickUp link comment and one TASK_ASSIGNED per agent:

1. claim the task's mapping row (unique on the ClickUp task id) and record the summoned agents;
2. post the root message once (ledger intent ``root:<task>``; the message carries the key in its
   metadata, so a crash after posting is found in the channel's history instead of posting again);
3. queue TASK_ASSIGNED under a deterministic id per task and agent (the inbox drops a second one),
   then mark the agents sent;
4. comment the thread link on the task once (ledger intent ``link:<task>``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from opentelemetry.trace import SpanKind

from oblivion_agent.protocol import FrameType
from oblivion_nexus.integrations.clickup_models import Task
from oblivion_nexus.integrations.slack_text import escape_text
from oblivion_nexus.services.taskflow import ledger
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.clients import require_clickup, require_slack
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.mirror import METADATA_EVENT_TYPE, comment_on_task
from oblivion_nexus.tracing import current_carrier, task_span

logger = logging.getLogger(__name__)

# Slack section text is limited to 3,000 characters; a long task name is cut well before that.
_MAX_TITLE = 300


def root_message_blocks(task: Task) -> tuple[str, list[dict[str, Any]]]:
    """The root message of a task's thread: title, link and assignees, as text and Block Kit."""
    title = escape_text(task.name[:_MAX_TITLE])
    link = f"<{task.url}|{title}>" if task.url else f"*{title}*"
    assignees = ", ".join(escape_text(user.display_name) for user in task.assignees) or "nobody yet"
    status = task.status.status if task.status else "to do"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": task.name[:150] or "Untitled task"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{link}"}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"Assignee: {assignees}"},
                {"type": "mrkdwn", "text": f"Status: {escape_text(status)}"},
                {"type": "mrkdwn", "text": f"ClickUp task `{escape_text(task.id)}`"},
            ],
        },
    ]
    return f"New task: {title}", blocks


async def _post_root(flow: FlowContext, mapping: tasks.MappingRef, task: Task) -> str:
    resources = flow.resources
    slack = require_slack(resources)
    key = ledger.intent_key(f"root:{task.id}")
    text, blocks = root_message_blocks(task)
    metadata = {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": str(key), "task_id": task.id}}

    async def write() -> str:
        posted = await slack.post_message(mapping.slack_channel_id, text, blocks=blocks, metadata=metadata)
        return posted.ts

    async def find() -> str | None:
        for message in await slack.history(mapping.slack_channel_id):
            payload = (message.metadata or {}).get("event_payload")
            if isinstance(payload, dict) and payload.get("key") == str(key) and message.ts:
                return message.ts
        return None

    written = ledger.Written(lambda ts: ledger.slack_key(mapping.slack_channel_id, ts), task.id)
    ts, posted = await ledger.once(resources.engine, key, write, find, written)
    if posted:
        logger.info("task %s: root message %s posted in %s", task.id, ts, mapping.slack_channel_id)
    await tasks.update_mapping(resources, mapping.id, thread_ts=ts)
    return ts


async def _comment_link(flow: FlowContext, mapping: tasks.MappingRef, task: Task, permalink: str) -> str:
    comment_id = await comment_on_task(
        flow.resources, task.id, ledger.intent_key(f"link:{task.id}"), f"Slack thread: {permalink}"
    )
    await tasks.update_mapping(flow.resources, mapping.id, link_comment_id=comment_id)
    return comment_id


async def thread_link(flow: FlowContext, channel: str, thread_ts: str) -> str:
    """The thread's permalink, made from the workspace URL ``auth.test`` gave (asked once per
    process) the way Slack makes it; ``chat.getPermalink`` only when that URL is unknown."""
    slack = require_slack(flow.resources)
    workspace = (await slack.identity()).url
    if workspace:
        return f"{workspace.rstrip('/')}/archives/{channel}/p{thread_ts.replace('.', '')}"
    return await slack.get_permalink(channel, thread_ts)


async def take_task(flow: FlowContext, task: Task, *, list_id: str | None = None) -> tasks.MappingRef | None:
    """Start tracking ``task`` if it summons an agent (or add newly summoned agents); idempotent.

    Ordered for the agent: the mapping and the root message first, then TASK_ASSIGNED, and only then
    the ClickUp link comment, which nobody waits for.
    """
    resources = flow.resources
    home = task.home_list.id if task.home_list is not None else list_id
    if home is None:
        await tasks.record_ignored(resources, task.id, None, "no_list")
        return None
    registered = await flow.project_and_agents(home)
    if registered is None:
        await tasks.record_ignored(resources, task.id, home, "unknown_project")
        return None
    project, agents = registered
    if project.archived:
        await tasks.record_ignored(resources, task.id, home, "archived_project")
        return None
    if project.slack_channel_id is None:
        await tasks.record_ignored(resources, task.id, home, "project_without_channel")
        return None
    mapping, pending = await tasks.claim_task(resources, project, task, tasks.agents_summoned(agents, task))
    if mapping is None:
        await tasks.record_ignored(resources, task.id, home, "no_agent_summoned")
        return None
    if mapping.closed:
        return mapping
    tracer = resources.tracer
    if mapping.thread_ts is None:
        with task_span(tracer, "create thread", attributes={"oblivion.task_id": task.id}):
            mapping = replace(mapping, thread_ts=await _post_root(flow, mapping, task))
    assert mapping.thread_ts is not None
    needs_link = mapping.link_comment_id is None and resources.clickup is not None
    if not pending and not needs_link:
        return mapping
    permalink = await thread_link(flow, mapping.slack_channel_id, mapping.thread_ts)
    for agent in pending:
        data = {
            "task_id": task.id,
            "project": project.name,
            "title": task.name,
            "description": task.plain_description,
            "url": task.url,
            "thread_url": permalink,
            "assigned_by": task.creator.display_name if task.creator else None,
        }
        attributes = {"oblivion.task_id": task.id, "oblivion.agent": agent.name}
        with task_span(tracer, "send TASK_ASSIGNED", kind=SpanKind.PRODUCER, attributes=attributes) as span:
            if span is not None:  # the agent's calls for the task continue from this span
                data.update(current_carrier())
            await flow.send_event(
                agent.workgroup,
                agent.name,
                FrameType.TASK_ASSIGNED,
                f"task-assigned-{task.id}-{agent.id}",
                data,
            )
    await tasks.mark_notified(resources, mapping.id, [agent.id for agent in pending])
    if needs_link:
        mapping = replace(mapping, link_comment_id=await _comment_link(flow, mapping, task, permalink))
    return mapping


async def fetch_and_take(flow: FlowContext, task_id: str, list_id: str | None) -> tasks.MappingRef | None:
    task = await require_clickup(flow.resources).get_task(task_id)
    return await take_task(flow, task, list_id=list_id)
