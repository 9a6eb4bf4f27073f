"""Leases in Redis (``stores.leases``): one holder at a time, told who holds it; a queued request
handed over to the worker that runs it; a holder whose lease is taken has its work stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from oblivion_nexus.stores.leases import Lease, LeaseLost


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_one_holder_at_a_time_and_the_refused_one_is_told_who_holds_it(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:lease"
    first = Lease(redis, key, holder="the CLI on box-1", kind="running", ttl=30)
    second = Lease(redis, key, holder="the worker on box-2", kind="running", ttl=30)
    assert await first.acquire() is None
    held = await second.acquire(take_over="queued")
    assert held is not None
    assert (held["holder"], held["kind"]) == ("the CLI on box-1", "running")
    await second.release()  # not its lease: nothing happens
    assert (await Lease.read(redis, key) or {}).get("holder") == "the CLI on box-1"
    await first.release()
    assert await Lease.read(redis, key) is None
    assert await second.acquire() is None


async def test_a_queued_request_is_taken_over_by_the_worker_but_not_by_the_cli(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:lease"
    assert await Lease(redis, key, holder="the admin API", kind="queued", ttl=300).acquire() is None
    cli = await Lease(redis, key, holder="the CLI", kind="running", ttl=30).acquire()
    assert cli is not None
    assert cli["kind"] == "queued"
    worker = Lease(redis, key, holder="the worker", kind="running", ttl=30)
    assert await worker.acquire(take_over="queued") is None
    assert (await Lease.read(redis, key) or {}).get("holder") == "the worker"
    assert 0 < await redis.pttl(key) <= 30_000


async def test_a_kept_lease_is_renewed_and_a_lost_one_stops_the_work(
    redis: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}:lease"
    lease = Lease(redis, key, holder="the worker", kind="running", ttl=0.6)
    assert await lease.acquire() is None
    async with lease.kept():
        await asyncio.sleep(1.5)  # longer than the TTL: only renewal keeps it
        assert (await Lease.read(redis, key) or {}).get("holder") == "the worker"
    assert await Lease.read(redis, key) is None  # released on the way out

    assert await lease.acquire() is None

    async def work_while_another_takes_it() -> None:
        async with lease.kept():
            await redis.delete(key)
            assert await Lease(redis, key, holder="another", kind="running", ttl=30).acquire() is None
            await asyncio.sleep(30)  # cancelled at the next renewal

    with pytest.raises(LeaseLost, match="expired or another holder took it"):
        await asyncio.wait_for(work_while_another_takes_it(), timeout=5)
    assert (await Lease.read(redis, key) or {}).get("holder") == "another"
