"""Thread summaries: every ``SUMMARY_EVERY`` messages of a Slack thread, one point that covers the
whole thread so far, so a search about a long discussion finds its gist and not one stray reply.

The summary is extractive (no model needed): the thread's opening message, then the sentences that
carry the thread's most frequent content words, in the order they were written, each with its
author, up to ``MAX_SUMMARY_CHARS``. Its text says it is an extractive summary and how many
messages it covers; each new summary of a thread replaces the previous one (one point per thread).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence

import redis.asyncio as aioredis

from oblivion_nexus.integrations.slack import SlackApiError, SlackClient
from oblivion_nexus.services.memory.bank import MemoryText
from oblivion_nexus.services.memory.handover import MemoryHandover
from oblivion_nexus.stores.vectors import MemoryKind, MemorySource

logger = logging.getLogger(__name__)

SUMMARY_EVERY = 50
# Who a summary's payload names as its author: it says how it was made.
EXTRACTIVE_AUTHOR = "Oblivion (extractive summary)"
# A thread quiet for a month starts counting again; its summary stays.
_THREAD_TTL_SECONDS = 30 * 24 * 3600
# About two chunks' worth: enough for the gist of a long thread, short enough to embed as one.
MAX_SUMMARY_CHARS = 1200
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]{3,}")
# Words too common in any conversation to say what this one is about.
_STOPWORDS = frozenset(
    {
        *("that", "this", "with", "have", "from", "they", "will", "what", "when", "would", "there"),
        *("their", "about", "which", "could", "should", "been", "were", "then", "than", "them", "just"),
        *("also", "into", "your", "some", "like", "more", "only", "very", "here", "does", "done", "said"),
    }
)
# A sentence sharing more than this share of its words with one already chosen says nothing new.
_REDUNDANT = 0.7
# How much a word of the opening message (the thread's subject) counts over any other word.
_TOPIC_WEIGHT = 2.0


def summary_source_id(team: str, channel: str, thread_ts: str) -> str:
    """One summary point per thread, overwritten as the thread grows."""
    return f"summary:slack:{team}:{channel}:{thread_ts}"


def _words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOPWORDS]


def extractive_summary(messages: Sequence[tuple[str, str]], *, max_chars: int = MAX_SUMMARY_CHARS) -> str:
    """The summary of ``messages`` ((author, text), oldest first); empty when they hold no text."""
    sentences: list[tuple[int, str, str]] = []  # (position, author, sentence)
    for author, text in messages:
        for match in _SENTENCE.finditer(text):
            sentence = match.group().strip()
            if len(_words(sentence)) >= 2:
                sentences.append((len(sentences), author, sentence))
    if not sentences:
        return ""
    frequency = Counter(w for _, _, s in sentences for w in set(_words(s)))
    topic = set(_words(sentences[0][2]))

    def weight(item: tuple[int, str, str]) -> float:
        words = _words(item[2])
        on_topic = len(topic.intersection(words)) * _TOPIC_WEIGHT
        return (sum(frequency[w] for w in words) + on_topic * max(frequency.values())) / math.sqrt(len(words))

    def redundant(item: tuple[int, str, str], chosen: list[tuple[int, str, str]]) -> bool:
        words = set(_words(item[2]))
        return any(len(words & set(_words(c[2]))) > _REDUNDANT * len(words) for c in chosen)

    header = f"Extractive summary of a thread of {len(messages)} messages: "
    budget = max_chars - len(header)
    chosen = [sentences[0]]  # the opening sentence says what the thread is about
    used = len(sentences[0][1]) + len(sentences[0][2]) + 3
    for item in sorted(sentences[1:], key=weight, reverse=True):
        cost = len(item[1]) + len(item[2]) + 3
        if used + cost > budget or redundant(item, chosen):
            continue
        chosen.append(item)
        used += cost
    chosen.sort()
    return header + " ".join(f"{author}: {sentence}" for _, author, sentence in chosen)[:budget]


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
        every: int = SUMMARY_EVERY,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._handover = handover
        self._slack = slack
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
        self, project: str, team: str, channel: str, thread_ts: str, task_id: str | None
    ) -> MemoryText | None:
        """The thread's summary as it is now, read from Slack (raises ``SlackRateLimited``)."""
        if self._slack is None:
            logger.info("memory: OBLIVION_SLACK_BOT_TOKEN is unset; thread %s is not summarised", thread_ts)
            return None
        messages: list[tuple[str, str]] = []
        last = float(thread_ts)
        async for message in self._slack.iter_replies(channel, thread_ts):
            if not message.text.strip() or message.ts is None:
                continue
            messages.append((await self._author(message.user, message.username), message.text))
            last = max(last, float(message.ts))
        text = extractive_summary(messages)
        if not text:
            return None
        return MemoryText(
            source_id=summary_source_id(team, channel, thread_ts),
            project_id=project,
            text=text,
            kind=MemoryKind.SUMMARY,
            source=MemorySource.SLACK,
            timestamp=last,
            author=EXTRACTIVE_AUTHOR,
            task_id=task_id,
            thread_ts=thread_ts,
            link=f"https://slack.com/archives/{channel}/p{thread_ts.replace('.', '')}",
        )

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
