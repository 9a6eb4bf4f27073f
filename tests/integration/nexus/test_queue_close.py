"""A queue consumer, however soon or busily it is closed, leaves no Redis connection, client or task
behind: real Redis, the real BullMQ worker. (bullmq's own close released its clients before its loop
had stopped; a loop that began or ran on after the release connected them again, for good.)"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from oblivion_nexus.stores.queue import ConsumerSettings, Delayed, QueueSettings, WebhookQueue, start_consumer
from tests.support.waiting import eventually


async def _none_open(admin: aioredis.Redis, prefix: str) -> bool:
    """Whether no consumer of `prefix` has a Redis connection open (BullMQ names them after it)."""
    return not any(prefix in str(client.get("name")) for client in await admin.client_list())


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def _other_tasks() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def test_a_consumer_closed_as_soon_as_it_started_leaves_nothing_open(
    redis_url: str, redis_prefix: str, admin: aioredis.Redis
) -> None:
    """Closed before its loop began, while the loop names its connections, or once it waits for jobs."""
    prefix = redis_prefix  # its keys are dropped after the test

    async def handle(_name: str, _data: dict[str, Any]) -> None:
        raise AssertionError("no job was queued")

    tasks_before = _other_tasks()
    for yields in (0, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89):
        consumer = start_consumer(ConsumerSettings(redis_url, prefix, 2, 2.0, 0.1), handle, queue="close")
        for _ in range(yields):  # each lets the loop (and its Redis replies) go one step further
            await asyncio.sleep(0)
        await consumer.close()
        assert _other_tasks() == tasks_before, f"tasks left after {yields} steps"
        await eventually(
            lambda: _none_open(admin, prefix),
            what=f"the consumer's connections closed (closed after {yields} steps)",
            timeout=5,
        )
        del consumer
        gc.collect()  # an unclosed client warns when collected, which fails the test


async def test_a_consumer_closed_while_jobs_run_and_wait_leaves_nothing_open(
    redis_url: str, redis_prefix: str, admin: aioredis.Redis
) -> None:
    """Jobs arriving as it closes, one in its handler, one delayed (its wake-up still pending)."""
    prefix = redis_prefix  # its keys are dropped after the test
    started: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, _data: dict[str, Any]) -> None:
        started.append(name)
        if name == "later":
            raise Delayed(60, "the vendor said Retry-After: 60")
        await release.wait()

    queue = WebhookQueue(QueueSettings(redis_url, prefix, 0, 3, 5), name="busy")
    try:
        tasks_before = _other_tasks()
        consumer = start_consumer(ConsumerSettings(redis_url, prefix, 4, 2.0, 0.1), handle, queue="busy")
        await queue.add("later", "later", {})
        await queue.add("slow", "slow", {})
        await eventually(lambda: set(started) == {"later", "slow"}, what="both jobs taken")
        closing = asyncio.create_task(consumer.close())
        for n in range(20):  # jobs keep coming while it closes
            await queue.add("more", f"more-{n}", {})
        release.set()
        await asyncio.wait_for(closing, 15)
        assert started.count("slow") == 1
        assert _other_tasks() == tasks_before  # the delayed job's wake-up too
        await eventually(lambda: _none_open(admin, prefix), what="the consumer's connections closed")
        del consumer, closing
        gc.collect()
    finally:
        await queue.close()


async def test_a_close_that_cannot_finish_returns_in_time_and_says_so(
    redis_url: str, redis_prefix: str, admin: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A job that does not end keeps bullmq's close waiting; the consumer's close returns anyway."""
    prefix = redis_prefix  # its keys are dropped after the test
    started: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, _data: dict[str, Any]) -> None:
        started.append(name)
        await release.wait()

    queue = WebhookQueue(QueueSettings(redis_url, prefix, 0, 3, 5), name="stuck")
    try:
        tasks_before = _other_tasks()
        consumer = start_consumer(ConsumerSettings(redis_url, prefix, 2, 2.0, 0.1), handle, queue="stuck")
        await queue.add("stuck", "stuck", {})
        await eventually(lambda: started == ["stuck"], what="the job taken")
        began = asyncio.get_running_loop().time()
        await consumer.close(within_seconds=0.5)
        assert asyncio.get_running_loop().time() - began < 2
        assert "the stuck worker did not close within 0.5 s" in caplog.text
        release.set()  # the job ends: the close left running finishes, and leaves nothing behind
        await eventually(lambda: _other_tasks() == tasks_before, what="the left close to finish", timeout=10)
        await eventually(
            lambda: _none_open(admin, prefix), what="the consumer's connections closed", timeout=5
        )
    finally:
        release.set()
        await queue.close()
