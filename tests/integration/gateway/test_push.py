"""The fast path: an event the enqueue script pushes to a connection, when its push is late or lost.

A push and a claim can both hand the same event to a connection, and a push can reach a replica
after the connection it was meant for is gone; each event must still go out once, in order, and
reach a live connection without waiting for the upkeep sweep (the heartbeat here is 30 s).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from oblivion_agent.protocol import make_event
from oblivion_nexus.services.gateway.hub import delivery_lifespan
from oblivion_nexus.stores.inbox import InboxEvent, InboxStore, Pushed, Queued
from oblivion_nexus.stores.presence import AgentConnectionRecord, utc_now
from tests.support.gateway import HubResources, RecordingLink
from tests.support.waiting import eventually

WG, AGENT = "squad", "coder"


def _sent_ids(link: RecordingLink) -> list[str]:
    return [json.loads(frame)["id"] for frame in link.sent]


def _sent(link: RecordingLink, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(link.sent) >= count

    return check


def _silent_inbox(resources: HubResources) -> InboxStore:
    """An inbox writer whose pushes and wake-ups are published where no replica listens."""
    prefix = resources.settings.redis.prefix
    inbox = InboxStore(resources.redis, prefix, ttl_seconds=60)
    inbox.wake_channel = f"{prefix}:nowhere"
    inbox.push_channel_prefix = f"{prefix}:nowhere:"
    return inbox


async def test_an_event_queued_behind_a_late_push_goes_out_after_it_and_each_once(hub_resources) -> None:
    link = RecordingLink()
    async with delivery_lifespan(hub_resources) as hub:
        conn = await hub.open(WG, AGENT, link)
        late = make_event("WAKE_UP", {"text": "pushed, its message still on the way"})
        silent = _silent_inbox(hub_resources)
        assert await silent.enqueue(WG, AGENT, late.id, late.model_dump_json()) is Queued.PUSHED

        behind = make_event("WAKE_UP", {"text": "queued behind it"})
        await hub.enqueue(WG, AGENT, behind)  # waits for a claim, which returns both in order

        await eventually(_sent(link, 2), what="both events on the connection")
        # The push message arrives at last: the event went out already, so it is not sent again.
        hub.pushed(Pushed(conn.id, WG, AGENT, InboxEvent(late.id, late.model_dump_json(), 0)))
        await hub.enqueue(WG, AGENT, make_event("WAKE_UP", {"text": "a marker after it"}))
        await eventually(_sent(link, 3), what="the marker event")
        assert _sent_ids(link)[:2] == [late.id, behind.id]
        assert _sent_ids(link).count(late.id) == 1


async def test_a_push_for_a_connection_already_gone_goes_to_the_agents_other_connection(
    hub_resources,
) -> None:
    first, other = RecordingLink(), RecordingLink()
    async with delivery_lifespan(hub_resources) as hub, delivery_lifespan(hub_resources) as sibling:
        gone = await hub.open(WG, AGENT, first)
        await asyncio.sleep(0.3)  # the claim every open makes finds nothing yet
        event = make_event("WAKE_UP", {"text": "for a connection about to close"})
        silent = _silent_inbox(hub_resources)
        assert await silent.enqueue(WG, AGENT, event.id, event.model_dump_json()) is Queued.PUSHED
        await sibling.open(WG, AGENT, other)  # another replica: its claim leaves the push alone
        # Let that claim finish too: one made after the close below would find the event free and
        # deliver it whatever ``pushed`` does.
        await asyncio.sleep(0.3)
        assert other.sent == []
        await hub.close(gone)

        # The push reaches the first replica only now, after its connection was released.
        hub.pushed(Pushed(gone.id, WG, AGENT, InboxEvent(event.id, event.model_dump_json(), 0)))

        await eventually(_sent(other, 1), what="the event on the other replica")
        assert (_sent_ids(other), first.sent) == ([event.id], [])


async def test_a_stale_connection_entry_that_attracts_a_push_is_dropped_and_the_event_delivered(
    hub_resources,
) -> None:
    link = RecordingLink()
    async with delivery_lifespan(hub_resources) as hub:
        # An entry of this replica whose removal failed earlier (Redis was down when it closed).
        stale = f"{hub.replica}/999"
        record = AgentConnectionRecord(connection_id=stale, replica=hub.replica, connected_at="earlier")
        await hub.presence_store.record_connection(WG, AGENT, record, utc_now())
        event = make_event("WAKE_UP", {"text": "pushed to a connection nobody holds"})
        inbox = InboxStore(hub_resources.redis, hub_resources.settings.redis.prefix, ttl_seconds=60)
        assert await inbox.enqueue(WG, AGENT, event.id, event.model_dump_json()) is Queued.PUSHED

        async def entry_dropped() -> bool:
            return (await hub.presence(WG, AGENT)).connections == 0

        await eventually(entry_dropped, what="the replica to drop the entry it does not know")
        await hub.open(WG, AGENT, link)  # the event is no longer held by anyone alive
        await eventually(_sent(link, 1), what="the event on the agent's real connection")
        assert _sent_ids(link) == [event.id]
