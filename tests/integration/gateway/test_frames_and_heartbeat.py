"""Malformed frames are explained, abuse is cut off, and silent peers are cleared by the heartbeat."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.exceptions import ConnectionClosed

from oblivion_agent.protocol import HeartbeatFrame, parse_server_frame
from tests.support.gateway import (
    agent_token,
    connect_agent,
    next_event,
    presence,
    queue_event,
    register_agent,
)
from tests.support.waiting import eventually


async def _error(ws) -> dict:
    frame = await next_event(ws)
    assert frame.type == "ERROR"
    return frame.data.model_dump()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("this is not json", "malformed_frame"),
        ("[1, 2, 3]", "malformed_frame"),
        ('{"type": "TASK_ASSIGNED", "id": "x1", "data": {}}', "unknown_type"),
        ('{"type": "ACK", "id": "x2", "data": {"ids": []}}', "invalid_frame"),
    ],
)
async def test_malformed_frame_gets_an_error_frame_and_the_connection_stays(nexus, raw, code) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        await ws.send(raw)
        error = await _error(ws)
        assert error["code"] == code
        assert error["message"]
        if '"id"' in raw:
            assert error["frame_id"] == raw.split('"id": "')[1].split('"')[0]
        event_id = await queue_event(nexus, "coder", "still here?")
        assert (await next_event(ws)).id == event_id
    finally:
        await ws.close()


async def test_repeated_malformed_frames_close_the_connection_with_1008(nexus) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    for _ in range(10):
        await ws.send("garbage")
        assert (await _error(ws))["code"] == "malformed_frame"
    await ws.send("garbage")
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws)
    assert closed.value.rcvd.code == 1008


async def test_nexus_sends_heartbeats_and_an_answering_agent_stays_connected(nexus_factory) -> None:
    # Half a second: short enough for a quick test, long enough that a loaded CI machine stalling the
    # shared event loop for a few hundred milliseconds does not look like a silent agent.
    nexus = await nexus_factory(heartbeat_seconds=0.5)
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        beats = 0
        deadline = time.monotonic() + 10
        while beats < 6:  # three intervals: long past the point a silent peer is dropped
            assert time.monotonic() < deadline, "no heartbeats from Nexus"
            frame = parse_server_frame(await ws.recv())
            if frame.type == "HEARTBEAT":
                beats += 1
                await ws.send(HeartbeatFrame().model_dump_json())
        assert (await presence(nexus, "coder"))["connected"] is True
    finally:
        await ws.close()


async def test_silent_peer_is_cleared_within_two_heartbeat_intervals(nexus_factory) -> None:
    interval = 0.5
    nexus = await nexus_factory(heartbeat_seconds=interval)
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))  # sends REGISTER, then never again
    last_heard = time.monotonic()
    assert (await presence(nexus, "coder"))["connected"] is True

    async def cleared() -> bool:
        return (await presence(nexus, "coder"))["connected"] is False

    await eventually(cleared, timeout=10, what="the silent peer to be cleared")
    elapsed = time.monotonic() - last_heard
    # two intervals, plus what one poll of the presence API may add on a loaded machine
    assert elapsed <= 2 * interval + 0.4, f"cleared after {elapsed:.2f}s"
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws)  # only heartbeats came, then the close
    assert closed.value.rcvd.code == 1011


async def test_every_connection_gets_its_own_heartbeat_when_many_connect_together(nexus_factory) -> None:
    # 60 connections opened together come due within the same half interval (over the default cap).
    nexus = await nexus_factory(heartbeat_seconds=0.5, agent_max_connections=60)
    await register_agent(nexus, "coder")
    token = agent_token(nexus, "coder")
    sockets = await asyncio.gather(*(connect_agent(nexus, token) for _ in range(60)))
    try:

        async def first_beat(ws) -> str:
            async with asyncio.timeout(10):
                while True:
                    frame = parse_server_frame(await ws.recv())
                    if frame.type == "HEARTBEAT":
                        await ws.send(HeartbeatFrame().model_dump_json())
                        return frame.id

        beat_ids = await asyncio.gather(*(first_beat(ws) for ws in sockets))
        assert len(set(beat_ids)) == 60  # one heartbeat frame of its own for each connection
        assert (await presence(nexus, "coder"))["connections"] == 60
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
