"""The Redis inbox on its own: order, idempotent queueing, one holder per event, TTL expiry."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from oblivion_agent.protocol import make_event
from oblivion_nexus.stores.inbox import InboxStore, Pushed, Queued
from oblivion_nexus.stores.presence import AgentConnectionRecord, PresenceStore, utc_now
from tests.support.waiting import eventually

WG, AGENT = "squad", "coder"


@pytest.fixture
async def redis_client(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _queue(inbox: InboxStore, text: str) -> str:
    frame = make_event("WAKE_UP", {"text": text})
    assert await inbox.enqueue(WG, AGENT, frame.id, frame.model_dump_json()) is Queued.WAITING
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

    await eventually(gone, timeout=5, what="the event to expire")
    assert time.monotonic() - queued_at >= 0.9
    assert sum(expired) == 1
    claim = await inbox.claim(WG, AGENT, "r1/1", 10)
    assert claim.events == []


async def test_queueing_the_same_event_id_twice_keeps_one_copy(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    frame = make_event("WAKE_UP", {"text": "once"})
    assert await inbox.enqueue(WG, AGENT, frame.id, frame.model_dump_json()) is Queued.WAITING
    assert await inbox.enqueue(WG, AGENT, frame.id, frame.model_dump_json()) is Queued.ALREADY
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


async def _next_message(pubsub, timeout: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # subscribe confirmations come first and count as None here
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            return message
    pytest.fail(f"nothing was published within {timeout}s")


async def test_an_event_alone_in_the_inbox_is_pushed_to_the_replica_of_a_live_connection(
    redis_client, redis_prefix
) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    await _live_connection(redis_client, redis_prefix, "r1/7")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(inbox.push_channel("r1"), inbox.wake_channel)
    try:
        first = make_event("WAKE_UP", {"text": "line one\nline two"})
        assert await inbox.enqueue(WG, AGENT, first.id, first.model_dump_json()) is Queued.PUSHED
        message = await _next_message(pubsub)
        assert message["channel"].decode() == inbox.push_channel("r1")
        push = Pushed.parse(message["data"])
        assert (push.connection_id, push.workgroup, push.agent) == ("r1/7", WG, AGENT)
        assert (push.event.id, push.event.frame_json) == (first.id, first.model_dump_json())
        assert abs(push.event.queued_at_ms / 1000 - time.time()) < 5

        # The first is unacked, so the next one waits for a claim, behind it.
        second = await _queue(inbox, "behind the first")
        message = await _next_message(pubsub)
        assert message["channel"].decode() == inbox.wake_channel
        assert message["data"].decode() == inbox.wake_message(WG, AGENT)
        assert [e.id for e in (await inbox.claim(WG, AGENT, "r1/7", 10)).events] == [first.id, second]
    finally:
        await pubsub.aclose()


async def test_nothing_is_pushed_without_a_live_connection(redis_client, redis_prefix) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    first = await _queue(inbox, "nobody connected")  # _queue asserts WAITING
    assert await inbox.ack(WG, AGENT, [first]) == 1
    await _live_connection(redis_client, redis_prefix, "stopped/1")
    await PresenceStore(redis_client, redis_prefix).retire_replica("stopped")
    await _queue(inbox, "its replica is gone")


async def test_a_pushed_event_stays_with_its_connection_and_is_claimable_once_that_is_gone(
    redis_client, redis_prefix
) -> None:
    inbox = InboxStore(redis_client, redis_prefix, ttl_seconds=60)
    await _live_connection(redis_client, redis_prefix, "r1/1")
    pushed = make_event("WAKE_UP", {"text": "pushed"})
    assert await inbox.enqueue(WG, AGENT, pushed.id, pushed.model_dump_json()) is Queued.PUSHED
    await _live_connection(redis_client, redis_prefix, "r2/1")
    waiting = await _queue(inbox, "waiting")

    # A sibling connection takes what waits, not what was pushed to r1/1 (not sent yet, but held).
    assert [e.id for e in (await inbox.claim(WG, AGENT, "r2/1", 10)).events] == [waiting]
    await PresenceStore(redis_client, redis_prefix).forget_connection(WG, AGENT, "r1/1", utc_now())
    assert [e.id for e in (await inbox.claim(WG, AGENT, "r2/1", 10)).events] == [pushed.id]
