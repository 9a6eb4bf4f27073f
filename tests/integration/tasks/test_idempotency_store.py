"""Idempotency keys in the real Redis: claim, replay, conflicts, release."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from oblivion_nexus.services.safeguards.idempotency import (
    IdempotencyError,
    IdempotencyStore,
    StoredAnswer,
    fingerprint,
)


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator[IdempotencyStore]:
    client = aioredis.Redis.from_url(redis_url)
    yield IdempotencyStore(client, redis_prefix, ttl_seconds=600)
    await client.aclose()


async def test_a_stored_answer_is_replayed_for_the_same_key_and_body(store: IdempotencyStore) -> None:
    fp = fingerprint({"text": "hello"})
    assert await store.claim("wg:bot", "key-1", fp) is None
    await store.store("wg:bot", "key-1", fp, StoredAnswer(201, {"ts": "1.1"}))
    assert await store.claim("wg:bot", "key-1", fp) == StoredAnswer(201, {"ts": "1.1"})


async def test_keys_are_scoped_per_agent(store: IdempotencyStore) -> None:
    fp = fingerprint({"text": "hello"})
    assert await store.claim("wg:bot", "same", fp) is None
    assert await store.claim("wg:other-bot", "same", fp) is None


async def test_a_key_still_running_is_refused_with_409_and_a_retry_hint(store: IdempotencyStore) -> None:
    fp = fingerprint({"text": "hello"})
    await store.claim("wg:bot", "k", fp)
    with pytest.raises(IdempotencyError) as refused:
        await store.claim("wg:bot", "k", fp)
    assert refused.value.status == 409
    assert refused.value.retry_after == 1


async def test_a_key_reused_for_another_body_is_refused_with_422(store: IdempotencyStore) -> None:
    await store.claim("wg:bot", "k", fingerprint({"text": "hello"}))
    with pytest.raises(IdempotencyError) as refused:
        await store.claim("wg:bot", "k", fingerprint({"text": "something else"}))
    assert refused.value.status == 422


async def test_a_released_key_lets_the_retry_do_the_work(store: IdempotencyStore) -> None:
    fp = fingerprint({"text": "hello"})
    await store.claim("wg:bot", "k", fp)
    await store.release("wg:bot", "k")
    assert await store.claim("wg:bot", "k", fp) is None


@pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "naïve"])
async def test_malformed_keys_are_refused_with_400(store: IdempotencyStore, bad: str) -> None:
    with pytest.raises(IdempotencyError) as refused:
        await store.claim("wg:bot", bad, "fp")
    assert refused.value.status == 400
