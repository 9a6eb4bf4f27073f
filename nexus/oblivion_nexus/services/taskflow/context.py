"""What every step of the task flow shares: the resources, the agents' inboxes, who Nexus is.

The worker makes one :class:`FlowContext` per process. Events reach agents through the same durable
inbox the gateway delivers from (``stores.inbox``): queueing publishes the cross-replica wake-up, so
a worker without WebSockets reaches an agent connected to any API replica.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update

from oblivion_agent.protocol import FrameType, make_event
from oblivion_nexus.integrations.slack import SlackApiError
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.gateway.queueing import enqueue_event
from oblivion_nexus.services.memory.handover import MemoryHandover
from oblivion_nexus.services.taskflow.clients import require_clickup, require_slack
from oblivion_nexus.services.taskflow.tracked_tasks import (
    AgentRef,
    MappingRef,
    ProjectRef,
    project_agents,
    project_for_list,
    task_agents,
)
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.inbox import InboxStore, Queued

logger = logging.getLogger(__name__)

# Frame ids are at most 128 characters (protocol); deterministic ids make re-sent events duplicates.
_MAX_FRAME_ID = 128
# People whose names a worker remembers; a workspace rarely has more active in a day.
_MAX_USER_NAMES = 5000
# How long a worker trusts what it read of a list's project and agents. Every task reads them, and
# the registry (written by the API replicas, through the operator) changes rarely; two seconds keeps
# a registry change visible to the flow within seconds while a burst of tasks reads them once.
REGISTRY_CACHE_SECONDS = 2.0
# How often a worker notes a ClickUp webhook's latest delivery (a catch-up's starting point).
WEBHOOK_NOTE_SECONDS = 5.0
# Lists whose registry entry a worker remembers; more are simply read again.
_MAX_CACHED_LISTS = 1000


def placeholder_user_name(user_id: str) -> str:
    """How a Slack user is named when ``users.info`` cannot tell (the id still lets people find them)."""
    return f"Slack user {user_id}"


@dataclass
class FlowContext:
    resources: Resources
    inbox: InboxStore
    _clickup_user_id: str | None = field(default=None, init=False)
    _user_names: dict[str, str] = field(default_factory=dict, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    registry_cache_seconds: float = REGISTRY_CACHE_SECONDS
    _projects: dict[str, tuple[float, ProjectRef, list[AgentRef]]] = field(default_factory=dict, init=False)
    _webhook_noted: dict[str, float] = field(default_factory=dict, init=False)
    # The serving app's counters when the worker shares its process (``oblivion dev``); a lone
    # worker process has no /metrics to count for.
    metrics: DeliveryMetrics | None = None
    # Where texts go to be remembered; None in a process that does not feed the Memory Bank.
    memory: MemoryHandover | None = None
    # Slack channel → (when read, its project's (workgroup, name) or None), for the Memory Bank.
    channel_projects: dict[str, tuple[float, tuple[str, str] | None]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        resources: Resources,
        metrics: DeliveryMetrics | None = None,
        memory: MemoryHandover | None = None,
    ) -> FlowContext:
        settings = resources.settings
        inbox = InboxStore(resources.redis, settings.redis.prefix, settings.gateway.inbox_ttl_seconds)
        return cls(resources, inbox, metrics=metrics, memory=memory)

    async def project_and_agents(self, list_id: str) -> tuple[ProjectRef, list[AgentRef]] | None:
        """The project of a ClickUp list and the agents allowed on it, as the registry said at most
        ``registry_cache_seconds`` ago. An unknown list is not remembered: registering it takes
        effect at once."""
        now = time.monotonic()
        cached = self._projects.get(list_id)
        if cached is not None and now - cached[0] < self.registry_cache_seconds:
            return cached[1], cached[2]
        async with self.resources.sessionmaker() as session:
            project = await project_for_list(session, list_id)
            agents = await project_agents(session, project) if project is not None else []
        if project is None:
            self._projects.pop(list_id, None)
            return None
        if len(self._projects) >= _MAX_CACHED_LISTS:
            self._projects.clear()
        self._projects[list_id] = (now, project, agents)
        return project, agents

    def note_webhook_event(self, webhook_id: str) -> bool:
        """Whether a delivery of this webhook should be written down now (at most every few seconds)."""
        now = time.monotonic()
        last = self._webhook_noted.get(webhook_id)
        if last is not None and now - last < WEBHOOK_NOTE_SECONDS:
            return False
        if len(self._webhook_noted) >= _MAX_CACHED_LISTS:
            self._webhook_noted.clear()
        self._webhook_noted[webhook_id] = now
        return True

    async def slack_identity(self) -> tuple[str, str | None]:
        """The bot's (user id, bot id), asked once per process (``auth.test``)."""
        identity = await require_slack(self.resources).identity()
        return identity.user_id, identity.bot_id

    async def slack_user_name(self, user_id: str) -> str:
        """A Slack user's display name (``users.info``), remembered for the life of the process.

        A user Slack will not describe (``user_not_found`` for someone from another workspace in a
        shared channel, a missing ``users:read`` scope) gets a placeholder instead: retrying would
        not help, and their message matters more than their name. Outages still raise, and retry.
        """
        name = self._user_names.get(user_id)
        if name is None:
            try:
                name = await require_slack(self.resources).user_name(user_id)
            except SlackApiError as e:
                logger.warning(
                    "Slack user %s has no readable name (%s); shown as a placeholder", user_id, e.error
                )
                return placeholder_user_name(user_id)
            if len(self._user_names) >= _MAX_USER_NAMES:
                self._user_names.clear()
            self._user_names[user_id] = name
        return name

    async def clickup_user_id(self) -> str:
        """The ClickUp user the token acts as (author of Nexus's comments), asked once per process."""
        if self._clickup_user_id is None:
            async with self._lock:
                if self._clickup_user_id is None:
                    user = await require_clickup(self.resources).get_authorized_user()
                    self._clickup_user_id = user.id
        return self._clickup_user_id

    async def send_event(
        self, workgroup: str, agent: str, kind: FrameType, event_id: str, data: dict[str, Any]
    ) -> bool:
        """Queue an event for an agent under a deterministic id; False if that id is already queued."""
        frame = make_event(kind, data, frame_id=event_id[:_MAX_FRAME_ID])
        added = await enqueue_event(self.inbox, workgroup, agent, frame, self.metrics) is not Queued.ALREADY
        logger.info("%s %s for %s/%s", kind, "queued" if added else "already queued", workgroup, agent)
        return added


