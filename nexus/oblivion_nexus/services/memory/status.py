"""How a workgroup's memory is doing, for its administrators: points per project, the ingestion
queue's backlog, and the last error ingestion met in each of its collections.

The worker records a failed batch's error per collection in Redis (:class:`LastErrors`), where any
API replica reads it; the error's text is the embedder's or the store's message, which never holds a
key or a remembered text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.services.memory.collections import collections_of
from oblivion_nexus.services.memory.search import Groups, Searcher
from oblivion_nexus.stores.queue import WebhookQueue

# An error older than this says nothing about today.
_ERROR_TTL_SECONDS = 7 * 24 * 3600
_MAX_ERROR_CHARS = 300


class LastErrors:
    """The last ingestion error of each collection (when, and what)."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, collection: str) -> str:
        return f"{self._prefix}:memory:last-error:{collection}"

    async def record(self, collections: Iterable[str], error: str) -> None:
        value = json.dumps({"at": time.time(), "error": error[:_MAX_ERROR_CHARS]})
        async with self._redis.pipeline(transaction=False) as pipe:
            for collection in set(collections):
                pipe.set(self._key(collection), value, ex=_ERROR_TTL_SECONDS)
            await pipe.execute()

    async def read(self, collections: Iterable[str]) -> dict[str, dict[str, Any]]:
        names = sorted(set(collections))
        if not names:
            return {}
        values = await self._redis.mget([self._key(c) for c in names])
        return {c: json.loads(v) for c, v in zip(names, values, strict=True) if v is not None}


async def workgroup_status(
    session: AsyncSession, searcher: Searcher, errors: LastErrors, queue: WebhookQueue, workgroup: str
) -> dict[str, Any]:
    """``{"projects": {name: {"collection", "points"}}, "queue": {state: jobs}, "lastErrors":
    {collection: {"at", "error"}}}``; the queue is every workgroup's (one ``rag-ingestion``)."""
    registered = await collections_of(session, workgroup)
    groups: Groups = {}
    for project, collection in sorted(registered.items()):
        groups[collection] = (*groups.get(collection, ()), project)
    points = await searcher.count(groups) if groups else {}
    return {
        "workgroup": workgroup,
        "projects": {
            project: {"collection": collection, "points": points.get(project, 0)}
            for project, collection in sorted(registered.items())
        },
        "queue": await queue.counts(),
        "lastErrors": await errors.read(registered.values()),
    }
