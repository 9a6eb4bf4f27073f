"""Mentions in a tracked thread: ``@alias`` of an agent wakes that agent (WAKE_UP).

Slack sends both a ``message`` and an ``app_mention`` event for a message that mentions the bot;
both lead here and the WAKE_UP id is derived from the message, so the agent is woken once.
"""

from __future__ import annotations

import logging

from oblivion_agent.protocol import FrameType
from oblivion_nexus.integrations.slack_events import SlackEvent
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.threads import author_name, is_own, readable_text, tracked_reply

logger = logging.getLogger(__name__)


async def wake_mentioned(
    flow: FlowContext, mapping: tasks.MappingRef, event: SlackEvent, author: str | None, text: str
) -> int:
    """Send WAKE_UP to each agent of the project mentioned as ``@alias`` in ``text``."""
    async with flow.resources.sessionmaker() as session:
        project = tasks.ProjectRef(mapping.workgroup, mapping.project, mapping.slack_channel_id, False, {})
        agents = await tasks.project_agents(session, project)
    woken = 0
    for agent in tasks.agents_mentioned(agents, text):
        data = {"task_id": mapping.clickup_task_id, "reason": "mention", "text": text, "author": author}
        event_id = f"wake-{mapping.slack_channel_id}-{event.ts}-{agent.id}"
        await flow.send_event(agent.workgroup, agent.name, FrameType.WAKE_UP, event_id, data)
        woken += 1
    return woken


async def on_app_mention(flow: FlowContext, event: SlackEvent) -> None:
    mapping = await tracked_reply(flow, event)
    if mapping is None or await is_own(flow, event):
        return
    text = await readable_text(flow, event.text or "")
    await wake_mentioned(flow, mapping, event, await author_name(flow, event), text)
