"""What the task flow hands the Memory Bank, after it mirrored and told the agents.

Every message of a channel a project maps (top-level and thread replies, people's and agents'), its
edits and deletions; each ClickUp task's name and description when created or updated, and its
comments. Handing over is one ``rag-ingestion`` job in Redis, so embedding never delays a thread.
Channels no project maps are not remembered. A message with nothing to read (empty, only a file
share) is skipped here with its reason in the log.
"""

from __future__ import annotations

import logging
import re
import time

from sqlalchemy import select

from oblivion_nexus.integrations.clickup_events import ClickUpWebhookEvent
from oblivion_nexus.integrations.clickup_models import User
from oblivion_nexus.integrations.slack import SlackMessage
from oblivion_nexus.integrations.slack_events import SlackEventCallback
from oblivion_nexus.services.memory.bank import MemoryText
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.mirror import is_own_clickup_comment
from oblivion_nexus.services.taskflow.threads import readable_text
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.vectors import (
    MemoryKind,
    MemorySource,
    clickup_comment_source_id,
    slack_source_id,
)

logger = logging.getLogger(__name__)

# Subtypes that carry something someone said; joins, topic changes, pins… are not remembered.
REMEMBERED_SUBTYPES = {None, "thread_broadcast", "file_share", "bot_message", "me_message"}
# History fields of a task update that change what is remembered of it.
_TASK_TEXT_FIELDS = {"name", "content"}
# Nexus's own comments (mirrored Slack replies, agent messages, the thread link): already remembered
# as the Slack messages they mirror.
_OWN_COMMENT = re.compile(r"^(Slack thread: |[^\n]{1,200} \((Oblivion|Slack)\): )")
# How long a worker trusts what it read of a channel's project (as for lists, see context).
_CHANNEL_CACHE_SECONDS = 2.0
_MAX_CACHED_CHANNELS = 1000


async def _project_of_channel(flow: FlowContext, channel: str) -> tuple[str, str] | None:
    """(workgroup, project) of the project mapping ``channel``, if any (archived ones too: their
    history stays searchable)."""
    now = time.monotonic()
    cached = flow.channel_projects.get(channel)
    if cached is not None and now - cached[0] < _CHANNEL_CACHE_SECONDS:
        return cached[1]
    async with flow.resources.sessionmaker() as session:
        row = (
            await session.execute(
                select(t.Project.workgroup, t.Project.name).where(t.Project.slack_channel_id == channel)
            )
        ).first()
    found = None if row is None else (str(row[0]), str(row[1]))
    if len(flow.channel_projects) >= _MAX_CACHED_CHANNELS:
        flow.channel_projects.clear()
    flow.channel_projects[channel] = (now, found)
    return found


def slack_link(channel: str, ts: str, thread_ts: str | None) -> str:
    """Where a person opens the message (Slack redirects to the workspace of whoever follows it)."""
    link = f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts is not None and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


async def on_slack_message(flow: FlowContext, payload: SlackEventCallback) -> None:
    """Hand a message event of a mapped channel to the Memory Bank (remember, overwrite or forget)."""
    event = payload.event
    handover = flow.memory
    channel = event.channel_id
    if handover is None or event.type != "message" or channel is None:
        return
    owner = await _project_of_channel(flow, channel)
    if owner is None:
        return
    workgroup, project = owner
    team = payload.team_id or "-"
    extra = event.model_extra or {}
    version = float(event.event_ts or event.ts or time.time())
    if event.subtype == "message_deleted":
        deleted = extra.get("deleted_ts")
        if isinstance(deleted, str):
            source = slack_source_id(team, channel, deleted)
            await handover.forget(workgroup, project, source, version=version)
        return
    if event.subtype == "message_changed":
        message = event.nested_message
        if message is None or message.subtype not in REMEMBERED_SUBTYPES:
            return
    elif event.subtype in REMEMBERED_SUBTYPES:
        message = event.effective
        version = float(message.ts or version)
        if extra.get("files") and not message.text.strip():
            logger.info("memory: skipping a message of %s: only a file share", channel)
            return
    else:
        logger.debug("memory: Slack %s message in %s not remembered", event.subtype, channel)
        return
    await hand_over_message(flow, workgroup, project, team, channel, message, version)