async def tell_task_agents(
    flow: FlowContext,
    mapping: MappingRef,
    key: str,
    kind: str,
    text: str,
    *,
    author: str | None,
    source: str,
) -> int:
    """Send CONTEXT_UPDATE about a task to each agent already told of it (event id from ``key``)."""
    sent = 0
    for agent, notified in await task_agents(flow.resources, mapping.id):
        if not notified:
            continue  # its TASK_ASSIGNED, still to come, carries the task as it is now
        data = {
            "task_id": mapping.clickup_task_id,
            "kind": kind,
            "author": author,
            "text": text,
            "source": source,
        }
        await flow.send_event(
            agent.workgroup, agent.name, FrameType.CONTEXT_UPDATE, f"ctx-{key}-{agent.id}", data
        )
        sent += 1
    return sent


# A stop word may follow mentions ("@ai-backend stop") and end with punctuation ("Stop!").
_LEADING_MENTIONS = re.compile(r"^(?:@[\w.-]+[\s,:]*)+")


def is_stop_word(text: str, stop_words: str) -> bool:
    """Whether a reply, as a whole, is one of the comma-separated ``stop_words``."""
    words = {w.strip().lower() for w in stop_words.split(",") if w.strip()}
    said = _LEADING_MENTIONS.sub("", text.strip()).strip().rstrip(".!").strip().lower()
    return bool(said) and said in words


async def stop_task_agents(
    flow: FlowContext, mapping: MappingRef, key: str, reason: str, text: str, *, author: str | None
) -> int:
    """Send TASK_CANCELLED about a task to each agent already told of it (event id from ``key``), and
    withdraw the task's pending approvals."""
    await _withdraw_approvals(flow.resources, mapping)
    sent = 0
    for agent, notified in await task_agents(flow.resources, mapping.id):
        if not notified:
            continue
        data = {"task_id": mapping.clickup_task_id, "reason": reason, "author": author, "text": text}
        await flow.send_event(
            agent.workgroup, agent.name, FrameType.TASK_CANCELLED, f"stop-{key}-{agent.id}", data
        )
        sent += 1
    return sent


async def _withdraw_approvals(resources: Resources, mapping: MappingRef) -> None:
    """Mark the task's pending approvals ``withdrawing``: nobody can approve them any more, and the
    Tool Gateway's sweep (every ``OBLIVION_TOOL_APPROVAL_SWEEP_SECONDS``, in the API) concludes each
    exactly once as withdrawn: its audit record and Slack message say so, and the agent is told. The
    flow sits below the Tool Gateway, so it hands over through the table rather than calling it."""
    async with resources.sessionmaker() as session:
        withdrawn = await session.execute(
            update(t.ToolApproval)
            .where(
                t.ToolApproval.workgroup == mapping.workgroup,
                t.ToolApproval.task_id == mapping.clickup_task_id,
                t.ToolApproval.status == "pending",
            )
            .values(status=t.APPROVAL_WITHDRAWING)
        )
        await session.commit()
    count = getattr(withdrawn, "rowcount", 0)
    if count:
        logger.info("task %s stopped: %d pending approval(s) withdrawn", mapping.clickup_task_id, count)
