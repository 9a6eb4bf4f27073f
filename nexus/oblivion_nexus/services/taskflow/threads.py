"""Slack threads the flow tracks: which thread a message replies in, and whether Nexus wrote it.

Nexus's own messages are recognised by its bot's user or bot id from ``auth.test`` whatever the
subtype (modern app bots post without one), and by the ledger of what Nexus posted.
"""

from __future__ import annotations

import logging

from oblivion_nexus.integrations.slack_events import SlackEvent
from oblivion_nexus.integrations.slack_text import to_plain_text
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.mention_parsing import slack_user_mentions
from oblivion_nexus.services.taskflow.mirror import is_own_slack_message

logger = logging.getLogger(__name__)


async def tracked_reply(flow: FlowContext, event: SlackEvent) -> tasks.MappingRef | None:
    """The open mapping of the thread this event is a reply in, if any."""
    channel = event.channel_id
    if channel is None or not event.is_thread_reply or event.thread_ts is None or event.ts is None:
        return None
    mapping = await tasks.mapping_for_thread(flow.resources, channel, event.thread_ts)
    return None if mapping is None or mapping.closed else mapping


async def is_own(flow: FlowContext, event: SlackEvent) -> bool:
    user_id, bot_id = await flow.slack_identity()
    if event.is_authored_by(user_id, bot_id):
        return True
    channel, ts = event.channel_id, event.ts
    return channel is not None and ts is not None and await is_own_slack_message(flow.resources, channel, ts)


async def readable_text(flow: FlowContext, text: str) -> str:
    """Slack text as people read it, ``<@U…>`` replaced by names."""
    names = {user: await flow.slack_user_name(user) for user in slack_user_mentions(text)[:20]}
    return to_plain_text(text, names)


async def author_name(flow: FlowContext, event: SlackEvent) -> str:
    if event.user_id is None:
        return "Someone"
    return await flow.slack_user_name(event.user_id)
