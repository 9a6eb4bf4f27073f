"""The newest version of each remembered source, so events applied out of order cannot undo each
other: a retried original after its edit, or a message after its deletion.

A version is when the change happened at the source (Slack's ``event_ts``, ClickUp's history date).
Claiming a version older than the one recorded fails; the same version succeeds again, so a job
retried after a failed write re-applies it.
"""

from __future__ import annotations

import redis.asyncio as aioredis

# Longer than any redelivery: Slack retries within minutes, rag-ingestion jobs for up to a day.
VERSION_TTL_SECONDS = 7 * 24 * 3600

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class SourceVersions:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._claim = redis.register_script(_CLAIM)

    async def claim(self, collection: str, source_id: str, version: float) -> bool:
        """Record ``version`` for the source unless a newer one is recorded (then False)."""
        key = f"{self._prefix}:memory:version:{collection}:{source_id}"
        return bool(await self._claim(keys=[key], args=[repr(float(version)), VERSION_TTL_SECONDS]))

    async def claim_many(self, sources: list[tuple[str, str, float]]) -> list[bool]:
        """:meth:`claim` for (collection, source_id, version) triples, in one round trip."""
        if not sources:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for collection, source_id, version in sources:
                key = f"{self._prefix}:memory:version:{collection}:{source_id}"
                await self._claim(keys=[key], args=[repr(float(version)), VERSION_TTL_SECONDS], client=pipe)
            results = await pipe.execute()
        return [bool(r) for r in results]
