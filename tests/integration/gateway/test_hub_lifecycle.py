"""The delivery hub's own life: start announces the replica, stop closes every connection with 1001."""

from __future__ import annotations

import redis.asyncio as aioredis

from oblivion_agent.protocol import CLOSE_GOING_AWAY, make_event
from oblivion_nexus.services.delivery import delivery_lifespan
from tests.integration.gateway.conftest import HubResources, RecordingLink, wait_for
from tests.nexus_server import nexus_settings


async def test_stopping_the_hub_closes_connections_with_1001_and_retires_the_replica(
    nexus_env, redis_url
) -> None:
    settings = nexus_settings(nexus_env)
    redis = aioredis.Redis.from_url(redis_url)
    link = RecordingLink()
    try:
        async with delivery_lifespan(HubResources(settings, redis)) as hub:
            replica_key = hub.presence_store.replica_key(hub.replica)
            assert await redis.exists(replica_key)
            await hub.open("squad", "coder", link)
            frame = make_event("WAKE_UP", {"text": "hello"})
            await hub.enqueue("squad", "coder", frame)

            async def delivered() -> bool:
                return any(frame.id in sent for sent in link.sent)

            await wait_for(delivered, what="the event to reach the link")
        assert link.closed_with is not None
        assert link.closed_with[0] == CLOSE_GOING_AWAY
        assert not await redis.exists(replica_key)
        presence = await hub.presence("squad", "coder")
        assert (presence.connected, presence.pending_events) == (False, 1)  # unacked, kept for later
    finally:
        await redis.aclose()
