"""Which version of a workgroup's tool grants is current: one Redis key every replica reads.

The Tool Gateway keeps what it loaded from PostgreSQL (an agent's ``tools``, its workgroup's
credentials) in process memory, tagged with the version it read *before* loading. The registry
writes a fresh version after every change it commits to the workgroup's credentials or agents, so
the next call on any replica sees another version and loads again: a narrowed or deleted credential
refuses the very next call. The version is random rather than a counter, so a key lost to a Redis
failover and created again can never repeat a version some cache still holds; a reader that finds
no key creates one (``SET NX``), which only costs every cache one reload.
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from oblivion_nexus.errors import NexusError

# A deleted workgroup's key disappears by itself; a live one is re-created by its next reader.
VERSION_TTL_SECONDS = 86_400


class ToolGrantsError(NexusError):
    """Redis refused to read or write a workgroup's tool-grants version."""


def version_key(prefix: str, workgroup: str) -> str:
    return f"{prefix}:tool-grants:{workgroup}"


def new_version() -> str:
    return secrets.token_hex(8)


async def publish_version(redis: aioredis.Redis, prefix: str, workgroup: str) -> None:
    """Record that the registry just committed a change to the workgroup's grants."""
    try:
        await redis.set(version_key(prefix, workgroup), new_version(), ex=VERSION_TTL_SECONDS)
    except RedisError as e:
        raise ToolGrantsError(f"could not publish the tool grants of workgroup {workgroup!r}: {e}") from e


async def current_version(redis: aioredis.Redis, prefix: str, workgroup: str) -> str:
    """The workgroup's current version (created when there is none)."""
    key = version_key(prefix, workgroup)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(key, new_version(), nx=True, ex=VERSION_TTL_SECONDS)
            pipe.get(key)
            _, version = await pipe.execute()
    except RedisError as e:
        raise ToolGrantsError(f"could not read the tool grants of workgroup {workgroup!r}: {e}") from e
    return version.decode() if isinstance(version, bytes) else str(version)
