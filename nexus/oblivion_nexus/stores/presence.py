"""Who is connected where: agent presence and replica liveness in Redis.

Each Nexus replica keeps a key ``{prefix}:replica:{id}`` alive while it runs; each open agent
connection is a field of ``{prefix}:conns:{workgroup}:{agent}`` whose id starts with its replica's id.
A replica that stops cleanly removes its fields; one that crashes leaves them behind, and readers
ignore (and remove) fields whose replica key has expired. So presence is right within one replica
TTL even when a process dies without a word. ``{prefix}:last-seen:{workgroup}:{agent}`` holds when
the agent was last heard from.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.errors import NexusError
from oblivion_nexus.stores.inbox import DEFAULT_REDIS_SLOTS, as_text, bounded, connection_replica

logger = logging.getLogger(__name__)

# Last-seen survives the connection by far, so the operator can show "last seen 3 days ago".
_LAST_SEEN_RETENTION_SECONDS = 90 * 24 * 3600


class PresenceError(NexusError):
    """Redis refused or failed a presence operation."""


@dataclass(frozen=True, slots=True)
class AgentConnectionRecord:
    """One open connection as other replicas see it."""

    connection_id: str
    replica: str
    connected_at: str
    capabilities: tuple[str, ...] = ()
    runtime_version: str = ""


@dataclass(frozen=True, slots=True)
class AgentPresence:
    connections: tuple[AgentConnectionRecord, ...]
    last_seen: datetime | None

    @property
    def connected(self) -> bool:
        return bool(self.connections)


# In a cut-off message, this agent name stands for every agent of the workgroup (it is not a valid name).
EVERY_AGENT = "*"


@dataclass(frozen=True, slots=True)
class CutOff:
    """Close these connections on every replica (the agent was disabled or deleted)."""

    workgroup: str
    agent: str  # or EVERY_AGENT
    reason: str

    def message(self) -> str:
        return f"{self.workgroup}\n{self.agent}\n{self.reason}"

    @classmethod
    def parse(cls, message: bytes | str) -> CutOff:
        workgroup, agent, reason = as_text(message).split("\n", 2)
        return cls(workgroup, agent, reason)


class PresenceStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, slots: asyncio.Semaphore | None = None) -> None:
        self._redis = redis
        self._slots = slots or asyncio.Semaphore(DEFAULT_REDIS_SLOTS)
        self._prefix = prefix
        self.cut_off_channel = f"{prefix}:agent-cut-off"

    @bounded
    async def announce_cut_off(self, cut_off: CutOff) -> None:
        """Tell every replica (this one included) to close the connections ``cut_off`` names."""
        try:
            await self._redis.publish(self.cut_off_channel, cut_off.message())
        except RedisError as e:
            raise PresenceError(f"could not cut off {cut_off.workgroup}/{cut_off.agent}: {e}") from e

    def connections_key(self, workgroup: str, agent: str) -> str:
        return f"{self._prefix}:conns:{workgroup}:{agent}"

    def replica_key(self, replica: str) -> str:
        return f"{self._prefix}:replica:{replica}"

    def _last_seen_key(self, workgroup: str, agent: str) -> str:
        return f"{self._prefix}:last-seen:{workgroup}:{agent}"

    @bounded
    async def keep_replica_alive(self, replica: str, ttl_seconds: float) -> None:
        try:
            await self._redis.set(self.replica_key(replica), "1", px=max(1, int(ttl_seconds * 1000)))
        except RedisError as e:
            raise PresenceError(f"could not refresh replica {replica}: {e}") from e

    @bounded
    async def retire_replica(self, replica: str) -> None:
        try:
            await self._redis.delete(self.replica_key(replica))
        except RedisError as e:
            raise PresenceError(f"could not retire replica {replica}: {e}") from e

    @bounded
    async def record_connection(
        self, workgroup: str, agent: str, record: AgentConnectionRecord, now: datetime
    ) -> None:
        """Add or update a connection (e.g. after its REGISTER frame); the agent counts as seen."""
        value = json.dumps(
            {
                "replica": record.replica,
                "connectedAt": record.connected_at,
                "capabilities": list(record.capabilities),
                "runtimeVersion": record.runtime_version,
            }
        )
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.connections_key(workgroup, agent), record.connection_id, value)
                pipe.set(
                    self._last_seen_key(workgroup, agent), now.isoformat(), ex=_LAST_SEEN_RETENTION_SECONDS
                )
                await pipe.execute()
        except RedisError as e:
            raise PresenceError(f"could not record connection of {workgroup}/{agent}: {e}") from e

    @bounded
    async def forget_connection(self, workgroup: str, agent: str, connection_id: str, now: datetime) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hdel(self.connections_key(workgroup, agent), connection_id)
                pipe.set(
                    self._last_seen_key(workgroup, agent), now.isoformat(), ex=_LAST_SEEN_RETENTION_SECONDS
                )
                await pipe.execute()
        except RedisError as e:
            raise PresenceError(f"could not forget connection of {workgroup}/{agent}: {e}") from e

    @bounded
    async def drop_stale(self, workgroup: str, agent: str, connection_id: str) -> None:
        """Remove a connection entry its own replica no longer knows (its removal had failed)."""
        try:
            await self._redis.hdel(self.connections_key(workgroup, agent), connection_id)
        except RedisError as e:
            raise PresenceError(
                f"could not drop connection {connection_id} of {workgroup}/{agent}: {e}"
            ) from e

    @bounded
    async def mark_seen(self, agents: Iterable[tuple[str, str]], now: datetime) -> None:
        """Record that these (workgroup, agent) pairs were heard from; one round trip for all."""
        stamp = now.isoformat()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for workgroup, agent in agents:
                    pipe.set(self._last_seen_key(workgroup, agent), stamp, ex=_LAST_SEEN_RETENTION_SECONDS)
                await pipe.execute()
        except RedisError as e:
            raise PresenceError(f"could not record last-seen times: {e}") from e

    @bounded
    async def read(self, workgroup: str, agent: str) -> AgentPresence:
        """Live connections (those of replicas that are still running) and the last-seen time."""
        key = self.connections_key(workgroup, agent)
        try:
            raw = await self._redis.hgetall(key)
            last_seen_raw = await self._redis.get(self._last_seen_key(workgroup, agent))
            records = [_record(as_text(k), json.loads(v)) for k, v in raw.items()]
            replicas = sorted({r.replica for r in records})
            alive: dict[str, bool] = {}
            if replicas:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for replica in replicas:
                        pipe.exists(self.replica_key(replica))
                    alive = dict(zip(replicas, [bool(n) for n in await pipe.execute()], strict=True))
            stale = [r.connection_id for r in records if not alive.get(r.replica, False)]
            if stale:
                logger.info(
                    "clearing %d connection(s) of %s/%s left by stopped replicas",
                    len(stale),
                    workgroup,
                    agent,
                )
                await self._redis.hdel(key, *stale)
        except RedisError as e:
            raise PresenceError(f"could not read presence of {workgroup}/{agent}: {e}") from e
        live = tuple(
            sorted((r for r in records if alive.get(r.replica, False)), key=lambda r: r.connected_at)
        )
        last_seen = datetime.fromisoformat(as_text(last_seen_raw)) if last_seen_raw else None
        return AgentPresence(connections=live, last_seen=last_seen)


def _record(connection_id: str, value: dict[str, Any]) -> AgentConnectionRecord:
    return AgentConnectionRecord(
        connection_id=connection_id,
        replica=str(value.get("replica") or connection_replica(connection_id)),
        connected_at=str(value.get("connectedAt", "")),
        capabilities=tuple(str(c) for c in value.get("capabilities", [])),
        runtime_version=str(value.get("runtimeVersion", "")),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
