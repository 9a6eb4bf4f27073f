"""ClickUp comments on a tracked task: into the thread as "<author> (ClickUp)", and to its agents.

Comments Nexus wrote itself (agent messages, mirrored Slack replies, the thread link) are in the
ledger and are dropped, so nothing is ever mirrored back and forth.
"""

from __future__ import annotations

import logging
import re

from oblivion_nexus.integrations.clickup_events import ClickUpWebhookEvent
from oblivion_nexus.integrations.clickup_models import Comment, User
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.clients import require_clickup
from oblivion_nexus.services.taskflow.context import (
    FlowContext,
    is_stop_word,
    stop_task_agents,
    tell_task_agents,
)
from oblivion_nexus.services.taskflow.mirror import is_own_clickup_comment, mirror_clickup_comment

logger = logging.getLogger(__name__)

# What Nexus's own comments look like, for the instant before the ledger knows a fresh one.
_OWN_COMMENT = re.compile(r"^(Slack thread: |[^\n]{1,200} \((Oblivion|Slack)\): )")


async def on_comment(flow: FlowContext, event: ClickUpWebhookEvent) -> None:
    comment = event.comment
    if comment is None:
        logger.info("ClickUp %s for task %s carries no comment; ignored", event.event, event.task_id)
        return
    mapping = await tasks.mapping_for_task(flow.resources, event.task_id)
    if mapping is None or mapping.closed or mapping.thread_ts is None:
        logger.debug("comment %s on untracked task %s ignored", comment.id, event.task_id)
        return
    await carry_comment(flow, mapping, comment.id, comment.user, comment.plain_text)


async def carry_comment(
    flow: FlowContext, mapping: tasks.MappingRef, comment_id: str, author: User | None, text: str
) -> bool:
    """Mirror a person's comment into the thread and tell the agents; False if it is Nexus's own."""
    if await is_own_clickup_comment(flow.resources, comment_id):
        logger.debug("comment %s is Nexus's own; not mirrored", comment_id)
        return False
    if author is not None and author.id == await flow.clickup_user_id() and _OWN_COMMENT.match(text):
        logger.debug("comment %s looks like Nexus's own; not mirrored", comment_id)
        return False
    if not text:
        return False
    name = author.display_name if author else "Someone"
    await mirror_clickup_comment(flow.resources, mapping, comment_id, name, text)
    if is_stop_word(text, flow.resources.settings.gateway.stop_words):
        await stop_task_agents(flow, mapping, f"clickup-comment-{comment_id}", "stop_word", text, author=name)
        return True
    await tell_task_agents(
        flow, mapping, f"clickup-comment-{comment_id}", "clickup_comment", text, author=name, source="clickup"
    )
    return True


async def catch_up_comments(flow: FlowContext, task_id: str, since_ms: int) -> int:
    """Carry the comments of a tracked task written after ``since_ms`` (after a webhook outage)."""
    mapping = await tasks.mapping_for_task(flow.resources, task_id)
    if mapping is None or mapping.closed or mapping.thread_ts is None:
        return 0
    missed: list[Comment] = []
    async for comment in require_clickup(flow.resources).iter_task_comments(task_id):
        if comment.date is not None and comment.date <= since_ms:
            break  # newest first: the rest were delivered before the outage
        missed.append(comment)
    carried = 0
    for comment in reversed(missed):  # in the order people wrote them
        carried += await carry_comment(flow, mapping, comment.id, comment.user, comment.plain_text)
    return carried
