"""The circuit breaker on agents' messages: a runaway agent is muted before it floods a thread.

Each agent may post ``rateLimitPerMinute`` messages in any sliding minute. The next one trips the
breaker: it is refused, the agent is muted for a cool-down (``OBLIVION_AGENT_MUTE_SECONDS``) during
which every message is refused with the time left, and exactly one caller — the one that tripped it —
is told to post the notice in the thread. The check runs as one Redis script, so several Nexus
replicas share the count and two concurrent requests can never both trip the breaker. Time is read
from Redis, so replicas with skewed clocks agree on the window.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.errors import ServiceError

logger = logging.getLogger(__name__)

#: The breaker counts messages over this window: the "per minute" of ``rateLimitPerMinute``.
WINDOW_SECONDS = 60.0

# KEYS: sent log (sorted set of message ids scored by ms), mute flag.
# ARGV: window ms, limit, cool-down ms, message id.
# Returns {admitted (0/1), ms until the mute ends, tripped now (0/1)}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local muted = redis.call('PTTL', KEYS[2])
if muted > 0 then return {0, muted, 0} end
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0, 0}
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
return {0, tonumber(ARGV[3]), 1}
"""


class BreakerError(ServiceError):
    """Redis could not be asked whether the agent may post (answered 503: ask again shortly)."""

    status = 503
    retry_after = 5.0

    def __init__(self, message: str) -> None:
        super().__init__(message, detail="the agent's message limit cannot be checked right now")


@dataclass(frozen=True, slots=True)
class Admission:
    """The breaker's answer for one message."""

    admitted: bool
    #: Seconds until the agent may post again (0 when admitted), rounded up for ``Retry-After``.
    retry_after: int
    #: True for exactly the one refused message that muted the agent: its caller posts the notice.
    tripped: bool


class MessageBreaker:
    """Counts an agent's messages in Redis and mutes it past its limit."""

    def __init__(self, redis: aioredis.Redis, prefix: str, *, cooldown_seconds: float) -> None:
        if cooldown_seconds <= 0:
            raise ValueError("cooldown_seconds must be positive")
        self._redis = redis
        self._prefix = prefix
        self._cooldown_ms = max(1, int(cooldown_seconds * 1000))
        self._admit = redis.register_script(_ADMIT)

    def _keys(self, workgroup: str, agent: str) -> list[str]:
        base = f"{self._prefix}:breaker:{workgroup}:{agent}"
        return [f"{base}:sent", f"{base}:muted"]

    async def admit(self, workgroup: str, agent: str, limit_per_minute: int) -> Admission:
        """Count one message of the agent if it is within its limit; otherwise say how long to wait."""
        try:
            admitted, wait_ms, tripped = await self._admit(
                keys=self._keys(workgroup, agent),
                args=[
                    int(WINDOW_SECONDS * 1000),
                    max(0, limit_per_minute),
                    self._cooldown_ms,
                    uuid.uuid4().hex,
                ],
            )
        except RedisError as e:
            raise BreakerError(f"cannot check the message limit of {workgroup}/{agent}: {e}") from e
        if tripped:
            logger.warning(
                "agent %s/%s sent more than %d messages in a minute; muted for %.0f s",
                workgroup,
                agent,
                limit_per_minute,
                self._cooldown_ms / 1000,
            )
        return Admission(
            admitted=bool(admitted), retry_after=math.ceil(int(wait_ms) / 1000), tripped=bool(tripped)
        )

    async def release(self, workgroup: str, agent: str) -> None:
        """Lift a mute early (an operator's decision, or a test's)."""
        try:
            await self._redis.delete(*self._keys(workgroup, agent))
        except RedisError as e:
            raise BreakerError(f"cannot release {workgroup}/{agent}: {e}") from e
