"""The message circuit breaker against the real Redis: limit, one trip, mute, cool-down expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from oblivion_nexus.services.safeguards.circuit_breaker import MessageBreaker


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_messages_within_the_limit_are_admitted_and_the_next_one_trips_once(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    breaker = MessageBreaker(redis_client, redis_prefix, cooldown_seconds=30)
    answers = [await breaker.admit("wg", "bot", 3) for _ in range(6)]
    assert [a.admitted for a in answers] == [True, True, True, False, False, False]
    assert [a.tripped for a in answers] == [False, False, False, True, False, False]
    assert all(25 <= a.retry_after <= 30 for a in answers[3:])


async def test_concurrent_messages_past_the_limit_trip_the_breaker_exactly_once(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    breaker = MessageBreaker(redis_client, redis_prefix, cooldown_seconds=30)
    answers = await asyncio.gather(*(breaker.admit("wg", "bot", 10) for _ in range(50)))
    assert sum(a.admitted for a in answers) == 10
    assert sum(a.tripped for a in answers) == 1


async def test_agents_are_counted_separately(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    breaker = MessageBreaker(redis_client, redis_prefix, cooldown_seconds=30)
    for _ in range(2):
        await breaker.admit("wg", "noisy", 1)
    assert (await breaker.admit("wg", "quiet", 1)).admitted
    assert (await breaker.admit("other-wg", "noisy", 1)).admitted


async def test_a_muted_agent_may_post_again_after_the_cool_down(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    breaker = MessageBreaker(redis_client, redis_prefix, cooldown_seconds=0.5)
    assert (await breaker.admit("wg", "bot", 1)).admitted
    assert (await breaker.admit("wg", "bot", 1)).tripped
    deadline = time.monotonic() + 5
    while not (answer := await breaker.admit("wg", "bot", 1)).admitted:
        assert not answer.tripped, "a muted agent must not trip the breaker again"
        assert time.monotonic() < deadline, "the mute did not end after its cool-down"
        await asyncio.sleep(0.05)
    # The cool-down starts a fresh window: the limit applies again, and trips again once.
    assert (await breaker.admit("wg", "bot", 1)).tripped


async def test_release_lifts_a_mute(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    breaker = MessageBreaker(redis_client, redis_prefix, cooldown_seconds=60)
    await breaker.admit("wg", "bot", 1)
    await breaker.admit("wg", "bot", 1)
    await breaker.release("wg", "bot")
    assert (await breaker.admit("wg", "bot", 1)).admitted
