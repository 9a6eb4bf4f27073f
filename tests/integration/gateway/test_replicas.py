"""Several Nexus replicas sharing Redis, and agents with several connections (replicas of their own)."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from oblivion_agent.protocol import make_event
from oblivion_nexus.stores.inbox import InboxStore, Queued
from tests.support.gateway import (
    WORKGROUP,
    NexusReplica,
    ack,
    agent_token,
    connect_agent,
    next_event,
    presence,
    queue_event,
    register_agent,
)
from tests.support.nexus import nexus_process
from tests.support.waiting import eventually


async def test_event_queued_on_one_nexus_reaches_the_agent_connected_to_another(nexus_factory) -> None:
    east, west = await nexus_factory(), await nexus_factory()
    await register_agent(east, "coder")
    ws = await connect_agent(west, agent_token(west, "coder"))
    try:
        event_id = await queue_event(east, "coder", "from the east")
        frame = await next_event(ws)
        assert (frame.id, frame.data.text) == (event_id, "from the east")
        seen = await presence(east, "coder")  # presence is the same from every replica
        assert (seen["connected"], seen["connections"]) == (True, 1)
        await ack(ws, event_id)

        async def acked_everywhere() -> bool:
            return (await presence(east, "coder"))["pendingEvents"] == 0

        await eventually(acked_everywhere, what="the ack on west to empty the inbox seen from east")
    finally:
        await ws.close()


async def _collect(ws, into: list[str]) -> None:
    with contextlib.suppress(Exception):
        while True:
            into.append((await next_event(ws, timeout=60)).id)


async def _each_event_once(queue_on, connections, count: int) -> list[list[str]]:
    received: list[list[str]] = [[] for _ in connections]
    readers = [asyncio.create_task(_collect(ws, got)) for ws, got in zip(connections, received, strict=True)]
    try:
        ids = [await queue_event(queue_on, "coder", f"job {i}") for i in range(count)]

        async def all_arrived() -> bool:
            return sum(len(got) for got in received) >= count

        await eventually(all_arrived, what=f"{count} events to arrive")
        everything = [i for got in received for i in got]
        assert sorted(everything) == sorted(ids), "an event was lost or delivered twice"
        for got in received:  # each connection saw its share in queue order
            assert got == [i for i in ids if i in got]
        return received
    finally:
        for reader in readers:
            reader.cancel()


async def test_agent_with_two_connections_on_one_nexus_gets_each_event_on_one_of_them(nexus) -> None:
    await register_agent(nexus, "coder")
    first = await connect_agent(nexus, agent_token(nexus, "coder"))
    second = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        received = await _each_event_once(nexus, [first, second], 20)
        assert all(received), "one connection got nothing: events are not shared"
    finally:
        await first.close()
        await second.close()


async def test_agent_replicas_on_two_nexus_processes_get_each_event_once(nexus_factory) -> None:
    east, west = await nexus_factory(), await nexus_factory()
    await register_agent(east, "coder")
    on_east = await connect_agent(east, agent_token(east, "coder"))
    on_west = await connect_agent(west, agent_token(west, "coder"))
    try:
        await _each_event_once(east, [on_east, on_west], 20)
        assert (await presence(west, "coder"))["connections"] == 2
    finally:
        await on_east.close()
        await on_west.close()


async def test_unacked_events_of_a_dead_connection_move_to_the_agents_other_connection(nexus_factory) -> None:
    east, west = await nexus_factory(), await nexus_factory()
    await register_agent(east, "coder")
    doomed = await connect_agent(east, agent_token(east, "coder"))
    event_id = await queue_event(east, "coder", "hot potato")
    assert (await next_event(doomed)).id == event_id  # held, unacked, by the east connection
    survivor = await connect_agent(west, agent_token(west, "coder"))
    try:
        doomed.transport.abort()
        assert (await next_event(survivor)).id == event_id
    finally:
        await survivor.close()


async def test_an_oblivion_nexus_serve_process_and_another_nexus_deliver_to_each_other(
    nexus_env, nexus_factory, secret_registry
) -> None:
    """Two real processes: events cross from one to the other in both directions."""
    local = await nexus_factory()
    await register_agent(local, "coder")
    await register_agent(local, "reviewer")
    with nexus_process(nexus_env) as proc:
        secret_registry.add_log_file(proc.log_path)
        remote = NexusReplica(url=proc.url, settings=local.settings, secrets=secret_registry)
        on_remote = await connect_agent(remote, agent_token(remote, "coder"))
        on_local = await connect_agent(local, agent_token(local, "reviewer"))
        try:
            to_remote = await queue_event(local, "coder", "crosses to the process")
            to_local = await queue_event(remote, "reviewer", "crosses back")
            assert (await next_event(on_remote)).id == to_remote
            assert (await next_event(on_local)).id == to_local
        finally:
            await on_remote.close()
            await on_local.close()


async def test_events_whose_push_and_wake_up_were_lost_are_still_delivered_within_a_heartbeat(
    nexus_factory, redis_url
) -> None:
    nexus = await nexus_factory(heartbeat_seconds=0.3)
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    client = aioredis.Redis.from_url(redis_url)

    async def connected() -> bool:
        return bool((await presence(nexus, "coder"))["connected"])

    await eventually(connected, what="the connection in the agent's presence")
    try:
        # Queued by another process whose pub/sub messages never arrived (published nowhere): the
        # first is pushed to the connection, the second waits behind it for a claim.
        inbox = InboxStore(client, nexus.settings.redis.prefix, ttl_seconds=60)
        inbox.wake_channel = f"{nexus.settings.redis.prefix}:nowhere"
        inbox.push_channel_prefix = f"{nexus.settings.redis.prefix}:nowhere:"
        frames = [make_event("WAKE_UP", {"text": f"found by the sweep {i}"}) for i in range(2)]
        outcomes = [await inbox.enqueue(WORKGROUP, "coder", f.id, f.model_dump_json()) for f in frames]
        assert outcomes == [Queued.PUSHED, Queued.WAITING]
        received = [await next_event(ws, timeout=5, answer_heartbeats=True) for _ in frames]
        assert [r.id for r in received] == [f.id for f in frames]
    finally:
        await ws.close()
        await client.aclose()
