"""Leases in Redis: a key naming who holds a piece of work, with a TTL its holder renews while it works.

A holder that dies stops renewing and the key expires, so a lease never needs a cleanup; a holder that
cannot renew in time (Redis unreachable for a whole TTL, or the key taken over) is told by having its
work cancelled with :class:`LeaseLost`, so two holders never work at once for longer than one renewal
period. The value is JSON (``holder``, ``kind``, ``since``) for whoever asks who holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.errors import NexusError

logger = logging.getLogger(__name__)

# Take the key when it is free, or when its holder is of the kind the caller may take over (a queued
# request handing over to the worker that runs it); otherwise answer the current value.
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current then
  if ARGV[3] == '' then return current end
  local ok, held = pcall(cjson.decode, current)
  if not ok or type(held) ~= 'table' or held['kind'] ~= ARGV[3] then return current end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLost(NexusError):
    """The lease expired or was taken over while its holder worked; the work was stopped."""


class Lease:
    """One holder's claim on ``key`` (see the module)."""

    def __init__(self, redis: aioredis.Redis, key: str, *, holder: str, kind: str, ttl: float) -> None:
        self._redis = redis
        self.key = key
        self.holder = holder
        self.kind = kind
        self.ttl = ttl
        self._value = json.dumps(
            {"holder": holder, "kind": kind, "since": time.time(), "id": uuid.uuid4().hex}
        )

    @staticmethod
    async def read(redis: aioredis.Redis, key: str) -> dict[str, Any] | None:
        """Who holds ``key`` (``holder``, ``kind``, ``since``), or None."""
        raw = await redis.get(key)
        if raw is None:
            return None
        try:
            held: dict[str, Any] = json.loads(raw)
        except ValueError:
            return {"holder": "unknown", "kind": "unknown", "since": None}
        return {k: held.get(k) for k in ("holder", "kind", "since")}

    async def acquire(self, *, take_over: str | None = None) -> dict[str, Any] | None:
        """Take the lease; None when taken, else who holds it. ``take_over``: a holder of that kind
        is replaced rather than refused."""
        current = await self._redis.eval(
            _ACQUIRE, 1, self.key, self._value, str(int(self.ttl * 1000)), take_over or ""
        )
        if current is None:
            return None
        try:
            held: dict[str, Any] = json.loads(current)
        except ValueError:
            return {"holder": "unknown", "kind": "unknown", "since": None}
        return {k: held.get(k) for k in ("holder", "kind", "since")}

    async def renew(self) -> bool:
        """Extend the lease by its TTL; False when it is no longer this holder's."""
        renewed = await self._redis.eval(_RENEW, 1, self.key, self._value, str(int(self.ttl * 1000)))
        return bool(renewed)

    async def release(self) -> None:
        with contextlib.suppress(RedisError, OSError):  # it expires by itself
            await self._redis.eval(_RELEASE, 1, self.key, self._value)

    @contextlib.asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Renew the (acquired) lease every third of its TTL while the block runs, release it after;
        the block is cancelled, and :class:`LeaseLost` raised, once the lease is no longer ours."""
        body = asyncio.current_task()
        assert body is not None
        lost: list[str] = []

        async def renewing() -> None:
            failing_since: float | None = None
            while True:
                await asyncio.sleep(self.ttl / 3)
                try:
                    if await self.renew():
                        failing_since = None
                        continue
                    lost.append("it expired or another holder took it")
                except (RedisError, OSError) as e:
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since < self.ttl * 2 / 3:
                        logger.warning("lease %s not renewed (%s); trying again", self.key, type(e).__name__)
                        continue
                    lost.append(f"Redis did not answer for {self.ttl * 2 / 3:.0f} s")
                body.cancel()
                return

        renewer = asyncio.create_task(renewing(), name=f"lease {self.key}")
        try:
            yield
        except asyncio.CancelledError:
            if lost and body.uncancel() == 0:
                raise LeaseLost(f"lease {self.key} lost: {lost[0]}") from None
            raise
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self.release()
