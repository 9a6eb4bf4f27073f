"""Thread summaries: every ``SUMMARY_EVERY`` messages of a Slack thread, one point that covers the
whole thread so far, so a search about a long discussion finds its gist and not one stray reply.

The summary is written by the workgroup's summary model when its Workgroup names one
(:mod:`.model_summaries`: the previous summary plus the new messages), and is extractive otherwise
(:mod:`.extractive`), also when the model fails: unreachable, refused, rate limited or silent, it is
not asked again for this summary (the next one, fifty replies later, asks again), so a failing model
never holds a thread's summary back nor retries in a loop. The payload's author says which of the
two wrote it; each new summary of a thread replaces the previous one (one point per thread).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from oblivion_nexus.integrations.slack import SlackApiError, SlackClient
from oblivion_nexus.services.memory.bank import MemoryText
from oblivion_nexus.services.memory.extractive import extractive_summary
from oblivion_nexus.services.memory.handover import MemoryHandover
from oblivion_nexus.services.memory.model_summaries import (
    ModelSummary,
    PreviousSummaries,
    PreviousSummary,
    SummaryModel,
    SummaryModelFailed,
    ThreadMessage,
    clip_summary,
    summary_chat,
)
from oblivion_nexus.stores.vectors import MemoryKind, MemorySource

logger = logging.getLogger(__name__)

SUMMARY_EVERY = 50
# Who a summary's payload names as its author: it says how it was made.
EXTRACTIVE_AUTHOR = "Oblivion (extractive summary)"


# A thread quiet for a month starts counting again; its summary stays.
_THREAD_TTL_SECONDS = 30 * 24 * 3600


def model_author(model: str) -> str:
    return f"Oblivion (summary by {model})"


def summary_source_id(team: str, channel: str, thread_ts: str) -> str:
    """One summary point per thread, overwritten as the thread grows."""
    return f"summary:slack:{team}:{channel}:{thread_ts}"


def summary_of(messages: Sequence[ThreadMessage], written: ModelSummary | None) -> tuple[str, str] | None:
    """The summary point's (text, author): the model's summary when it wrote one, else the extractive
    one (None when the thread holds no text to summarise)."""
    if written is not None:
        return f"Summary of a thread of {len(messages)} messages: {written.text}", model_author(written.model)
    text = extractive_summary([(m.author, m.text) for m in messages])
    return (text, EXTRACTIVE_AUTHOR) if text else None


class ThreadSummaries:
    """Counts each thread's remembered replies (a Redis set of their ts, so a redelivered reply is
    counted once) and, every ``every`` of them, queues the thread's summary (``summarize`` job)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str,
        handover: MemoryHandover,
        slack: SlackClient | None,
        *,
        model: SummaryModel | None = None,
        every: int = SUMMARY_EVERY,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._handover = handover
        self._slack = slack
        self._model = model
        self._previous = PreviousSummaries(redis, prefix)
        self._every = every
        self._names: dict[str, str] = {}

    async def counted(self, workgroup: str, text: MemoryText) -> None:
        """Count ``text`` if it is a Slack thread reply; queue the summary when the count is due."""
        parts = text.source_id.split(":")
        if text.source is not MemorySource.SLACK or len(parts) != 4 or text.thread_ts is None:
            return
        _, team, channel, ts = parts
        if ts == text.thread_ts:
            return  # the thread's parent: summaries count the replies
        key = f"{self._prefix}:memory:thread:{team}:{channel}:{text.thread_ts}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, ts)
            pipe.scard(key)
            pipe.expire(key, _THREAD_TTL_SECONDS)
            added, count, _ = await pipe.execute()
        if added and count % self._every == 0:
            await self._handover.summarize(
                workgroup, text.project_id, team, channel, text.thread_ts, text.task_id, count
            )

    async def summary(
        self, workgroup: str, project: str, team: str, channel: str, thread_ts: str, task_id: str | None
    ) -> MemoryText | None:
        """The thread's summary as it is now, read from Slack (raises ``SlackRateLimited``)."""
        if self._slack is None:
            logger.info("memory: OBLIVION_SLACK_BOT_TOKEN is unset; thread %s is not summarised", thread_ts)
            return None
        messages: list[ThreadMessage] = []
        async for message in self._slack.iter_replies(channel, thread_ts):
            if not message.text.strip() or message.ts is None:
                continue
            author = await self._author(message.user, message.username)
            messages.append(ThreadMessage(author, message.text, float(message.ts)))
        if not messages:
            return None
        written = await self._model_summary(workgroup, team, channel, thread_ts, task_id, messages)
        summary = summary_of(messages, written)
        if summary is None:
            return None
        text, author = summary
        return MemoryText(
            source_id=summary_source_id(team, channel, thread_ts),
            project_id=project,
            text=text,
            kind=MemoryKind.SUMMARY,
            source=MemorySource.SLACK,
            timestamp=max(float(thread_ts), *(m.ts for m in messages)),
            author=author,
            task_id=task_id,
            thread_ts=thread_ts,
            link=f"https://slack.com/archives/{channel}/p{thread_ts.replace('.', '')}",
        )

    async def _model_summary(
        self,
        workgroup: str,
        team: str,
        channel: str,
        thread_ts: str,
        task_id: str | None,
        messages: list[ThreadMessage],
    ) -> ModelSummary | None:
        """The workgroup's model's summary, or None (no model, or it failed: said in the log)."""
        if self._model is None:
            return None
        previous = await self._previous.get(team, channel, thread_ts)
        try:
            written = await self._model.summarize(workgroup, task_id, summary_chat(messages, previous))
        except SummaryModelFailed as e:
            logger.warning(
                "memory: the summary model of workgroup %s gave no summary of thread %s (%s); "
                "it gets an extractive summary",
                workgroup,
                thread_ts,
                e.detail,
            )
            return None
        if written is None:
            return None
        text = clip_summary(written.text)
        through = max(m.ts for m in messages)
        await self._previous.put(team, channel, thread_ts, PreviousSummary(text, through, len(messages)))
        return ModelSummary(text, written.model)

    async def _author(self, user: str | None, username: str | None) -> str:
        if user is None:
            return username or "a bot"
        if user not in self._names:
            assert self._slack is not None
            try:
                self._names[user] = await self._slack.user_name(user)
            except SlackApiError:
                self._names[user] = f"Slack user {user}"
        return self._names[user]
