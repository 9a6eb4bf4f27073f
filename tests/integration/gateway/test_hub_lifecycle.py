"""The delivery hub's own life: start announces the replica, stop closes every connection with 1001."""

from __future__ import annotations

from oblivion_agent.protocol import CLOSE_GOING_AWAY, make_event
from oblivion_nexus.services.gateway.hub import delivery_lifespan
from tests.support.gateway import RecordingLink
from tests.support.waiting import eventually


async def test_stopping_the_hub_closes_connections_with_1001_and_retires_the_replica(hub_resources) -> None:
    redis = hub_resources.redis
    link = RecordingLink()
    async with delivery_lifespan(hub_resources) as hub:
        replica_key = hub.presence_store.replica_key(hub.replica)
        assert await redis.exists(replica_key)
        await hub.open("squad", "coder", link)
        frame = make_event("WAKE_UP", {"text": "hello"})
        await hub.enqueue("squad", "coder", frame)

        async def delivered() -> bool:
            return any(frame.id in sent for sent in link.sent)

        await eventually(delivered, what="the event to reach the link")
    assert link.closed_with is not None
    assert link.closed_with[0] == CLOSE_GOING_AWAY
    assert not await redis.exists(replica_key)
    presence = await hub.presence("squad", "coder")
    assert (presence.connected, presence.pending_events) == (False, 1)  # unacked, kept for later
