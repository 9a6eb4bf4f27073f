"""Tasks as the flow knows them: the project a ClickUp list belongs to, the agents a task summons,
and the task ↔ thread mapping, claimed in PostgreSQL before anything is posted.

Agents are found three ways, as people summon them: ``@alias`` in the task's name or description
(word boundary, case-insensitive), a ClickUp tag equal to an alias, or an assignee whose ClickUp user
is mapped to the agent. Only enabled agents allowed on the project count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.integrations.clickup_models import Task
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.taskflow.mention_parsing import AliasMatcher, InvalidAlias, normalise_alias
from oblivion_nexus.stores import tables as t

logger = logging.getLogger(__name__)

STATES = ("TODO", "IN_PROGRESS", "BLOCKED_ON_HUMAN", "DONE")
# How ClickUp's default statuses read as task states when a project has no status map.
_DEFAULT_STATUS_STATES = {
    "to do": "TODO",
    "open": "TODO",
    "in progress": "IN_PROGRESS",
    "blocked": "BLOCKED_ON_HUMAN",
    "review": "BLOCKED_ON_HUMAN",
    "complete": "DONE",
    "done": "DONE",
    "closed": "DONE",
}


@dataclass(frozen=True, slots=True)
class ProjectRef:
    workgroup: str
    name: str
    slack_channel_id: str | None
    archived: bool
    status_map: dict[str, str]


@dataclass(frozen=True, slots=True)
class AgentRef:
    id: int
    workgroup: str
    name: str
    aliases: tuple[str, ...]
    clickup_user_id: str | None


@dataclass(frozen=True, slots=True)
class MappingRef:
    """A task mapping row, detached from its session."""

    id: int
    workgroup: str
    project: str
    clickup_task_id: str
    slack_channel_id: str
    thread_ts: str | None
    state: str
    link_comment_id: str | None
    closed: bool


def _mapping_ref(row: t.TaskMapping) -> MappingRef:
    return MappingRef(
        id=row.id,
        workgroup=row.workgroup,
        project=row.project,
        clickup_task_id=row.clickup_task_id,
        slack_channel_id=row.slack_channel_id,
        thread_ts=row.thread_ts,
        state=row.state,
        link_comment_id=row.link_comment_id,
        closed=row.closed_at is not None,
    )


async def project_for_list(session: AsyncSession, list_id: str) -> ProjectRef | None:
    row = (
        await session.execute(select(t.Project).where(t.Project.clickup_list_id == list_id))
    ).scalar_one_or_none()
    if row is None:
        return None
    return ProjectRef(row.workgroup, row.name, row.slack_channel_id, row.archived, dict(row.status_map))


async def project_agents(session: AsyncSession, project: ProjectRef) -> list[AgentRef]:
    """Enabled agents of the project's workgroup that may work on it (no projects listed = all)."""
    allowed = select(t.AgentProject.agent_id).where(t.AgentProject.project == project.name)
    any_project = ~select(t.AgentProject.agent_id).where(t.AgentProject.agent_id == t.Agent.id).exists()
    agents = (
        await session.execute(
            select(t.Agent)
            .where(t.Agent.workgroup == project.workgroup, t.Agent.disabled.is_(False))
            .where(or_(t.Agent.id.in_(allowed), any_project))
            .order_by(t.Agent.name)
        )
    ).scalars()
    result = []
    for agent in agents:
        aliases = (
            await session.execute(select(t.AgentAlias.alias).where(t.AgentAlias.agent_id == agent.id))
        ).scalars()
        result.append(AgentRef(agent.id, agent.workgroup, agent.name, tuple(aliases), agent.clickup_user_id))
    return result


def agents_mentioned(agents: list[AgentRef], *texts: str | None) -> list[AgentRef]:
    """Agents whose alias appears as ``@alias`` in ``texts``."""
    by_alias = {alias: agent for agent in agents for alias in agent.aliases}
    found = AliasMatcher(by_alias).find(*texts)
    return list({by_alias[alias].id: by_alias[alias] for alias in found}.values())


def agents_summoned(agents: list[AgentRef], task: Task) -> list[AgentRef]:
    """Agents a task summons: by ``@alias`` in name/description, by tag, or by mapped assignee."""
    chosen = {a.id: a for a in agents_mentioned(agents, task.name, task.plain_description)}
    tags = set()
    for tag in task.tags:
        try:
            tags.add(normalise_alias(tag.name))
        except InvalidAlias:
            continue
    assignees = {user.id for user in task.assignees}
    for agent in agents:
        if tags.intersection(agent.aliases) or (agent.clickup_user_id and agent.clickup_user_id in assignees):
            chosen.setdefault(agent.id, agent)
    return list(chosen.values())


def state_for_status(project: ProjectRef, status: str) -> str | None:
    """The task state a ClickUp status means in this project (its status map reversed)."""
    wanted = status.strip().lower()
    for state, name in project.status_map.items():
        if isinstance(name, str) and name.strip().lower() == wanted and state in STATES:
            return state
    return _DEFAULT_STATUS_STATES.get(wanted)


async def record_ignored(resources: Resources, task_id: str, list_id: str | None, reason: str) -> None:
    """Remember an ignored task; the log line is written once per task and reason."""
    async with resources.sessionmaker() as session:
        stmt = insert(t.IgnoredTask).values(clickup_task_id=task_id, list_id=list_id, reason=reason)
        result = await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["clickup_task_id"],
                set_={"reason": reason},
                where=t.IgnoredTask.reason != reason,
            ).returning(t.IgnoredTask.clickup_task_id)
        )
        changed = result.first() is not None
        await session.commit()
    if changed:
        logger.info("task %s (list %s) ignored: %s", task_id, list_id, reason)


