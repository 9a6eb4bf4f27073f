"""A person's reply in a tracked Slack thread: into ClickUp as "<name> (Slack)", and to the agents
(a stop word stops them instead).

Never mirrored: Nexus's own messages (``threads.is_own``), edits and deletions, other bots, and
anything outside a tracked thread.
"""

from __future__ import annotations

import logging

from oblivion_nexus.integrations.slack_events import SlackEvent
from oblivion_nexus.services.taskflow.context import (
    FlowContext,
    is_stop_word,
    stop_task_agents,
    tell_task_agents,
)
from oblivion_nexus.services.taskflow.mentions import wake_mentioned
from oblivion_nexus.services.taskflow.mirror import mirror_slack_reply
from oblivion_nexus.services.taskflow.threads import author_name, is_own, readable_text, tracked_reply

logger = logging.getLogger(__name__)

# Subtypes that are a person saying something; everything else (edits, joins, bots…) is not mirrored.
_PERSON_SUBTYPES = {None, "thread_broadcast", "file_share"}


async def on_message(flow: FlowContext, event: SlackEvent) -> None:
    mapping = await tracked_reply(flow, event)
    if mapping is None:
        return
    if event.subtype not in _PERSON_SUBTYPES or event.hidden or await is_own(flow, event):
        return
    if event.is_from_a_bot:
        return
    assert event.ts is not None
    author = await author_name(flow, event)
    text = await readable_text(flow, event.text or "")
    if not text.strip():
        return
    await mirror_slack_reply(flow.resources, mapping, event.ts, author, text)
    key = f"slack-{mapping.slack_channel_id}-{event.ts}"
    if is_stop_word(text, flow.resources.settings.gateway.stop_words):
        await stop_task_agents(flow, mapping, key, "stop_word", text, author=author)
        return
    await tell_task_agents(
        flow,
        mapping,
        key,
        "slack_reply",
        text,
        author=author,
        source="slack",
    )
    await wake_mentioned(flow, mapping, event, author, text)
