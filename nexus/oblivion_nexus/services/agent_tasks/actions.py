"""What an agent does to a task it works on: read its context, post to its thread, move its state.

Every action starts from the agent's verified token: the task must be tracked in the agent's
workgroup (else :class:`TaskNotFound`), assigned to this agent and in a project its token allows
(else :class:`TaskForbidden`). Messages go through the circuit breaker and honour idempotency keys;
posting them (thread under the agent's name and icon, ClickUp comment, ledger) is the mirror's job.
State changes follow ``registry.task_states`` and are pushed to ClickUp through the project's status map.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.errors import NexusError, ServiceError
from oblivion_nexus.integrations.clickup import ClickUpError, ClickUpRateLimited
from oblivion_nexus.integrations.clickup_models import Task
from oblivion_nexus.integrations.errors import IntegrationError
from oblivion_nexus.integrations.slack import SlackError, SlackMessage, SlackRateLimited
from oblivion_nexus.resources import Resources
from oblivion_nexus.services import registry
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.registry.schemas import AgentRecord
from oblivion_nexus.services.registry.task_states import (
    TaskState,
    check_transition,
    clickup_status_for,
    parse_state,
)
from oblivion_nexus.services.safeguards.circuit_breaker import MessageBreaker
from oblivion_nexus.services.safeguards.idempotency import (
    IdempotencyStore,
    StoredAnswer,
    fingerprint,
    idempotency_scope,
)
from oblivion_nexus.services.taskflow import mirror
from oblivion_nexus.services.taskflow.clients import require_clickup, require_slack
from oblivion_nexus.services.taskflow.status_echoes import status_echoes
from oblivion_nexus.services.taskflow.usage_report import report_task_usage
from oblivion_nexus.stores import tables as t
from oblivion_nexus.tracing import task_span

logger = logging.getLogger(__name__)


class TaskError(ServiceError):
    """An agent's request about a task cannot be carried out; ``status`` is the HTTP answer."""

    status = 400

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r})"


class TaskNotFound(TaskError):
    status = 404


class TaskForbidden(TaskError):
    status = 403


class TaskUnavailable(TaskError):
    """The task exists but cannot take this action now (deleted in ClickUp, thread not posted yet)."""

    status = 409


class AgentMuted(TaskError):
    """The circuit breaker refused the message; ``retry_after`` says when the mute ends."""

    status = 429


class UpstreamFailed(TaskError):
    """Slack or ClickUp failed; the agent may retry (``retry_after`` when the vendor said when)."""

    status = 502


@dataclass(frozen=True, slots=True)
class Assignment:
    """A task as one agent may act on it."""

    mapping: t.TaskMapping
    project: t.Project
    agent: AgentRecord


async def load_assignment(session: AsyncSession, identity: AgentIdentity, task_id: str) -> Assignment:
    """The task ``task_id`` if ``identity`` may act on it; raise TaskNotFound or TaskForbidden."""
    row = (
        await session.execute(
            select(t.TaskMapping, t.Project)
            .join(
                t.Project,
                (t.Project.workgroup == t.TaskMapping.workgroup) & (t.Project.name == t.TaskMapping.project),
            )
            .where(t.TaskMapping.clickup_task_id == task_id, t.TaskMapping.workgroup == identity.workgroup)
        )
    ).one_or_none()
    if row is None:  # a task of another workgroup is as unknown to this agent as one never seen
        raise TaskNotFound(f"task {task_id} is not tracked by Oblivion")
    mapping, project = row
    agent = await registry.get_agent(session, identity.workgroup, identity.agent)
    if agent is None or agent.disabled:
        raise TaskForbidden(f"agent {identity.workgroup}/{identity.agent} is not registered or disabled")
    assigned = await session.scalar(
        select(t.TaskAgent.agent_id).where(
            t.TaskAgent.task_mapping_id == mapping.id, t.TaskAgent.agent_id == agent.id
        )
    )
    if assigned is None or mapping.project not in identity.projects:
        raise TaskForbidden(f"task {task_id} is not assigned to {identity.agent}")
    return Assignment(mapping=mapping, project=project, agent=agent)


def _vendor_failure(action: str, e: IntegrationError) -> UpstreamFailed:
    retry_after = None
    if isinstance(e, SlackRateLimited | ClickUpRateLimited):
        retry_after = max(1, round(e.retry_after))
    return UpstreamFailed(f"could not {action}: {e}", retry_after=retry_after)


# --- context ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskContext:
    task: Task
    project: str
    state: TaskState
    channel: str
    thread_ts: str | None
    messages: list[SlackMessage]


async def task_context(resources: Resources, identity: AgentIdentity, task_id: str) -> TaskContext:
    """The task fresh from ClickUp, every message of its thread, and its state."""
    async with resources.sessionmaker() as session:
        assignment = await load_assignment(session, identity, task_id)
    mapping = assignment.mapping
    clickup, slack = require_clickup(resources), require_slack(resources)
    try:
        task = await clickup.get_task(task_id)
    except ClickUpError as e:
        raise _vendor_failure("read the task from ClickUp", e) from e
    messages: list[SlackMessage] = []
    if mapping.thread_ts is not None:
        try:
            messages = await slack.replies(mapping.slack_channel_id, mapping.thread_ts)
        except SlackError as e:
            raise _vendor_failure("read the Slack thread", e) from e
    return TaskContext(
        task=task,
        project=mapping.project,
        state=parse_state(mapping.state),
        channel=mapping.slack_channel_id,
        thread_ts=mapping.thread_ts,
        messages=messages,
    )


# --- messages -----------------------------------------------------------------------------------


