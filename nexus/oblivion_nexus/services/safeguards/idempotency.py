"""Idempotency keys for agents' writes: a retried request gets the first answer, and acts once.

An agent that lost the answer to ``POST /v1/tasks/{id}/messages`` retries with the same
``Idempotency-Key``; the message must not be posted twice. Keys are scoped per agent (two agents may
pick the same key) and kept in Redis, shared by every replica. A key is first *claimed* for a short
lease while the request runs, then holds the answer for ``OBLIVION_IDEMPOTENCY_TTL_SECONDS``. A
request arriving while the first still runs is refused (409, retry shortly); one reusing a key for a
different body is refused (422), as Stripe and the IETF Idempotency-Key draft do. A request that
fails releases its key, so the retry does the work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.errors import ServiceError

logger = logging.getLogger(__name__)

# A request holds its claim this long; a crash mid-request frees the key after it, not after a day.
CLAIM_LEASE_SECONDS = 60
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII without spaces, like a header token


class IdempotencyError(ServiceError):
    """An Idempotency-Key cannot be honoured; ``status`` is the HTTP answer."""

    def __init__(self, message: str, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"IdempotencyError({self.args[0]!r}, status={self.status})"


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The first answer given for a key, replayed as it was."""

    status: int
    body: dict[str, Any]


def fingerprint(payload: Any) -> str:
    """A stable hash of a request body, to recognise a key reused for something else."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_scope(workgroup: str, agent_id: int) -> str:
    """An agent's keys, by its registry id: a re-created agent of the same name never sees them."""
    return f"{workgroup}:{agent_id}"


class IdempotencyStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, scope: str, key: str) -> str:
        # Hashed: a key is the client's free text and must not shape the Redis key space.
        return f"{self._prefix}:idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def claim(self, scope: str, key: str, request_fingerprint: str) -> StoredAnswer | None:
        """Claim ``key`` for this request (``None``), or return the answer stored by an earlier one."""
        if not KEY_PATTERN.match(key):
            raise IdempotencyError("Idempotency-Key must be 1 to 255 printable ASCII characters", 400)
        redis_key = self._key(scope, key)
        claim = json.dumps({"state": "running", "fingerprint": request_fingerprint})
        try:
            if await self._redis.set(redis_key, claim, nx=True, ex=CLAIM_LEASE_SECONDS):
                return None
            raw = await self._redis.get(redis_key)
        except RedisError as e:
            raise IdempotencyError(f"idempotency store unavailable: {type(e).__name__}", 503, 1) from e
        if raw is None:  # the earlier claim was just released; this request may go ahead
            return await self.claim(scope, key, request_fingerprint)
        record = json.loads(raw)
        if record.get("fingerprint") != request_fingerprint:
            raise IdempotencyError("this Idempotency-Key was already used for a different request", 422)
        if record.get("state") != "done":
            raise IdempotencyError("a request with this Idempotency-Key is still running", 409, 1)
        return StoredAnswer(status=int(record["status"]), body=dict(record["body"]))

    async def keep(self, scope: str, key: str) -> None:
        """Renew a running claim's lease, so a request slower than the lease still holds its key."""
        try:
            await self._redis.expire(self._key(scope, key), CLAIM_LEASE_SECONDS)
        except RedisError:
            logger.warning("could not renew an idempotency claim of %s; it may lapse early", scope)

    async def store(self, scope: str, key: str, request_fingerprint: str, answer: StoredAnswer) -> None:
        record = {
            "state": "done",
            "fingerprint": request_fingerprint,
            "status": answer.status,
            "body": answer.body,
        }
        try:
            await self._redis.set(self._key(scope, key), json.dumps(record), ex=self._ttl)
        except RedisError:
            # The work is done; a retry would repeat it, which is the lesser harm than failing now.
            logger.warning("could not store the answer of an idempotent request of %s", scope)

    async def purge(self, scopes: set[str]) -> int:
        """Forget every key of these scopes (their agents were deleted); returns how many were dropped.

        One pass over this installation's keys for all of them, so deleting a workgroup of fifty
        agents scans once, not fifty times.
        """
        if not scopes:
            return 0
        head = f"{self._prefix}:idem:"
        doomed: list[str] = []
        try:
            async for raw in self._redis.scan_iter(match=f"{head}*", count=1000):
                redis_key = raw.decode() if isinstance(raw, bytes) else str(raw)
                if redis_key[len(head) :].rpartition(":")[0] in scopes:
                    doomed.append(redis_key)
            for start in range(0, len(doomed), 500):
                await self._redis.delete(*doomed[start : start + 500])
        except RedisError as e:
            raise IdempotencyError(f"could not purge idempotency keys: {e}", 503, 1) from e
        return len(doomed)

    async def release(self, scope: str, key: str) -> None:
        """Give up a claim after a failed request, so a retry does the work."""
        try:
            await self._redis.delete(self._key(scope, key))
        except RedisError:
            logger.warning("could not release an idempotency claim of %s; it lapses by itself", scope)
