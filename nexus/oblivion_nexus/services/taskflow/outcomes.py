"""What became of a ClickUp task Nexus was told about: tracked (with its thread and agents), ignored
(and why, in words a person can act on), or not decided yet.

``oblivion trigger`` asks this after sending a webhook, so that a task summoning no agent or on an
unregistered list says so instead of silently producing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.stores import tables as t

# The reasons the worker records (``ignored_tasks.reason``), told as what to do about them.
_REASONS = {
    "no_list": "the task belongs to no list",
    "unknown_project": "its list {list_id} is not a registered project "
    "(register a Project whose clickupListId is {list_id})",
    "archived_project": "the project of list {list_id} is archived",
    "project_without_channel": "the project of list {list_id} has no Slack channel yet",
    "no_agent_summoned": "no agent was summoned: mention an agent's alias (@alias) in the name or "
    "description, tag the task with an alias, or assign it to an agent's ClickUp user",
}


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    task_id: str
    #: ``tracked``, ``ignored`` or ``pending`` (the worker has not decided yet, or never saw it).
    outcome: str
    reason: str | None = None
    explanation: str | None = None
    workgroup: str | None = None
    project: str | None = None
    slack_channel_id: str | None = None
    thread_ts: str | None = None
    agents: tuple[str, ...] = ()


async def task_outcome(session: AsyncSession, task_id: str) -> TaskOutcome:
    mapping = (
        await session.execute(select(t.TaskMapping).where(t.TaskMapping.clickup_task_id == task_id))
    ).scalar_one_or_none()
    if mapping is not None:
        agents = await session.execute(
            select(t.Agent.name)
            .join(t.TaskAgent, t.TaskAgent.agent_id == t.Agent.id)
            .where(t.TaskAgent.task_mapping_id == mapping.id)
            .order_by(t.Agent.name)
        )
        return TaskOutcome(
            task_id=task_id,
            outcome="tracked",
            workgroup=mapping.workgroup,
            project=mapping.project,
            slack_channel_id=mapping.slack_channel_id,
            thread_ts=mapping.thread_ts,
            agents=tuple(agents.scalars()),
        )
    ignored = await session.get(t.IgnoredTask, task_id)
    if ignored is not None:
        template = _REASONS.get(ignored.reason, ignored.reason)
        return TaskOutcome(
            task_id=task_id,
            outcome="ignored",
            reason=ignored.reason,
            explanation=template.format(list_id=ignored.list_id or "?"),
        )
    return TaskOutcome(task_id=task_id, outcome="pending")
