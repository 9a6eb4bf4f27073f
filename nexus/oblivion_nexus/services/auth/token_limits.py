"""Rate limits of ``POST /oauth/token``, shared by every Nexus replica through Redis.

Checking a client secret costs a deliberately slow hash, so an unlimited token endpoint lets anyone
burn Nexus's CPU and guess secrets as fast as it can send. Two fixed one-minute windows bound that:
requests per client address (counted before the body is even parsed) and failed attempts per client
id (counted after a refusal, and checked before the next secret is hashed, so a client id under
attack costs nothing more). Both answer 429 with the seconds until the window ends.

When Redis cannot be asked, requests are let through and a warning is logged: the token endpoint of
a Nexus whose Redis is down should not add to the outage, and the hash still costs what it costs.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

#: Both limits count over this window (the "per minute" of their settings).
WINDOW_SECONDS = 60

# KEYS: the counter. ARGV: window ms, 1 to count this request or 0 to only read.
# Returns {count (after counting), ms until the window ends}.
_COUNT = """
local n
if ARGV[2] == '1' then
  n = redis.call('INCR', KEYS[1])
else
  n = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local ttl = redis.call('PTTL', KEYS[1])
if n > 0 and ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    #: Seconds until the window ends, rounded up for ``Retry-After`` (0 when admitted).
    retry_after: int


_ADMITTED = Verdict(admitted=True, retry_after=0)


class TokenRateLimiter:
    def __init__(
        self, redis: aioredis.Redis, prefix: str, *, failures_per_client: int, requests_per_address: int
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:ratelimit:token"
        self._failures_per_client = failures_per_client
        self._requests_per_address = requests_per_address
        self._count = redis.register_script(_COUNT)

    def _client_key(self, client_id: str) -> str:
        # Client ids are whatever a caller sends; a digest keeps the key short and free of odd bytes.
        return f"{self._prefix}:client:{hashlib.sha256(client_id.encode()).hexdigest()[:32]}"

    async def _run(self, key: str, *, count: bool) -> tuple[int, int] | None:
        try:
            n, ttl = await self._count(keys=[key], args=[WINDOW_SECONDS * 1000, "1" if count else "0"])
        except RedisError as e:
            logger.warning("token rate limit not checked, Redis failed: %s", type(e).__name__)
            return None
        return int(n), int(ttl)

    async def admit_address(self, address: str) -> Verdict:
        """Count one request from ``address``; refuse it past the per-address limit."""
        result = await self._run(f"{self._prefix}:address:{address[:64]}", count=True)
        if result is None or result[0] <= self._requests_per_address:
            return _ADMITTED
        return Verdict(admitted=False, retry_after=max(1, math.ceil(result[1] / 1000)))

    async def admit_client(self, client_id: str) -> Verdict:
        """Refuse a client id that failed too often in this window (counts nothing)."""
        result = await self._run(self._client_key(client_id), count=False)
        if result is None or result[0] < self._failures_per_client:
            return _ADMITTED
        return Verdict(admitted=False, retry_after=max(1, math.ceil(result[1] / 1000)))

    async def failed(self, client_id: str) -> None:
        """Count one failed authentication of ``client_id``."""
        await self._run(self._client_key(client_id), count=True)
