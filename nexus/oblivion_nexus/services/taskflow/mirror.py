"""Writing into a task's Slack thread and ClickUp task, each message exactly once, never echoed back.

``post_agent_message`` is how an agent speaks: in the thread under its own name and icon
(``chat:write.customize``) and as a ClickUp comment ``"<agent> (Oblivion): text"``. The human-message
primitives carry a person's ClickUp comment into the thread ("Jane (ClickUp): …") and a Slack reply
into ClickUp ("Jane (Slack): …"). Every write goes through the ledger (``ledger.once``), so a
retried job never posts twice, and every message Nexus wrote is recorded so its webhook is dropped.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from oblivion_nexus.integrations.slack_text import escape_text
from oblivion_nexus.resources import Resources
from oblivion_nexus.services.registry.schemas import AgentRecord
from oblivion_nexus.services.taskflow import ledger
from oblivion_nexus.services.taskflow.clients import require_clickup, require_slack
from oblivion_nexus.services.taskflow.errors import FlowError

logger = logging.getLogger(__name__)

# Slack message metadata type of everything Nexus posts; ``event_payload.key`` is the ledger key, so
# a crashed job can find what it already posted.
METADATA_EVENT_TYPE = "oblivion_mirror"
# How many of a task's newest comments a crashed job looks through for the one it may have posted.
_COMMENT_LOOKBACK = 25


class ThreadMapping(Protocol):
    """What mirroring needs of a task mapping (``stores.tables.TaskMapping`` has it)."""

    @property
    def clickup_task_id(self) -> str: ...

    @property
    def slack_channel_id(self) -> str: ...

    @property
    def thread_ts(self) -> str | None: ...


class NotMirrorable(FlowError):
    """The task has no Slack thread yet (its root message is still being posted)."""


@dataclass(frozen=True, slots=True)
class MirroredMessage:
    """Where a message landed: its Slack ts and its ClickUp comment id."""

    slack_ts: str
    clickup_comment_id: str | None


def agent_display_name(agent: AgentRecord) -> str:
    return agent.display_name or agent.name


def _metadata(key: ledger.LedgerKey) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": str(key)}}


def _thread(mapping: ThreadMapping) -> str:
    if not mapping.thread_ts:
        raise NotMirrorable(f"task {mapping.clickup_task_id} has no Slack thread yet")
    return mapping.thread_ts


async def post_in_thread(
    resources: Resources,
    mapping: ThreadMapping,
    key: ledger.LedgerKey,
    text: str,
    *,
    username: str | None = None,
    icon_url: str | None = None,
    icon_emoji: str | None = None,
    mirrors: str | None = None,
) -> str:
    """Post ``text`` in the task's thread once for ``key``; returns the message ts.

    The posted message is recorded in the ledger (mirroring ``mirrors``), so it is never mirrored back.
    """
    slack = require_slack(resources)
    channel, thread_ts = mapping.slack_channel_id, _thread(mapping)

    async def write() -> str:
        posted = await slack.post_message(
            channel,
            text,
            thread_ts=thread_ts,
            username=username,
            icon_url=icon_url,
            icon_emoji=icon_emoji if icon_url is None else None,
            metadata=_metadata(key),
        )
        return posted.ts

    async def find() -> str | None:
        async for message in slack.iter_replies(channel, thread_ts):
            payload = (message.metadata or {}).get("event_payload")
            if isinstance(payload, dict) and payload.get("key") == str(key) and message.ts:
                return message.ts
        return None

    written = ledger.Written(lambda ts: ledger.slack_key(channel, ts), mirrors)
    ts, _ = await ledger.once(resources.engine, key, write, find, written)
    return ts


async def comment_on_task(
    resources: Resources, task_id: str, key: ledger.LedgerKey, text: str, *, mirrors: str | None = None
) -> str:
    """Comment ``text`` on a ClickUp task once for ``key``; returns the comment id (recorded)."""
    clickup = require_clickup(resources)

    async def write() -> str:
        created = await clickup.create_task_comment(task_id, text)
        return created.id

    async def find() -> str | None:
        comments = await clickup.get_task_comments(task_id)
        for comment in comments[:_COMMENT_LOOKBACK]:
            if comment.plain_text == text.strip():
                return comment.id
        return None

    written = ledger.Written(ledger.clickup_key, mirrors)
    comment_id, _ = await ledger.once(resources.engine, key, write, find, written)
    return comment_id


async def post_agent_message(
    resources: Resources,
    mapping: ThreadMapping,
    agent: AgentRecord,
    text: str,
    *,
    idempotency_key: str | None = None,
) -> MirroredMessage:
    """Post an agent's message in the task's thread (its name and icon) and as a ClickUp comment.

    With the same ``idempotency_key`` a retry returns the first result and posts nothing; without
    one, every call is a new message. A missing ClickUp token leaves the comment out (logged).
    """
    base = f"agent:{agent.workgroup}/{agent.name}:{mapping.clickup_task_id}:{idempotency_key or uuid.uuid4()}"
    name = agent_display_name(agent)
    slack_ts = await post_in_thread(
        resources,
        mapping,
        ledger.intent_key(base + ":slack"),
        # Unless its registration allows mentions, an agent's text is shown as written: no
        # <!channel> pings, no <@U…> mentions, no link whose label hides where it goes.
        text if agent.allow_mentions else escape_text(text),
        username=name,
        icon_url=agent.icon_url,
        icon_emoji=agent.icon_emoji,
    )
    comment_id: str | None = None
    if resources.clickup is None:
        logger.warning("OBLIVION_CLICKUP_TOKEN is not set: %s's message is not mirrored to ClickUp", name)
    else:
        comment_id = await comment_on_task(
            resources,
            mapping.clickup_task_id,
            ledger.intent_key(base + ":clickup"),
            f"{name} (Oblivion): {text}",
            mirrors=f"{mapping.slack_channel_id}:{slack_ts}",
        )
    return MirroredMessage(slack_ts=slack_ts, clickup_comment_id=comment_id)


async def mirror_clickup_comment(
    resources: Resources, mapping: ThreadMapping, comment_id: str, author: str, text: str
) -> str:
    """Carry a person's ClickUp comment into the thread as "<author> (ClickUp): text"; returns the ts."""
    return await post_in_thread(
        resources,
        mapping,
        ledger.LedgerKey(ledger.CLICKUP_IN, comment_id),
        escape_text(text),
        username=f"{author} (ClickUp)",
        mirrors=comment_id,
    )


async def mirror_slack_reply(
    resources: Resources, mapping: ThreadMapping, ts: str, author: str, text: str
) -> str:
    """Carry a person's Slack reply into ClickUp as "<author> (Slack): text"; returns the comment id."""
    return await comment_on_task(
        resources,
        mapping.clickup_task_id,
        ledger.LedgerKey(ledger.SLACK_IN, f"{mapping.slack_channel_id}:{ts}"),
        f"{author} (Slack): {text}",
        mirrors=f"{mapping.slack_channel_id}:{ts}",
    )


async def is_own_slack_message(resources: Resources, channel: str, ts: str) -> bool:
    """Whether Nexus posted this Slack message (so it must never be mirrored back)."""
    found, _ = await ledger.lookup(resources.engine, ledger.slack_key(channel, ts))
    return found


async def is_own_clickup_comment(resources: Resources, comment_id: str) -> bool:
    """Whether Nexus wrote this ClickUp comment (so it must never be mirrored back)."""
    found, _ = await ledger.lookup(resources.engine, ledger.clickup_key(comment_id))
    return found
