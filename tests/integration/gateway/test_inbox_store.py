"""The Redis inbox on its own: order, idempotent queueing, one holder per event, TTL expiry."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from oblivion_agent.protocol import make_event
from oblivion_nexus.stores.inbox import InboxStore
from oblivion_nexus.stores.presence import AgentConnectionRecord, PresenceStore, utc_now
from tests.integration.gateway.conftest import wait_for

WG, AGENT = "squad", "coder"


@pytest.fixture
async def redis_client(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _queue(inbox: InboxStore, text: str) -> str:
    frame = make_event("WAKE_UP", {"text": text})
    assert await inbox.enqueue(WG, AGENT, frame.id, frame.model_dump_json())
    return frame.id


async def _live_connection(redis_client, prefix: str, connection_id: str) -> None:
    presence = PresenceStore(redis_client, prefix)
    replica = connection_id.rpartition("/")[0]
    await presence.keep_replica_alive(replica, 30)
    record = AgentConnectionRecord(connection_id=connection_id, replica=replica, connected_at="now")
    await presence.record_connection(WG, AGENT, record, utc_now())


async def test_events_expire_after_the_ttl_and_are_counted(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=1)
    await _queue(inbox, "old news")
    queued_at = time.monotonic()
    assert (await inbox.pending(WG, AGENT)).pending == 1

    expired: list[int] = []

    async def gone() -> bool:
        claim = await inbox.pending(WG, AGENT)
        expired.append(claim.expired)
        return claim.pending == 0

    await wait_for(gone, timeout=5, what="the event to expire")
    assert time.monotonic() - queued_at >= 0.9
    assert sum(expired) == 1
    claim = await inbox.claim(WG, AGENT, "r1/1", 10)
    assert claim.events == []


async def test_queueing_the_same_event_id_twice_keeps_one_copy(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    frame = make_event("WAKE_UP", {"text": "once"})
    assert await inbox.enqueue(WG, AGENT, frame.id, frame.model_dump_json())
    assert not await inbox.enqueue(WG, AGENT, frame.id, frame.model_dump_json())
    assert (await inbox.pending(WG, AGENT)).pending == 1


async def test_a_held_event_is_not_claimed_by_another_live_connection(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    ids = [await _queue(inbox, f"n{i}") for i in range(3)]
    await _live_connection(redis_client, redis_prefix, "r1/1")
    await _live_connection(redis_client, redis_prefix, "r2/1")

    first = await inbox.claim(WG, AGENT, "r1/1", 2)
    second = await inbox.claim(WG, AGENT, "r2/1", 10)

    assert [e.id for e in first.events] == ids[:2]
    assert [e.id for e in second.events] == ids[2:]


async def test_events_held_by_a_crashed_replica_are_claimable_again(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    event_id = await _queue(inbox, "orphan")
    await _live_connection(redis_client, redis_prefix, "crashed/1")
    assert [e.id for e in (await inbox.claim(WG, AGENT, "crashed/1", 10)).events] == [event_id]
    await PresenceStore(redis_client, redis_prefix).retire_replica("crashed")  # its key is gone

    assert [e.id for e in (await inbox.claim(WG, AGENT, "alive/1", 10)).events] == [event_id]
    presence = await PresenceStore(redis_client, redis_prefix).read(WG, AGENT)
    assert presence.connections == ()  # the crashed replica's connection is not shown as present


async def test_ack_removes_events_and_a_second_ack_is_harmless(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    event_id = await _queue(inbox, "done")
    assert await inbox.ack(WG, AGENT, [event_id]) == 1
    assert await inbox.ack(WG, AGENT, [event_id, "never-queued"]) == 0
    assert (await inbox.pending(WG, AGENT)).pending == 0
