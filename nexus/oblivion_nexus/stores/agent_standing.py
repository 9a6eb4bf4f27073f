"""Where each agent's credentials stand, cached in Redis for the token check on every request.

Every REST call and WebSocket connect of an agent checks that the registry id in its token still
exists, is enabled and is at the token's credential generation. PostgreSQL holds the truth; this is
one ``GET`` of ``{prefix}:agent-standing:{id}`` in front of it, shared by every replica, so the
check costs one Redis round trip and a change made on one replica is seen by all at once.

Two writers, and why they cannot leave a stale entry behind: the registry *overwrites* the entry
after every change it commits, and a reader that missed *adds* what it read from PostgreSQL only if
no entry exists (``SET NX``). A reader that read the old row before the registry's commit therefore
cannot overwrite the registry's newer entry. Entries expire, so even a registry write lost to a
Redis failover heals within ``STANDING_TTL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.errors import NexusError
from oblivion_nexus.stores.inbox import DEFAULT_REDIS_SLOTS, bounded

logger = logging.getLogger(__name__)

# Bounds how long a registry write lost to a Redis failure can go unseen; a miss costs one
# primary-key lookup in PostgreSQL, so even 10,000 agents re-reading every 5 minutes is ~30 a second.
STANDING_TTL_SECONDS = 300


class StandingError(NexusError):
    """Redis refused or failed a read or write of an agent's standing."""


class Status(enum.Enum):
    ACTIVE = "active"
    DISABLED = "disabled"
    GONE = "gone"  # deleted, or never registered


@dataclass(frozen=True, slots=True)
class AgentStanding:
    """What a token of the agent is checked against."""

    status: Status
    generation: int = 0

    def refusal(self, generation: int) -> tuple[bool, str] | None:
        """Why a token of ``generation`` is refused, as (the agent itself is refused, reason); None
        when it is good. A refused agent gets 403/4403, a stale token 401/4401."""
        if self.status is Status.GONE:
            return True, "agent is unknown"
        if self.status is Status.DISABLED:
            return True, "agent is disabled"
        if generation != self.generation:
            return False, "token was revoked: the agent's credentials changed"
        return None

    def encode(self) -> str:
        return f"{self.status.value}:{self.generation}"

    @classmethod
    def decode(cls, raw: bytes | str) -> AgentStanding:
        text = raw.decode() if isinstance(raw, bytes) else raw
        status, _, generation = text.partition(":")
        return cls(Status(status), int(generation or 0))


class AgentStandingStore:
    """Standings in Redis; pass delivery's ``slots`` so a connect storm cannot drain the Redis pool."""

    def __init__(self, redis: aioredis.Redis, prefix: str, slots: asyncio.Semaphore | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self._slots = slots or asyncio.Semaphore(DEFAULT_REDIS_SLOTS)

    def _key(self, agent_id: int) -> str:
        return f"{self._prefix}:agent-standing:{agent_id}"

    @bounded
    async def get(self, agent_id: int) -> AgentStanding | None:
        """The cached standing, or None when the cache has no entry for the agent."""
        try:
            raw = await self._redis.get(self._key(agent_id))
        except RedisError as e:
            raise StandingError(f"could not read the standing of agent id {agent_id}: {e}") from e
        if raw is None:
            return None
        try:
            return AgentStanding.decode(raw)
        except ValueError:  # written by another version: PostgreSQL decides
            logger.warning("ignoring an unreadable standing of agent id %d", agent_id)
            return None

    @bounded
    async def get_many(self, agent_ids: list[int]) -> dict[int, AgentStanding]:
        """The cached standings of these agents (those without an entry are left out); one round trip."""
        if not agent_ids:
            return {}
        try:
            raws = await self._redis.mget([self._key(agent_id) for agent_id in agent_ids])
        except RedisError as e:
            raise StandingError(f"could not read the standing of {len(agent_ids)} agent(s): {e}") from e
        found: dict[int, AgentStanding] = {}
        for agent_id, raw in zip(agent_ids, raws, strict=True):
            if raw is not None:
                with contextlib.suppress(ValueError):
                    found[agent_id] = AgentStanding.decode(raw)
        return found

    @bounded
    async def remember(self, agent_id: int, standing: AgentStanding) -> None:
        """Cache what a reader found in PostgreSQL, unless the registry has written since."""
        try:
            await self._redis.set(self._key(agent_id), standing.encode(), nx=True, ex=STANDING_TTL_SECONDS)
        except RedisError as e:
            raise StandingError(f"could not cache the standing of agent id {agent_id}: {e}") from e

    @bounded
    async def publish(self, agent_id: int, standing: AgentStanding) -> None:
        """Record a change the registry just committed; every replica's next check sees it."""
        try:
            await self._redis.set(self._key(agent_id), standing.encode(), ex=STANDING_TTL_SECONDS)
        except RedisError as e:
            raise StandingError(f"could not publish the standing of agent id {agent_id}: {e}") from e
