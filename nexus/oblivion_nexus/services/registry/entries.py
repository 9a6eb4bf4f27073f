"""The registry: tenants, projects and agents as the operator declares them (credentials: ``credentials``).

Every PUT is one ``INSERT … ON CONFLICT DO UPDATE`` in one transaction, so repeating it changes
nothing and two operators racing cannot create duplicates. Uniqueness the database enforces (client
ids, aliases within a workgroup, ClickUp list ids) surfaces as :class:`RegistryConflict`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Delete, Label, Row, delete, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import func

from oblivion_nexus.errors import ServiceError
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.registry.schemas import (
    AgentRecord,
    AgentSpec,
    ProjectSpec,
    ProjectView,
    WorkgroupSpec,
    WorkgroupView,
)
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.crypto import hash_client_secret, verify_client_secret

logger = logging.getLogger(__name__)

# PostgreSQL sets xmax to 0 on a row an upsert inserted (rather than updated).
INSERTED: Label[bool] = literal_column("(xmax = 0)", Boolean).label("inserted")


class RegistryError(ServiceError):
    """A registry request cannot be carried out; ``status`` is the HTTP status it maps to."""

    status = 400


class RegistryNotFound(RegistryError):
    status = 404


class RegistryConflict(RegistryError):
    status = 409


def _conflict(e: IntegrityError, what: str) -> RegistryConflict:
    constraint = getattr(getattr(e.orig, "diag", None), "constraint_name", None) or "a unique constraint"
    messages = {
        "uq_agents_client_id": "clientId is already used by another agent",
        "uq_agent_aliases_workgroup_alias": "an alias is already used by another agent of this workgroup",
        "uq_projects_clickup_list_id": "clickupListId is already mapped to another project",
    }
    return RegistryConflict(f"{what}: {messages.get(constraint, f'violates {constraint}')}")


async def require_workgroup(session: AsyncSession, workgroup: str) -> None:
    if await session.get(t.Workgroup, workgroup) is None:
        raise RegistryNotFound(f"workgroup {workgroup!r} is not registered")


async def record_audit(session: AsyncSession, workgroup: str, action: str, target: str) -> None:
    session.add(
        t.AuditRecord(workgroup=workgroup, actor="registry", action=action, target=target, outcome="ok")
    )


async def upsert_audited(
    session: AsyncSession,
    table: type[t.Base],
    key: dict[str, str],
    values: dict[str, Any],
    *,
    constraint: str,
    workgroup: str,
    action: str,
) -> Row[Any]:
    """``INSERT … ON CONFLICT (constraint) DO UPDATE`` one row, audit it and commit.

    Returns the stored row with an ``inserted`` column; a clash with another unique constraint
    becomes :class:`RegistryConflict`.
    """
    stmt = insert(table).values(**key, **values)
    stmt = stmt.on_conflict_do_update(constraint=constraint, set_={**values, "updated_at": func.now()})
    target = key["name"]
    try:
        row: Row[Any] = (await session.execute(stmt.returning(table.__table__, INSERTED))).one()
    except IntegrityError as e:
        await session.rollback()
        raise _conflict(e, f"{action.split('.')[0]} {workgroup}/{target}") from e
    await record_audit(session, workgroup, action, target)
    await session.commit()
    return row


async def delete_audited(
    session: AsyncSession, stmt: Delete, workgroup: str, action: str, target: str
) -> bool:
    """Run ``stmt``; audit it and answer True only if it removed something."""
    result = await session.execute(stmt)
    deleted = bool(result.rowcount)  # type: ignore[attr-defined]
    if deleted:
        await record_audit(session, workgroup, action, target)
    await session.commit()
    return deleted


# --- workgroups -------------------------------------------------------------------------------


def _workgroup_view(row: t.Workgroup | Row[Any]) -> WorkgroupView:
    return WorkgroupView(
        name=row.name,
        display_name=row.display_name,
        namespace=row.namespace,
        slack_channel_id=row.slack_channel_id,
        collection=row.collection,
        summary_model=row.summary_model or None,
    )


async def require_channel_free(
    session: AsyncSession, channel: str | None, workgroup: str, project: str | None = None
) -> None:
    """Refuse (409) a Slack channel that already belongs to another workgroup or project.

    Replies in a channel are routed to the one project or workgroup owning it; a second owner could
    read the first one's threads, so a channel is owned once, like a ClickUp list.
    """
    if channel is None:
        return
    other_workgroups = select(t.Workgroup.name).where(
        t.Workgroup.slack_channel_id == channel, t.Workgroup.name != workgroup
    )
    other_projects = select(t.Project.workgroup, t.Project.name).where(t.Project.slack_channel_id == channel)
    if project is None:  # a workgroup shares its channel with none but its own projects
        other_projects = other_projects.where(t.Project.workgroup != workgroup)
    else:
        other_projects = other_projects.where(
            (t.Project.workgroup != workgroup) | (t.Project.name != project)
        )
    owner = (await session.execute(other_workgroups.limit(1))).scalar_one_or_none()
    if owner is not None:
        raise RegistryConflict(f"slackChannelId {channel} already belongs to workgroup {owner}")
    project_owner = (await session.execute(other_projects.limit(1))).first()
    if project_owner is not None:
        owned_by = f"{project_owner.workgroup}/{project_owner.name}"
        raise RegistryConflict(f"slackChannelId {channel} already belongs to project {owned_by}")


async def put_workgroup(session: AsyncSession, name: str, spec: WorkgroupSpec) -> tuple[WorkgroupView, bool]:
    await require_channel_free(session, spec.slack_channel_id, name)
    row = await upsert_audited(
        session,
        t.Workgroup,
        {"name": name},
        {
            **spec.model_dump(exclude={"summary_model"}),
            "summary_model": spec.summary_model.model_dump(by_alias=True) if spec.summary_model else None,
        },
        constraint="pk_workgroups",
        workgroup=name,
        action="workgroup.put",
    )
    return _workgroup_view(row), bool(row.inserted)


async def get_workgroup(session: AsyncSession, name: str) -> WorkgroupView | None:
    row = await session.get(t.Workgroup, name)
    return None if row is None else _workgroup_view(row)


async def delete_workgroup(session: AsyncSession, name: str) -> list[AgentRecord] | None:
    """Delete a workgroup and, through the database's cascades, everything registered under it.

    Answers the agents that went with it (None if the workgroup was not registered). The workgroup
    row is locked first, so an agent registered concurrently either is in the list or fails.
    """
    locked = select(t.Workgroup.name).where(t.Workgroup.name == name).with_for_update()
    if (await session.execute(locked)).scalar_one_or_none() is None:
        await session.rollback()
        return None
    agents = await list_agents(session, name)
    stmt = delete(t.Workgroup).where(t.Workgroup.name == name)
    return agents if await delete_audited(session, stmt, name, "workgroup.delete", name) else None


# --- projects ---------------------------------------------------------------------------------


def _project_view(row: t.Project | Row[Any]) -> ProjectView:
    return ProjectView(
        workgroup=row.workgroup,
        name=row.name,
        display_name=row.display_name,
        clickup_list_id=row.clickup_list_id,
        slack_channel_id=row.slack_channel_id,
        status_map=row.status_map,
        archived=row.archived,
        memory_isolation=row.memory_isolation,
        collection=row.collection,
    )


async def put_project(
    session: AsyncSession, workgroup: str, name: str, spec: ProjectSpec
) -> tuple[ProjectView, bool]:
    await require_workgroup(session, workgroup)
    await require_channel_free(session, spec.slack_channel_id, workgroup, name)
    row = await upsert_audited(
        session,
        t.Project,
        {"workgroup": workgroup, "name": name},
        spec.model_dump(),
        constraint="uq_projects_workgroup_name",
        workgroup=workgroup,
        action="project.put",
    )
    return _project_view(row), bool(row.inserted)


async def get_project(session: AsyncSession, workgroup: str, name: str) -> ProjectView | None:
    stmt = select(t.Project).where(t.Project.workgroup == workgroup, t.Project.name == name)
    row = (await session.execute(stmt)).scalar_one_or_none()
    return None if row is None else _project_view(row)


async def delete_project(session: AsyncSession, workgroup: str, name: str) -> bool:
    stmt = delete(t.Project).where(t.Project.workgroup == workgroup, t.Project.name == name)
    return await delete_audited(session, stmt, workgroup, "project.delete", name)


async def list_project_names(session: AsyncSession, workgroup: str) -> list[str]:
    stmt = select(t.Project.name).where(t.Project.workgroup == workgroup).order_by(t.Project.name)
    return list((await session.execute(stmt)).scalars())


# --- agents -----------------------------------------------------------------------------------


async def _agent_record(session: AsyncSession, agent: t.Agent) -> AgentRecord:
    aliases = await session.execute(
        select(t.AgentAlias.alias).where(t.AgentAlias.agent_id == agent.id).order_by(t.AgentAlias.alias)
    )
    projects = await session.execute(
        select(t.AgentProject.project)
        .where(t.AgentProject.agent_id == agent.id)
        .order_by(t.AgentProject.project)
    )
    return AgentRecord(
        id=agent.id,
        workgroup=agent.workgroup,
        name=agent.name,
        display_name=agent.display_name,
        client_id=agent.client_id,
        aliases=tuple(aliases.scalars()),
        projects=tuple(projects.scalars()),
        clickup_user_id=agent.clickup_user_id,
        rate_limit_per_minute=agent.rate_limit_per_minute,
        icon_url=agent.icon_url,
        icon_emoji=agent.icon_emoji,
        disabled=agent.disabled,
        credential_generation=agent.credential_generation,
        allow_mentions=agent.allow_mentions,
        tools=tuple(agent.tools or ()),
        model=agent.model or None,
        budget=dict(agent.budget or {}),
    )


def narrows_projects(before: tuple[str, ...], after: tuple[str, ...] | list[str]) -> bool:
    """Whether ``after`` takes a project away from ``before`` (an empty list means every project)."""
    if not after:
        return False
    return not before or not set(before) <= set(after)


async def _credentials(session: AsyncSession, workgroup: str, name: str, spec: AgentSpec) -> tuple[str, int]:
    """The secret hash and credential generation an upsert of ``spec`` stores.

    The generation goes up when the client secret or id changes or projects are taken away, which
    revokes the agent's earlier tokens; an unchanged secret keeps its hash, so repeating a PUT
    revokes nothing. The row is locked until commit, so two racing PUTs cannot both miss a change.
    """
    secret = spec.client_secret.get_secret_value()
    stmt = select(t.Agent).where(t.Agent.workgroup == workgroup, t.Agent.name == name).with_for_update()
    existing = (await session.execute(stmt)).scalar_one_or_none()
    if existing is None:
        return await asyncio.to_thread(hash_client_secret, secret), 1
    same_secret = await asyncio.to_thread(verify_client_secret, secret, existing.client_secret_hash)
    before = await session.execute(
        select(t.AgentProject.project).where(t.AgentProject.agent_id == existing.id)
    )
    revoke = (
        not same_secret
        or existing.client_id != spec.client_id
        or narrows_projects(tuple(before.scalars()), spec.projects)
    )
    secret_hash = (
        existing.client_secret_hash if same_secret else await asyncio.to_thread(hash_client_secret, secret)
    )
    return secret_hash, existing.credential_generation + (1 if revoke else 0)


async def put_agent(
    session: AsyncSession, workgroup: str, name: str, spec: AgentSpec
) -> tuple[AgentRecord, bool]:
    """Upsert an agent; its client secret is hashed (scrypt, off the event loop) and then forgotten."""
    await require_workgroup(session, workgroup)
    secret_hash, generation = await _credentials(session, workgroup, name, spec)
    values = spec.model_dump(exclude={"client_secret", "aliases", "projects", "model", "budget", "tools"})
    values["tools"] = [tool.stored() for tool in spec.tools]
    values["model"] = spec.model.model_dump(by_alias=True) if spec.model else None
    values["budget"] = spec.budget.model_dump(by_alias=True, exclude_none=True)
    values["client_secret_hash"] = secret_hash
    values["credential_generation"] = generation
    stmt = insert(t.Agent).values(workgroup=workgroup, name=name, **values)
    stmt = stmt.on_conflict_do_update(
        constraint="uq_agents_workgroup_name", set_={**values, "updated_at": func.now()}
    )
    try:
        row = (await session.execute(stmt.returning(t.Agent.id, INSERTED))).one()
        await session.execute(delete(t.AgentAlias).where(t.AgentAlias.agent_id == row.id))
        await session.execute(delete(t.AgentProject).where(t.AgentProject.agent_id == row.id))
        for alias in spec.aliases:
            session.add(t.AgentAlias(agent_id=row.id, alias=alias, workgroup=workgroup))
        for project in spec.projects:
            session.add(t.AgentProject(agent_id=row.id, project=project))
        await session.flush()
    except IntegrityError as e:
        await session.rollback()
        raise _conflict(e, f"agent {workgroup}/{name}") from e
    await record_audit(session, workgroup, "agent.put", name)
    await session.commit()
    record = await get_agent(session, workgroup, name)
    assert record is not None  # just written in this session
    return record, bool(row.inserted)


async def get_agent(session: AsyncSession, workgroup: str, name: str) -> AgentRecord | None:
    stmt = select(t.Agent).where(t.Agent.workgroup == workgroup, t.Agent.name == name)
    agent = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()
    return None if agent is None else await _agent_record(session, agent)


async def client_secret_hash(session: AsyncSession, client_id: str) -> str | None:
    """The stored secret hash of ``client_id`` (one indexed read, the same for every id, known or not)."""
    stmt = select(t.Agent.client_secret_hash).where(t.Agent.client_id == client_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_agent_by_client_id(session: AsyncSession, client_id: str) -> tuple[AgentRecord, str] | None:
    """The agent owning ``client_id`` and its stored secret hash, for client authentication only."""
    stmt = select(t.Agent).where(t.Agent.client_id == client_id)
    agent = (await session.execute(stmt)).scalar_one_or_none()
    return None if agent is None else (await _agent_record(session, agent), agent.client_secret_hash)


async def delete_agent(session: AsyncSession, workgroup: str, name: str) -> AgentRecord | None:
    """Delete an agent; answer what it was (its id is what its Redis state and tokens are tied to)."""
    record = await get_agent(session, workgroup, name)
    stmt = delete(t.Agent).where(t.Agent.workgroup == workgroup, t.Agent.name == name)
    deleted = await delete_audited(session, stmt, workgroup, "agent.delete", name)
    return record if deleted else None


async def list_agents(session: AsyncSession, workgroup: str) -> list[AgentRecord]:
    stmt = select(t.Agent).where(t.Agent.workgroup == workgroup).order_by(t.Agent.name)
    return [await _agent_record(session, agent) for agent in (await session.execute(stmt)).scalars()]


@dataclass(frozen=True, slots=True)
class AgentCredentialState:
    """What a token of an agent is checked against: one row, no aliases or projects."""

    workgroup: str
    name: str
    disabled: bool
    credential_generation: int


async def get_credential_state(session: AsyncSession, agent_id: int) -> AgentCredentialState | None:
    stmt = select(t.Agent.workgroup, t.Agent.name, t.Agent.disabled, t.Agent.credential_generation).where(
        t.Agent.id == agent_id
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else AgentCredentialState(*row)


async def get_agent_status(
    source: AsyncSession | async_sessionmaker[AsyncSession] | Resources, workgroup: str, agent: str
) -> AgentRecord | None:
    """The registered agent (``.disabled`` tells whether it may connect), or None if unknown."""
    if isinstance(source, AsyncSession):
        return await get_agent(source, workgroup, agent)
    maker = source.sessionmaker if isinstance(source, Resources) else source
    async with maker() as session:
        return await get_agent(session, workgroup, agent)
