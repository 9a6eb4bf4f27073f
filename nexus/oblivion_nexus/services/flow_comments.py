"""ClickUp comments on a tracked task: into the thread as "<author> (ClickUp)", and to its agents.

Comments Nexus wrote itself (agent messages, mirrored Slack replies, the thread link) are in the
ledger and are dropped, so nothing is ever mirrored back and forth.
"""

from __future__ import annotations

import logging
import re

from oblivion_nexus.integrations.clickup_events import ClickUpWebhookEvent
from oblivion_nexus.services import flow_tasks as tasks
from oblivion_nexus.services.flow_context import FlowContext, tell_task_agents
from oblivion_nexus.services.mirror import is_own_clickup_comment, mirror_clickup_comment

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
    if await is_own_clickup_comment(flow.resources, comment.id):
        logger.debug("comment %s is Nexus's own; not mirrored", comment.id)
        return
    text = comment.plain_text
    author_id = comment.user.id if comment.user else None
    if author_id is not None and author_id == await flow.clickup_user_id() and _OWN_COMMENT.match(text):
        logger.debug("comment %s looks like Nexus's own; not mirrored", comment.id)
        return
    if not text:
        return
    author = comment.user.display_name if comment.user else "Someone"
    await mirror_clickup_comment(flow.resources, mapping, comment.id, author, text)
    await tell_task_agents(
        flow,
        mapping,
        f"clickup-comment-{comment.id}",
        "clickup_comment",
        text,
        author=author,
        source="clickup",
    )
