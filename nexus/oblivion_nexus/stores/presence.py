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


class TooManyConnections(PresenceError):
    """The agent already has as many open connections as it may have."""


# KEYS: conns hash, last-seen; ARGV: connection id, record JSON, now, last-seen retention s, limit,
# replica key prefix. Returns 1 when recorded, 0 when the agent is at its limit. Entries of replicas
# that died are dropped first, so a crash never locks an agent out.
_ADMIT = """
local limit = tonumber(ARGV[5])
if redis.call('HLEN', KEYS[1]) >= limit then
  for _, conn in ipairs(redis.call('HKEYS', KEYS[1])) do
    local replica = string.match(conn, '^(.*)/[^/]*$') or ''
    if redis.call('EXISTS', ARGV[6] .. replica) == 0 then redis.call('HDEL', KEYS[1], conn) end
  end
  if redis.call('HLEN', KEYS[1]) >= limit then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return 1
"""

# KEYS: conns hash, last-seen; ARGV: connection id, record JSON, now, retention s.
# Updates a connection only while it is recorded: a REGISTER racing the agent's deletion (which
# purged its entries) must not bring them back.
_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return 1
"""

# KEYS: conns hash, last-seen; ARGV: connection id, now, retention s.
# Last-seen moves only if the connection was still recorded, for the same reason.
_FORGET = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
return 0
"""

# KEYS: conns hash 1, last-seen 1, conns hash 2, ...; ARGV: now, retention s.
_MARK_SEEN = """
for i = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('SET', KEYS[i + 1], ARGV[1], 'EX', ARGV[2]) end
end
return 0
"""


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
    """Close these connections on every replica with ``code``: the agent was disabled or deleted
    (4403), or its credentials changed and connections opened with older tokens must go (4401)."""

    workgroup: str
    agent: str  # or EVERY_AGENT
    reason: str
    code: int = 4403
    agent_id: int | None = None  # only connections of this registry id
    below_generation: int | None = None  # only connections whose token is of an older generation

    def message(self) -> str:
        agent_id = "" if self.agent_id is None else str(self.agent_id)
        below = "" if self.below_generation is None else str(self.below_generation)
        return "\n".join([self.workgroup, self.agent, str(self.code), agent_id, below, self.reason])

    @classmethod
    def parse(cls, message: bytes | str) -> CutOff:
        workgroup, agent, code, agent_id, below, reason = as_text(message).split("\n", 5)
        return cls(
            workgroup,
            agent,
            reason,
            int(code),
            int(agent_id) if agent_id else None,
            int(below) if below else None,
        )

    def applies_to(self, workgroup: str, agent: str, agent_id: int, generation: int) -> bool:
        return (
            workgroup == self.workgroup
            and self.agent in (agent, EVERY_AGENT)
            and (self.agent_id is None or agent_id == self.agent_id)
            and (self.below_generation is None or generation < self.below_generation)
        )


class PresenceStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, slots: asyncio.Semaphore | None = None) -> None:
        self._redis = redis
        self._slots = slots or asyncio.Semaphore(DEFAULT_REDIS_SLOTS)
        self._prefix = prefix
        self.cut_off_channel = f"{prefix}:agent-cut-off"
        self._admit = redis.register_script(_ADMIT)
        self._update = redis.register_script(_UPDATE)
        self._forget = redis.register_script(_FORGET)
        self._mark_seen = redis.register_script(_MARK_SEEN)

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
        self,
        workgroup: str,
        agent: str,
        record: AgentConnectionRecord,
        now: datetime,
        limit: int | None = None,
    ) -> None:
        """Add a new connection, the agent counts as seen; raise TooManyConnections past ``limit``."""
        keys = [self.connections_key(workgroup, agent), self._last_seen_key(workgroup, agent)]
        args: list[str | int] = [
            record.connection_id,
            _record_json(record),
            now.isoformat(),
            _LAST_SEEN_RETENTION_SECONDS,
            limit if limit is not None else 2**31,
            self.replica_key(""),
        ]
        try:
            admitted = await self._admit(keys=keys, args=args)
        except RedisError as e:
            raise PresenceError(f"could not record connection of {workgroup}/{agent}: {e}") from e
        if not admitted:
            raise TooManyConnections(f"{workgroup}/{agent} already has {limit} open connection(s)")

    @bounded
    async def update_connection(
        self, workgroup: str, agent: str, record: AgentConnectionRecord, now: datetime
    ) -> bool:
        """Update a recorded connection (after its REGISTER frame); False if it is not recorded."""
        keys = [self.connections_key(workgroup, agent), self._last_seen_key(workgroup, agent)]
        args: list[str | int] = [
            record.connection_id,
            _record_json(record),
            now.isoformat(),
            _LAST_SEEN_RETENTION_SECONDS,
        ]
        try:
            return bool(await self._update(keys=keys, args=args))
        except RedisError as e:
            raise PresenceError(f"could not update connection of {workgroup}/{agent}: {e}") from e

    @bounded
    async def forget_connection(self, workgroup: str, agent: str, connection_id: str, now: datetime) -> None:
        keys = [self.connections_key(workgroup, agent), self._last_seen_key(workgroup, agent)]
        try:
            await self._forget(keys=keys, args=[connection_id, now.isoformat(), _LAST_SEEN_RETENTION_SECONDS])
        except RedisError as e:
            raise PresenceError(f"could not forget connection of {workgroup}/{agent}: {e}") from e

    @bounded
    async def purge(self, workgroup: str, agent: str) -> None:
        """Forget everything about an agent that was deleted: its connections and last-seen time."""
        try:
            await self._redis.delete(
                self.connections_key(workgroup, agent), self._last_seen_key(workgroup, agent)
            )
        except RedisError as e:
            raise PresenceError(f"could not purge presence of {workgroup}/{agent}: {e}") from e

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
        keys = [
            key
            for workgroup, agent in agents
            for key in (self.connections_key(workgroup, agent), self._last_seen_key(workgroup, agent))
        ]
        if not keys:
            return
        try:  # only agents with a recorded connection: a deleted agent's last beat must not outlive it
            await self._mark_seen(keys=keys, args=[now.isoformat(), _LAST_SEEN_RETENTION_SECONDS])
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


def _record_json(record: AgentConnectionRecord) -> str:
    return json.dumps(
        {
            "replica": record.replica,
            "connectedAt": record.connected_at,
            "capabilities": list(record.capabilities),
            "runtimeVersion": record.runtime_version,
        }
    )


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
