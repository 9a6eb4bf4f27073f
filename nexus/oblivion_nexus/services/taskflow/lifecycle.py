"""A tracked task changing in ClickUp: its status becomes the task state (DONE also stops its agents
and comments the task's model usage), a new description reaches the agents, and a deleted task
closes its mapping and tells the thread."""

from __future__ import annotations

import logging

from oblivion_nexus.integrations.clickup_events import ClickUpWebhookEvent
from oblivion_nexus.services.taskflow import ledger
from oblivion_nexus.services.taskflow import tracked_tasks as tasks
from oblivion_nexus.services.taskflow.context import FlowContext, stop_task_agents, tell_task_agents
from oblivion_nexus.services.taskflow.mirror import post_in_thread
from oblivion_nexus.services.taskflow.status_echoes import status_echoes
from oblivion_nexus.services.taskflow.usage_report import report_task_usage

logger = logging.getLogger(__name__)


async def on_status(flow: FlowContext, event: ClickUpWebhookEvent, mapping: tasks.MappingRef) -> None:
    change = event.status_change
    if change is None:
        return
    if await _is_own_echo(flow, event, change[1]):
        # The agent that set it updates the state itself, and needs to hear nothing of it.
        logger.info("task %s: ClickUp status %r is Nexus's own change for an agent", event.task_id, change[1])
        return
    async with flow.resources.sessionmaker() as session:
        project = await tasks.project_for_list(session, event.list_id) if event.list_id else None
    state = tasks.state_for_status(project, change[1]) if project is not None else None
    if state is None:
        logger.info("task %s moved to ClickUp status %r, which maps to no state", event.task_id, change[1])
        return
    if state == mapping.state:
        return
    await tasks.update_mapping(flow.resources, mapping.id, state=state)
    logger.info("task %s: state %s -> %s (ClickUp %r)", event.task_id, mapping.state, state, change[1])
    item = event.primary_item
    key = f"status-{item.id if item else change[1]}"
    await tell_task_agents(flow, mapping, key, "status", state, author=_actor(event), source="clickup")
    if state == "DONE":
        # A person closed the task in ClickUp (an agent's own DONE is an echo, which never gets
        # here): whatever its agents are doing, they stop.
        await stop_task_agents(flow, mapping, key, "closed", change[1], author=_actor(event))
        await report_task_usage(flow.resources, mapping.workgroup, mapping.clickup_task_id)


async def on_description(flow: FlowContext, event: ClickUpWebhookEvent, mapping: tasks.MappingRef) -> None:
    text = event.description_text
    if text is None:
        return
    item = next((i for i in event.history_items if i.field == "content"), None)
    key = f"description-{item.id if item else event.dedupe_key}"
    await tell_task_agents(flow, mapping, key, "description", text, author=_actor(event), source="clickup")


async def on_deleted(flow: FlowContext, task_id: str) -> None:
    mapping = await tasks.mapping_for_task(flow.resources, task_id)
    if mapping is None:
        return
    if mapping.thread_ts is not None:
        await post_in_thread(
            flow.resources,
            mapping,
            ledger.intent_key(f"deleted:{task_id}"),
            "This task was deleted in ClickUp; this thread is no longer mirrored.",
        )
    if not mapping.closed:
        await tasks.close_mapping(flow.resources, mapping.id)
        logger.info("task %s deleted in ClickUp; its mapping is closed", task_id)


async def _is_own_echo(flow: FlowContext, event: ClickUpWebhookEvent, status: str) -> bool:
    """Whether this status change is ClickUp reporting a status Nexus set for an agent: made by
    Nexus's own ClickUp user and noted as expected (``status_echoes``)."""
    actor = event.actor
    if actor is None or str(actor.id) != await flow.clickup_user_id():
        return False
    return await status_echoes(flow.resources).take(event.task_id, status)


def _actor(event: ClickUpWebhookEvent) -> str | None:
    actor = event.actor
    return actor.display_name if actor is not None else None