def _breaker(resources: Resources) -> MessageBreaker:
    settings = resources.settings
    return MessageBreaker(
        resources.redis, settings.redis.prefix, cooldown_seconds=settings.gateway.mute_seconds
    )


async def post_notice(resources: Resources, mapping: t.TaskMapping, text: str) -> bool:
    """Nexus's own word in the task's thread (not the agent's: no mirror, no ledger), e.g. that an
    agent is muted or over its budget; False, logged, when Slack would not take it."""
    try:
        await require_slack(resources).post_message(
            mapping.slack_channel_id, text, thread_ts=mapping.thread_ts
        )
    except (SlackError, NexusError) as e:
        logger.warning("could not post a notice in the thread of task %s: %s", mapping.clickup_task_id, e)
        return False
    return True


async def _post_mute_notice(resources: Resources, assignment: Assignment, retry_after: int) -> None:
    agent = assignment.agent
    name = agent.display_name or agent.name
    text = (
        f":no_entry: {name} is muted for {retry_after} s: it sent more than "
        f"{agent.rate_limit_per_minute} messages in a minute. Its messages are refused until then."
    )
    await post_notice(resources, assignment.mapping, text)


async def post_message(
    resources: Resources, identity: AgentIdentity, task_id: str, text: str, idempotency_key: str | None
) -> StoredAnswer:
    """Post ``text`` as the agent in the task's thread and as a ClickUp comment, at most once per key."""
    async with resources.sessionmaker() as session:
        assignment = await load_assignment(session, identity, task_id)
    mapping = assignment.mapping
    if mapping.closed_at is not None:
        raise TaskUnavailable(f"task {task_id} was deleted in ClickUp; its thread is closed")
    if mapping.thread_ts is None:
        raise TaskUnavailable(f"the thread of task {task_id} is not posted yet", retry_after=1)
    store = IdempotencyStore(
        resources.redis,
        resources.settings.redis.prefix,
        ttl_seconds=resources.settings.gateway.idempotency_ttl_seconds,
    )
    scope = idempotency_scope(identity.workgroup, identity.agent_id)
    request_fingerprint = fingerprint({"task": task_id, "text": text})
    if idempotency_key is not None:
        earlier = await store.claim(scope, idempotency_key, request_fingerprint)
        if earlier is not None:
            logger.info("replaying the answer to %s's message on task %s", identity.agent, task_id)
            return earlier
    try:
        admission = await _breaker(resources).admit(
            identity.workgroup, identity.agent, assignment.agent.rate_limit_per_minute
        )
        if not admission.admitted:
            if admission.tripped:
                await _post_mute_notice(resources, assignment, admission.retry_after)
            raise AgentMuted(
                f"{identity.agent} is muted for {admission.retry_after} s after more than "
                f"{assignment.agent.rate_limit_per_minute} messages in a minute",
                retry_after=admission.retry_after,
            )
        try:
            attributes = {"oblivion.task_id": task_id, "oblivion.agent": identity.agent}
            with task_span(resources.tracer, "post in thread", kind=SpanKind.CLIENT, attributes=attributes):
                posted = await mirror.post_agent_message(
                    resources, mapping, assignment.agent, text, idempotency_key=idempotency_key
                )
        except IntegrationError as e:
            raise _vendor_failure("post the message", e) from e
        answer = StoredAnswer(status=201, body=_message_body(task_id, mapping, posted))
    except BaseException:
        if idempotency_key is not None:
            await store.release(scope, idempotency_key)
        raise
    if idempotency_key is not None:
        await store.store(scope, idempotency_key, request_fingerprint, answer)
    return answer


def _message_body(task_id: str, mapping: t.TaskMapping, posted: mirror.MirroredMessage) -> dict[str, Any]:
    return {
        "taskId": task_id,
        "channel": mapping.slack_channel_id,
        "threadTs": mapping.thread_ts,
        "ts": posted.slack_ts,
        "clickupCommentId": posted.clickup_comment_id,
    }


# --- state --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChange:
    task_id: str
    state: TaskState
    previous: TaskState
    changed: bool
    clickup_status: str | None


async def change_state(
    resources: Resources, identity: AgentIdentity, task_id: str, target: TaskState
) -> StateChange:
    """Move the task to ``target`` if the state machine allows it, pushing the mapped ClickUp status.

    The row stays locked while ClickUp is asked, so two concurrent changes are applied one after the
    other; when ClickUp refuses, the state is left as it was.
    """
    async with resources.sessionmaker() as session, session.begin():
        assignment = await load_assignment(session, identity, task_id)
        mapping = (
            await session.execute(
                select(t.TaskMapping)
                .where(t.TaskMapping.id == assignment.mapping.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        if mapping.closed_at is not None:
            raise TaskUnavailable(f"task {task_id} was deleted in ClickUp")
        current = parse_state(mapping.state)
        if not check_transition(current, target):
            return StateChange(task_id, current, current, changed=False, clickup_status=None)
        status = clickup_status_for(assignment.project.status_map or {}, target)
        if status is not None:
            # Noted first: ClickUp's webhook for the change may come before its answer.
            echoes = status_echoes(resources)
            await echoes.expect(task_id, status)
            try:
                with task_span(resources.tracer, "set clickup status", kind=SpanKind.CLIENT):
                    await require_clickup(resources).update_task(task_id, status=status)
            except ClickUpError as e:
                await echoes.forget(task_id, status)
                raise _vendor_failure(f"set the ClickUp status to {status!r}", e) from e
        mapping.state = str(target)
    logger.info("agent %s moved task %s from %s to %s", identity.agent, task_id, current, target)
    if target == TaskState.DONE:
        await report_task_usage(resources, identity.workgroup, task_id)
    return StateChange(task_id, target, current, changed=True, clickup_status=status)