async def claim_mapping(resources: Resources, project: ProjectRef, task: Task) -> MappingRef:
    """The task's mapping, created on first sight (one row per task, whoever gets there first)."""
    mapping, _ = await claim_task(resources, project, task, [], create=True)
    assert mapping is not None
    return mapping


async def claim_task(
    resources: Resources,
    project: ProjectRef,
    task: Task,
    summoned: list[AgentRef],
    *,
    create: bool | None = None,
) -> tuple[MappingRef | None, list[AgentRef]]:
    """In one transaction: the task's mapping (created if agents are summoned, or ``create``), the
    summoned agents recorded on it, and its agents not yet sent TASK_ASSIGNED.

    Returns (None, []) for a task nobody summoned that is not tracked yet, and no agents for a closed
    mapping (a closed task takes no new agents).
    """
    assert project.slack_channel_id is not None
    create = bool(summoned) if create is None else create
    async with resources.sessionmaker() as session:
        row: t.TaskMapping | None = None
        if create:
            row = (
                await session.execute(
                    insert(t.TaskMapping)
                    .values(
                        workgroup=project.workgroup,
                        project=project.name,
                        clickup_task_id=task.id,
                        slack_channel_id=project.slack_channel_id,
                        thread_ts=None,
                        title=task.name,
                        url=task.url,
                        state="TODO",
                    )
                    .on_conflict_do_nothing(index_elements=["clickup_task_id"])
                    .returning(t.TaskMapping)
                )
            ).scalar_one_or_none()
        if row is None:
            row = (
                await session.execute(select(t.TaskMapping).where(t.TaskMapping.clickup_task_id == task.id))
            ).scalar_one_or_none()
        if row is None:
            return None, []
        mapping = _mapping_ref(row)
        if mapping.closed:
            return mapping, []
        if summoned:
            await session.execute(
                insert(t.TaskAgent)
                .values([{"task_mapping_id": mapping.id, "agent_id": a.id} for a in summoned])
                .on_conflict_do_nothing()
            )
        pending = await _agents_of(session, mapping.id, notified=False)
        await session.commit()
    return mapping, pending


async def _agents_of(session: AsyncSession, mapping_id: int, *, notified: bool) -> list[AgentRef]:
    sent = t.TaskAgent.notified_at.is_not(None) if notified else t.TaskAgent.notified_at.is_(None)
    rows = (
        await session.execute(
            select(t.Agent.id, t.Agent.workgroup, t.Agent.name, t.Agent.clickup_user_id)
            .join(t.TaskAgent, t.TaskAgent.agent_id == t.Agent.id)
            .where(t.TaskAgent.task_mapping_id == mapping_id, sent)
            .order_by(t.Agent.name)
        )
    ).all()
    return [AgentRef(id_, workgroup, name, (), user) for id_, workgroup, name, user in rows]


async def mapping_for_task(resources: Resources, task_id: str) -> MappingRef | None:
    async with resources.sessionmaker() as session:
        row = (
            await session.execute(select(t.TaskMapping).where(t.TaskMapping.clickup_task_id == task_id))
        ).scalar_one_or_none()
        return None if row is None else _mapping_ref(row)


async def mapping_for_thread(resources: Resources, channel: str, thread_ts: str) -> MappingRef | None:
    async with resources.sessionmaker() as session:
        row = (
            await session.execute(
                select(t.TaskMapping).where(
                    t.TaskMapping.slack_channel_id == channel, t.TaskMapping.thread_ts == thread_ts
                )
            )
        ).scalar_one_or_none()
        return None if row is None else _mapping_ref(row)


async def update_mapping(resources: Resources, mapping_id: int, **values: object) -> None:
    async with resources.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(update(t.TaskMapping).where(t.TaskMapping.id == mapping_id).values(**values))


async def close_mapping(resources: Resources, mapping_id: int) -> None:
    await update_mapping(resources, mapping_id, closed_at=datetime.now(UTC))


async def task_agents(resources: Resources, mapping_id: int) -> list[tuple[AgentRef, bool]]:
    """The task's agents and whether each was already sent TASK_ASSIGNED."""
    async with resources.sessionmaker() as session:
        rows = (
            await session.execute(
                select(t.Agent, t.TaskAgent.notified_at)
                .join(t.TaskAgent, t.TaskAgent.agent_id == t.Agent.id)
                .where(t.TaskAgent.task_mapping_id == mapping_id)
                .order_by(t.Agent.name)
            )
        ).all()
        return [
            (AgentRef(a.id, a.workgroup, a.name, (), a.clickup_user_id), notified is not None)
            for a, notified in rows
        ]


async def mark_notified(resources: Resources, mapping_id: int, agent_ids: list[int]) -> None:
    """Note that these agents were sent the task's TASK_ASSIGNED (one statement for all of them)."""
    if not agent_ids:
        return
    async with resources.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            update(t.TaskAgent)
            .where(t.TaskAgent.task_mapping_id == mapping_id, t.TaskAgent.agent_id.in_(agent_ids))
            .values(notified_at=datetime.now(UTC))
        )
