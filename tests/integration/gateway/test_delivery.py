"""An agent connects, receives what was queued for it, acks, and its inbox is empty again."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from oblivion_nexus.services.gateway.dispatch import MAX_IN_FLIGHT
from tests.support.gateway import (
    WORKGROUP,
    ack,
    agent_token,
    connect_agent,
    next_event,
    presence,
    queue_event,
    register_agent,
)
from tests.support.waiting import eventually


async def test_connected_agent_receives_an_event_and_its_ack_empties_the_inbox(nexus) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        event_id = await queue_event(nexus, "coder", "hello")
        frame = await next_event(ws)
        assert (frame.id, frame.type, frame.data.text) == (event_id, "WAKE_UP", "hello")
        assert (await presence(nexus, "coder"))["pendingEvents"] == 1

        await ack(ws, event_id)

        async def inbox_empty() -> bool:
            return (await presence(nexus, "coder"))["pendingEvents"] == 0

        await eventually(inbox_empty, what="the acked event to leave the inbox")
        seen = await presence(nexus, "coder")
        assert seen["connected"] is True
        assert seen["connections"] == 1
        assert seen["lastSeen"] is not None
    finally:
        await ws.close()


async def test_events_queued_while_offline_arrive_in_order_on_connect(nexus) -> None:
    await register_agent(nexus, "coder")
    ids = [await queue_event(nexus, "coder", f"message {i}") for i in range(5)]
    assert (await presence(nexus, "coder"))["connected"] is False

    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        received = [(await next_event(ws)).id for _ in ids]
        assert received == ids
    finally:
        await ws.close()


async def test_unacked_event_is_redelivered_exactly_once_after_the_connection_dies(nexus) -> None:
    await register_agent(nexus, "coder")
    first = await connect_agent(nexus, agent_token(nexus, "coder"))
    event_id = await queue_event(nexus, "coder", "do the thing")
    assert (await next_event(first)).id == event_id
    first.transport.abort()  # the pod died before acking

    async def disconnected() -> bool:
        return (await presence(nexus, "coder"))["connected"] is False

    await eventually(disconnected, what="the dead connection to be forgotten")
    second = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        assert (await next_event(second)).id == event_id
        await ack(second, event_id)
        marker = await queue_event(nexus, "coder", "marker")
        assert (await next_event(second)).id == marker  # no second copy came before it
    finally:
        await second.close()


async def test_disconnect_before_ack_keeps_the_event_pending(nexus) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    await queue_event(nexus, "coder", "pending")
    await next_event(ws)
    await ws.close()

    async def gone() -> bool:
        return (await presence(nexus, "coder"))["connected"] is False

    await eventually(gone, what="the closed connection to be forgotten")
    assert (await presence(nexus, "coder"))["pendingEvents"] == 1


async def test_server_shutdown_closes_agent_connections_with_going_away(nexus) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    await nexus.stop()
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code in (1001, 1012)


async def test_a_connection_holds_at_most_max_in_flight_events_until_it_acks(nexus) -> None:
    await register_agent(nexus, "coder")
    ids = [await queue_event(nexus, "coder", f"backlog {i}") for i in range(MAX_IN_FLIGHT + 20)]
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        first = [(await next_event(ws)).id for _ in range(MAX_IN_FLIGHT)]
        assert first == ids[:MAX_IN_FLIGHT]
        [conn] = nexus.hub.local_connections(WORKGROUP, "coder")
        assert len(conn.in_flight) == MAX_IN_FLIGHT  # the other 20 wait in the inbox
        await ack(ws, *first)
        rest = [(await next_event(ws)).id for _ in range(20)]
        assert rest == ids[MAX_IN_FLIGHT:]
    finally:
        await ws.close()