async def hand_over_message(
    flow: FlowContext,
    workgroup: str,
    project: str,
    team: str,
    channel: str,
    message: SlackMessage,
    version: float,
) -> bool:
    """Queue one Slack message of ``project``'s channel to be remembered; False when it is skipped
    (nothing to read). Shared by events and the backfill, so both make the same point ids."""
    handover = flow.memory
    if handover is None or message.ts is None:
        return False
    source = slack_source_id(team, channel, message.ts)
    if not message.text.strip():
        reason = "only a file share" if message.subtype == "file_share" else "no text"
        logger.info("memory: skipping %s: %s", source, reason)
        return False
    if message.user is not None:
        author = await flow.slack_user_name(message.user)
    else:
        author = message.username or "a bot"
    # A person's top-level message starts no tracked thread (Nexus posts those roots): no lookup.
    mapping = None
    if message.thread_ts is not None or message.user is None or message.bot_id is not None:
        mapping = await tasks.mapping_for_thread(flow.resources, channel, message.thread_ts or message.ts)
    text = MemoryText(
        source_id=source,
        project_id=project,
        text=await readable_text(flow, message.text),
        kind=MemoryKind.MESSAGE,
        source=MemorySource.SLACK,
        timestamp=float(message.ts),
        author=author,
        task_id=mapping.clickup_task_id if mapping is not None else None,
        thread_ts=message.thread_ts,
        link=slack_link(channel, message.ts, message.thread_ts),
    )
    await handover.remember(workgroup, text, version=version)
    logger.debug("memory: %s handed over", source)
    return True


async def _project_of_task(flow: FlowContext, event: ClickUpWebhookEvent) -> tuple[str, str] | None:
    if event.list_id is not None:
        found = await flow.project_and_agents(event.list_id)
        if found is not None:
            return found[0].workgroup, found[0].name
    mapping = await tasks.mapping_for_task(flow.resources, event.task_id)
    return None if mapping is None else (mapping.workgroup, mapping.project)


async def on_clickup_event(flow: FlowContext, event: ClickUpWebhookEvent) -> None:
    """Hand a task's new name or description, or a comment, to the Memory Bank."""
    handover = flow.memory
    if handover is None or event.event == "taskDeleted":
        return
    if event.event in ("taskCommentPosted", "taskCommentUpdated"):
        await _comment(flow, event)
        return
    fields = {item.field for item in event.history_items}
    if event.event != "taskCreated" and not fields & _TASK_TEXT_FIELDS:
        return
    owner = await _project_of_task(flow, event)
    if owner is not None:
        await handover.task_changed(owner[0], owner[1], event.task_id, event.dedupe_key)


async def _comment(flow: FlowContext, event: ClickUpWebhookEvent) -> None:
    comment = event.comment
    if comment is None:
        return
    owner = await _project_of_task(flow, event)
    if owner is None:
        return
    item = event.primary_item
    written = comment.date or (item.date if item is not None else None)
    version = (item.date if item is not None and item.date else written) or time.time() * 1000
    await hand_over_comment(
        flow, owner, event.task_id, comment.id, comment.user, comment.plain_text, written, version
    )


async def hand_over_comment(
    flow: FlowContext,
    owner: tuple[str, str],
    task_id: str,
    comment_id: str,
    user: User | None,
    text: str,
    written_ms: int | None,
    version_ms: float,
) -> bool:
    """Queue a ClickUp comment of ``owner`` (workgroup, project) to be remembered; False when it is
    Nexus's own or has no text. Shared by events and the backfill."""
    if flow.memory is None:
        return False
    source = clickup_comment_source_id(comment_id)
    by_nexus = user is not None and user.id == await flow.clickup_user_id()
    if await is_own_clickup_comment(flow.resources, comment_id) or (by_nexus and _OWN_COMMENT.match(text)):
        logger.debug("memory: %s is Nexus's own (the Slack message is remembered)", source)
        return False
    if not text.strip():
        logger.info("memory: skipping %s: no text", source)
        return False
    memory_text = MemoryText(
        source_id=source,
        project_id=owner[1],
        text=text,
        kind=MemoryKind.COMMENT,
        source=MemorySource.CLICKUP,
        timestamp=written_ms / 1000 if written_ms else time.time(),
        author=user.display_name if user else None,
        task_id=task_id,
        link=f"https://app.clickup.com/t/{task_id}?comment={comment_id}",
    )
    await flow.memory.remember(owner[0], memory_text, version=version_ms / 1000)
    return True
