"""The agent WebSocket holds against a rogue agent: hostile frames are refused and counted without
crashing anything, what an agent says about itself is bounded, and one agent cannot open without
limit."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support.gateway import (
    NexusReplica,
    agent_token,
    connect_agent,
    next_event,
    presence,
    queue_event,
    register_agent,
)
from tests.support.waiting import eventually

# What of an ERROR frame or a log line may repeat an agent's input: a line, never the input itself.
_ECHO_BOUND_CHARS = 1000


def rejected_frames(nexus: NexusReplica) -> float:
    assert nexus.hub is not None
    value = nexus.hub.metrics.registry.get_sample_value("oblivion_agent_frames_rejected_total")
    return value or 0.0


async def error_frame(ws: ClientConnection) -> dict[str, Any]:
    frame = await next_event(ws)
    assert frame.type == "ERROR"
    data: dict[str, Any] = frame.data.model_dump()
    return data


async def still_delivers(nexus: NexusReplica, ws: ClientConnection) -> None:
    event_id = await queue_event(nexus, "coder", "still here?")
    assert (await next_event(ws)).id == event_id


async def test_a_frame_nested_200000_deep_is_refused_as_malformed_and_counted(nexus: NexusReplica) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        before = rejected_frames(nexus)
        await ws.send("[" * 200_000)
        assert (await error_frame(ws))["code"] == "malformed_frame"
        assert rejected_frames(nexus) == before + 1
        await ws.send('{"type": "ACK", "id": "deep", "data": {"ids": ["a"]}, "extra": ' + "[" * 200_000 + "}")
        assert (await error_frame(ws))["code"] == "malformed_frame"
        await still_delivers(nexus, ws)
    finally:
        await ws.close()


async def test_a_register_frame_with_a_huge_runtime_version_is_refused_and_never_logged_whole(
    nexus: NexusReplica, caplog: pytest.LogCaptureFixture
) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"), register=False)
    caplog.set_level(logging.DEBUG)
    try:
        flood = "9" * 1_000_000
        await ws.send(json.dumps({"type": "REGISTER", "id": "r1", "data": {"runtime_version": flood}}))
        error = await error_frame(ws)
        assert (error["code"], error["frame_id"]) == ("invalid_frame", "r1")
        assert "runtime_version" in error["message"]
        assert len(error["message"]) < _ECHO_BOUND_CHARS
        await ws.send(json.dumps({"type": "REGISTER", "data": {"capabilities": ["x" * 100_000]}}))
        assert (await error_frame(ws))["code"] == "invalid_frame"
        await still_delivers(nexus, ws)
    finally:
        await ws.close()
    longest = max(len(record.getMessage()) for record in caplog.records)
    assert longest < _ECHO_BOUND_CHARS


async def test_an_unknown_frame_type_is_echoed_shortened(nexus: NexusReplica) -> None:
    await register_agent(nexus, "coder")
    ws = await connect_agent(nexus, agent_token(nexus, "coder"))
    try:
        await ws.send(json.dumps({"type": "X" * 100_000, "id": "i" * 100_000, "data": {}}))
        error = await error_frame(ws)
        assert error["code"] == "unknown_type"
        assert len(error["message"]) + len(error["frame_id"] or "") < _ECHO_BOUND_CHARS
    finally:
        await ws.close()


async def test_one_agent_cannot_open_more_connections_than_its_cap_and_is_told_why(
    nexus_factory: Any,
) -> None:
    nexus = await nexus_factory(agent_max_connections=3)
    await register_agent(nexus, "coder")
    token = agent_token(nexus, "coder")
    held = [await connect_agent(nexus, token) for _ in range(3)]
    try:

        async def three() -> bool:
            return int((await presence(nexus, "coder"))["connections"]) == 3

        await eventually(three, what="three open connections")
        extra = await connect_agent(nexus, token)
        with pytest.raises(ConnectionClosed) as closed:
            await next_event(extra)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            4429,
            "too many open connections for this agent",
        )
        assert int((await presence(nexus, "coder"))["connections"]) == 3

        await held.pop().close()  # a slot comes free, and the next connection gets it

        async def two() -> bool:
            return int((await presence(nexus, "coder"))["connections"]) == 2

        await eventually(two, what="a connection released")
        held.append(await connect_agent(nexus, token))
        await eventually(three, what="the new connection admitted")
    finally:
        for ws in held:
            await ws.close()
