"""ClickUp's echo of a status Nexus set for an agent, told apart from a person's change.

When an agent moves its task (``PATCH /v1/tasks/{id}``), Nexus sets the mapped ClickUp status, and
ClickUp reports that change by webhook like any other — sometimes before it has even answered the
API call, so the worker may read the task's state before the agent's change is committed. Taken as
a person's change, the agent's own DONE would reach it as a ``CONTEXT_UPDATE`` and a
``TASK_CANCELLED``. So before asking ClickUp, Nexus notes the status it is about to set, per task, in
Redis; the worker takes the note when a status webhook brings that same status from Nexus's own
ClickUp user. A person's change (another user, or another status) finds no note and is handled as
ever; a note whose echo never comes (ClickUp sends none for a status the task already had) lapses.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from oblivion_nexus.resources import Resources

# How long an expected echo is remembered: ClickUp delivers within seconds, retries for minutes.
ECHO_SECONDS = 900


class StatusEchoes:
    """Statuses Nexus set on ClickUp tasks whose webhook has not come back yet."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_seconds: int = ECHO_SECONDS) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, task_id: str) -> str:
        return f"{self._prefix}:status-echo:{task_id}"

    async def expect(self, task_id: str, status: str) -> None:
        """Note that Nexus is about to set ``status`` on the task (before asking ClickUp)."""
        key = self._key(task_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, _normal(status))
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def forget(self, task_id: str, status: str) -> None:
        """ClickUp refused the change: no echo will come."""
        await self._redis.lrem(self._key(task_id), 1, _normal(status))

    async def take(self, task_id: str, status: str) -> bool:
        """Whether a change to ``status`` was expected (and is no longer: each echo is taken once)."""
        return bool(await self._redis.lrem(self._key(task_id), 1, _normal(status)))


def status_echoes(resources: Resources) -> StatusEchoes:
    """The echoes noted in the process's Redis."""
    return StatusEchoes(resources.redis, resources.settings.redis.prefix)


def _normal(status: str) -> str:
    return status.strip().lower()
