"""A job that asks to be delayed (a vendor's rate limit) runs again once its delay is over, even on a
queue where nothing else happens meanwhile: real Redis, the real BullMQ worker."""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from oblivion_nexus.stores.queue import ConsumerSettings, Delayed, QueueSettings, WebhookQueue, start_consumer
from tests.support.waiting import eventually


async def test_a_delayed_job_on_a_quiet_queue_runs_again_when_its_delay_is_over(redis_url: str) -> None:
    prefix = f"oblivion-test-{uuid.uuid4().hex[:8]}"
    runs: list[float] = []

    async def handle(_name: str, _data: dict[str, Any]) -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise Delayed(8, "the vendor said Retry-After: 8")

    queue = WebhookQueue(QueueSettings(redis_url, prefix, 0, 3, 5), name="delays")
    consumer = start_consumer(ConsumerSettings(redis_url, prefix, 2, 2.0, 1.0), handle, queue="delays")
    try:
        await queue.add("job", "only-one", {})
        # Nothing else is added: before the wake-up marker, the job waited for the next job to arrive.
        await eventually(lambda: len(runs) >= 2, timeout=20, what="the delayed job to run again")
        assert runs[1] - runs[0] >= 7.9  # not before its delay
    finally:
        await consumer.close(force=True)
        await queue.close()
        client = aioredis.Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
