"""Durable per-agent inboxes in Redis: an event stays until the agent acks it.

Why a sorted set and hashes rather than a Redis stream with a consumer group: the decision that
matters is "which of the agent's connections holds this event", and it has to be re-made when a
connection dies — possibly on a replica that crashed and will never say so. A stream keeps that in
its pending list, reassigned only by polling ``XAUTOCLAIM`` with an idle time; here the holder is a
field next to the event, and a Lua script checks the holder's liveness (its presence entry and its
replica's heartbeat key) at the moment it claims. Every change is one script, so two replicas
claiming for the same agent never both get an event.

Keys of one inbox, all under ``{prefix}:inbox:{workgroup}:{agent}``:

- ``:q``   sorted set, event id → sequence number (the delivery order)
- ``:ev``  hash, event id → the frame as JSON, exactly as sent
- ``:t``   hash, event id → when it was queued (Redis clock, ms), for the TTL and latency
- ``:fl``  hash, event id → id of the connection holding it (in flight, unacked)
- ``:seq`` the sequence counter

Queued-at times come from the Redis clock inside the scripts, so sequence order and time order are
the same across replicas and expired events are always a prefix of the queue.

The fast path: when an event is the only one in its inbox and the agent has a live connection, the
enqueue script hands it to that connection at once (holder ``!{connection}``, "pushed, not yet
sent") and publishes the frame on the holding replica's own channel, which sends it without a
claim round trip. Everything else about a pushed event is as for a claimed one: it stays until
acked, a claim by the same connection returns it (so a push that is late or lost is still sent, and
in order), and once its connection is gone any other connection may claim it.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from oblivion_nexus.errors import NexusError

logger = logging.getLogger(__name__)


class InboxError(NexusError):
    """Redis refused or failed an inbox operation."""


# How many Redis commands delivery runs at once by default. redis-py's asyncio pool refuses (rather
# than waits) past its size, 100 by default; a burst of acks must queue here instead, leaving the
# rest of the pool to the other users of the app's Redis client.
DEFAULT_REDIS_SLOTS = 48


class _Bounded(Protocol):
    _slots: asyncio.Semaphore


_S = TypeVar("_S", bound=_Bounded)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def bounded(
    method: Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    """Run a store method holding one of the store's Redis slots."""

    @functools.wraps(method)
    async def run(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        async with self._slots:
            return await method(self, *args, **kwargs)

    return run


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """An event claimed for a connection: send ``frame_json`` as is."""

    id: str
    frame_json: str
    queued_at_ms: int


class Queued(enum.Enum):
    """What ``InboxStore.enqueue`` did with an event."""

    ALREADY = "already"  # an event with that id is in the inbox: nothing changed
    WAITING = "waiting"  # queued; every replica was woken to claim it
    PUSHED = "pushed"  # queued and handed straight to one live connection's replica


@dataclass(frozen=True, slots=True)
class Pushed:
    """An event the enqueue script handed to one connection, as its replica receives it."""

    connection_id: str
    workgroup: str
    agent: str
    event: InboxEvent

    @classmethod
    def parse(cls, message: bytes | str) -> Pushed:
        text = as_text(message)
        connection_id, workgroup, agent, event_id, queued_at_ms, frame_json = text.split("\n", 5)
        event = InboxEvent(id=event_id, frame_json=frame_json, queued_at_ms=int(queued_at_ms))
        return cls(connection_id=connection_id, workgroup=workgroup, agent=agent, event=event)


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of one claim: events now held by the connection, and how many expired on the way."""

    events: list[InboxEvent]
    expired: int
    pending: int


# KEYS: q, ev, t, seq, fl, conns (the agent's presence hash)
# ARGV: event id, frame, expiry s, wake channel, wake message, replica key prefix, push channel prefix,
#       workgroup, agent
# Returns {0 already queued | 1 waiting | 2 pushed, queued-at ms}
_ENQUEUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return {0, now}
end
local seq = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], now)
local ttl = tonumber(ARGV[3])
for i = 1, 5 do redis.call('EXPIRE', KEYS[i], ttl) end
if redis.call('ZCARD', KEYS[1]) == 1 then
  local conn = redis.call('HRANDFIELD', KEYS[6])
  local replica = conn and string.match(conn, '^(.*)/[^/]*$')
  if replica and redis.call('EXISTS', ARGV[6] .. replica) == 1 then
    redis.call('HSET', KEYS[5], ARGV[1], '!' .. conn)
    redis.call('PUBLISH', ARGV[7] .. replica,
      table.concat({conn, ARGV[8], ARGV[9], ARGV[1], now, ARGV[2]}, '\\n'))
    return {2, now}
  end
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {1, now}
"""

# KEYS: q, ev, t, fl, conns (the agent's presence hash)
# ARGV: connection id, how many to claim (0 = only purge and count), ttl ms, replica key prefix
# Returns {expired, pending, id1, json1, ms1, id2, ...}; events pushed to this connection and not yet
# sent (holder '!' .. connection) are returned again, in their place in the order.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local expired = 0
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 99)
  if #head == 0 then break end
  local fresh = false
  for _, id in ipairs(head) do
    local queued = tonumber(redis.call('HGET', KEYS[3], id) or '0')
    if now - queued < ttl then fresh = true; break end
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    expired = expired + 1
  end
  if fresh then break end
