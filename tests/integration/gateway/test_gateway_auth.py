"""Only a valid token of a registered, enabled agent opens the gateway; the token never reaches a log."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from oblivion_agent.protocol import SUBPROTOCOL, HeartbeatFrame, parse_server_frame
from tests.support.gateway import (
    WORKGROUP,
    agent_token,
    connect_agent,
    next_event,
    queue_event,
    register_agent,
)


def _claims(nexus, agent: str, **changes) -> dict:
    now = int(time.time())
    claims = {
        "iss": nexus.settings.tokens.issuer,
        "aud": nexus.settings.tokens.audience,
        "sub": agent,
        "workgroup": WORKGROUP,
        "projects": [],
        "iat": now,
        "exp": now + 600,
        "jti": "jti-1",
    }
    claims.update(changes)
    return claims


def _unsigned(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def _close_code(nexus, token: str) -> int:
    ws = await connect_agent(nexus, token, register=False)
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda n: agent_token(n, "coder", now=time.time() - 3600, ttl_seconds=600), id="expired"
        ),
        pytest.param(lambda n: jwt.encode(_claims(n, "coder"), "x" * 40, algorithm="HS256"), id="wrong-key"),
        pytest.param(lambda n: _unsigned(_claims(n, "coder")), id="alg-none"),
        pytest.param(
            lambda n: jwt.encode(
                _claims(n, "coder", aud="someone-else"),
                n.settings.tokens.signing_key.get_secret_value(),
                "HS256",
            ),
            id="wrong-audience",
        ),
        pytest.param(lambda n: "not-a-jwt", id="garbage"),
    ],
)
async def test_bad_tokens_are_refused_with_4401(nexus, forge) -> None:
    await register_agent(nexus, "coder")
    assert await _close_code(nexus, forge(nexus)) == 4401


async def test_connection_without_a_token_is_refused_with_4401(nexus) -> None:
    ws = await connect(nexus.connect_url, subprotocols=[SUBPROTOCOL])
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd.code == 4401


async def test_disabled_agent_is_refused_with_4403(nexus) -> None:
    await register_agent(nexus, "sleepy", disabled=True)
    assert await _close_code(nexus, agent_token(nexus, "sleepy")) == 4403


async def test_unregistered_agent_is_refused_with_4403(nexus) -> None:
    assert await _close_code(nexus, agent_token(nexus, "ghost")) == 4403


async def test_a_client_offering_only_another_subprotocol_is_refused(nexus) -> None:
    await register_agent(nexus, "coder")
    headers = {"Authorization": f"Bearer {agent_token(nexus, 'coder')}"}
    with pytest.raises(InvalidStatus):
        await connect(nexus.connect_url, additional_headers=headers, subprotocols=["oblivion.v9"])


async def test_token_in_the_query_works_and_never_reaches_the_server_log(nexus, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="uvicorn")  # the handshake lines; the client's own stay quiet
    await register_agent(nexus, "coder")
    token = agent_token(nexus, "coder")
    ws = await connect_agent(nexus, token, in_query=True)
    try:
        event_id = await queue_event(nexus, "coder", "via query")
        assert (await next_event(ws)).id == event_id
    finally:
        await ws.close()
    # what Nexus logged: uvicorn's lines and ours (the test's own websockets client logs its URL)
    server_lines = [r.getMessage() for r in caplog.records if r.name.startswith(("uvicorn", "oblivion"))]
    handshake_lines = [line for line in server_lines if "/v1/agents/connect?" in line]
    assert handshake_lines, "uvicorn logged no handshake line; the redaction test would prove nothing"
    assert all("access_token=[REDACTED]" in line for line in handshake_lines)
    assert not [line for line in server_lines if token.split(".")[2] in line]


async def test_a_connection_ends_with_4401_when_its_token_expires(nexus_factory) -> None:
    nexus = await nexus_factory(heartbeat_seconds=0.4)
    await register_agent(nexus, "coder")
    token = agent_token(nexus, "coder", now=time.time() - 58, ttl_seconds=60)  # two seconds left
    ws = await connect_agent(nexus, token)
    event_id = await queue_event(nexus, "coder", "before expiry")
    assert (await next_event(ws)).id == event_id  # the connection works until then
    assert await _answer_heartbeats_until_closed(ws) == 4401  # alive, yet its token ran out


async def _answer_heartbeats_until_closed(ws) -> int:
    try:
        async with asyncio.timeout(10):
            while True:
                if parse_server_frame(await ws.recv()).type == "HEARTBEAT":
                    await ws.send(HeartbeatFrame().model_dump_json())
    except ConnectionClosed as e:
        return e.rcvd.code


async def test_a_connection_is_closed_with_4401_when_its_token_expires(nexus) -> None:
    await register_agent(nexus, "coder")
    token = agent_token(nexus, "coder", ttl_seconds=2)
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    ws = await connect_agent(nexus, token)
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws, timeout=10)  # the heartbeat interval is 30 s: nothing else closes it
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "token expired")
    assert expires_at - 0.1 <= time.time() <= expires_at + 2