end
local out = {expired, redis.call('ZCARD', KEYS[1])}
local want = tonumber(ARGV[2])
if want <= 0 then return out end
local conn = ARGV[1]
local pushed_here = '!' .. conn
local alive = {}
local claimed = 0
local start = 0
while claimed < want do
  local ids = redis.call('ZRANGE', KEYS[1], start, start + 99)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local holder = redis.call('HGET', KEYS[4], id)
    local free = true
    if holder == conn then
      free = false
    elseif holder and holder ~= pushed_here then
      holder = string.match(holder, '^!?(.*)$')
      local live = alive[holder]
      if live == nil then
        local replica = string.match(holder, '^(.*)/[^/]*$') or ''
        live = redis.call('HEXISTS', KEYS[5], holder) == 1
          and redis.call('EXISTS', ARGV[4] .. replica) == 1
        alive[holder] = live
      end
      free = not live
    end
    local frame = free and redis.call('HGET', KEYS[2], id)
    if frame then
      redis.call('HSET', KEYS[4], id, conn)
      out[#out + 1] = id
      out[#out + 1] = frame
      out[#out + 1] = redis.call('HGET', KEYS[3], id) or '0'
      claimed = claimed + 1
      if claimed >= want then break end
    end
  end
  start = start + 100
end
return out
"""

# KEYS: q, ev, t, fl; ARGV: event ids. Returns how many were in the inbox.
_ACK = """
local n = 0
for _, id in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    n = n + 1
  end
end
return n
"""


def connection_replica(connection_id: str) -> str:
    """The replica part of a connection id (``{replica}/{n}``), as the claim script reads it."""
    return connection_id.rpartition("/")[0]


class InboxStore:
    """All inboxes of one installation (one Redis prefix)."""

    def __init__(
        self, redis: aioredis.Redis, prefix: str, ttl_seconds: float, slots: asyncio.Semaphore | None = None
    ) -> None:
        self._redis = redis
        self._slots = slots or asyncio.Semaphore(DEFAULT_REDIS_SLOTS)
        self._prefix = prefix
        self._ttl_ms = int(ttl_seconds * 1000)
        self._expire_seconds = max(1, int(ttl_seconds) + 1)
        self.wake_channel = f"{prefix}:inbox-wake"
        self.push_channel_prefix = f"{prefix}:inbox-push:"
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._ack = redis.register_script(_ACK)

    def _keys(self, workgroup: str, agent: str) -> list[str]:
        base = f"{self._prefix}:inbox:{workgroup}:{agent}"
        return [f"{base}:q", f"{base}:ev", f"{base}:t", f"{base}:seq", f"{base}:fl"]

    def push_channel(self, replica: str) -> str:
        """Where the events pushed to ``replica``'s connections are published."""
        return f"{self.push_channel_prefix}{replica}"

    def connections_key(self, workgroup: str, agent: str) -> str:
        """The presence hash of an agent's open connections (written by ``PresenceStore``)."""
        return f"{self._prefix}:conns:{workgroup}:{agent}"

    def replica_key(self, replica: str) -> str:
        """The key a live replica keeps refreshing; it vanishes when the replica stops or dies."""
        return f"{self._prefix}:replica:{replica}"

    @staticmethod
    def wake_message(workgroup: str, agent: str) -> str:
        return f"{workgroup}\n{agent}"

    @bounded
    async def enqueue(self, workgroup: str, agent: str, event_id: str, frame_json: str) -> Queued:
        """Queue a frame, pushing it to a live connection if nothing else is queued for the agent."""
        keys = [*self._keys(workgroup, agent), self.connections_key(workgroup, agent)]
        args: list[str | int] = [
            event_id,
            frame_json,
            self._expire_seconds,
            self.wake_channel,
            self.wake_message(workgroup, agent),
            self.replica_key(""),
            self.push_channel_prefix,
            workgroup,
            agent,
        ]
        try:
            outcome, _now = await self._enqueue(keys=keys, args=args)
        except RedisError as e:
            raise InboxError(f"could not queue event {event_id} for {workgroup}/{agent}: {e}") from e
        return _OUTCOMES[int(outcome)]

    @bounded
    async def claim(self, workgroup: str, agent: str, connection_id: str, limit: int) -> Claim:
        """Hand up to ``limit`` unheld events, oldest first, to ``connection_id``; purge expired ones."""
        q, ev, t, _seq, fl = self._keys(workgroup, agent)
        keys = [q, ev, t, fl, self.connections_key(workgroup, agent)]
        args: list[str | int] = [connection_id, limit, self._ttl_ms, self.replica_key("")]
        try:
            raw = await self._claim(keys=keys, args=args)
        except RedisError as e:
            raise InboxError(f"could not claim events of {workgroup}/{agent}: {e}") from e
        events = [
            InboxEvent(id=as_text(raw[i]), frame_json=as_text(raw[i + 1]), queued_at_ms=int(raw[i + 2]))
            for i in range(2, len(raw), 3)
        ]
        return Claim(events=events, expired=int(raw[0]), pending=int(raw[1]))

    async def pending(self, workgroup: str, agent: str) -> Claim:
        """Purge expired events and count what is left (acked events are gone, in-flight ones count)."""
        return await self.claim(workgroup, agent, "", 0)

    def subscriber(self) -> PubSub:
        """A pub/sub client to subscribe to ``wake_channel`` and a replica's push channel with."""
        return self._redis.pubsub()

    @bounded
    async def wake_replicas(self, workgroup: str, agent: str) -> None:
        """Tell every replica to look at this inbox again (e.g. its holder connection just closed)."""
        try:
            await self._redis.publish(self.wake_channel, self.wake_message(workgroup, agent))
        except RedisError as e:
            raise InboxError(f"could not wake replicas for {workgroup}/{agent}: {e}") from e

    @bounded
    async def queued_counts(self, agents: list[tuple[str, str]]) -> list[int]:
        """How many events each (workgroup, agent) inbox holds, expired ones included; one round trip."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for workgroup, agent in agents:
                    pipe.zcard(self._keys(workgroup, agent)[0])
                return [int(n) for n in await pipe.execute()]
        except RedisError as e:
            raise InboxError(f"could not count queued events: {e}") from e

    @bounded
    async def purge(self, workgroup: str, agent: str) -> None:
        """Drop an agent's whole inbox (it was deleted): a new agent of that name starts empty."""
        try:
            await self._redis.delete(*self._keys(workgroup, agent))
        except RedisError as e:
            raise InboxError(f"could not purge the inbox of {workgroup}/{agent}: {e}") from e

    @bounded
    async def ack(self, workgroup: str, agent: str, event_ids: list[str]) -> int:
        """Remove acked events; returns how many were still in the inbox (duplicates ack nothing)."""
        q, ev, t, _seq, fl = self._keys(workgroup, agent)
        try:
            return int(await self._ack(keys=[q, ev, t, fl], args=event_ids))
        except RedisError as e:
            raise InboxError(f"could not ack events of {workgroup}/{agent}: {e}") from e


_OUTCOMES = (Queued.ALREADY, Queued.WAITING, Queued.PUSHED)


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
