"""Tokens are bound to the agent they were issued to, not to its name, and revocation is immediate.

An attacker holding a token of an agent that was deleted, rotated, narrowed or disabled must lose
everything that token gave: REST calls, new WebSocket connections and the connections already open.
Every token here comes from the real ``POST /oauth/token`` of a real Nexus.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from oblivion_nexus.stores.agent_standing import AgentStanding, AgentStandingStore, Status
from tests.support.gateway import (
    WORKGROUP,
    NexusReplica,
    connect_agent,
    next_event,
    presence,
    queue_event,
    registry_identity,
)
from tests.support.waiting import eventually


@dataclass
class Credentials:
    client_id: str
    client_secret: str


async def put_agent(
    nexus: NexusReplica, agent: str, *, workgroup: str = WORKGROUP, **spec: Any
) -> Credentials:
    """Register (or re-register) an agent with fresh credentials unless ``spec`` names them."""
    client_secret = spec.pop("clientSecret", None) or secrets.token_urlsafe(24)
    client_id = spec.pop("clientId", None) or f"{workgroup}-{agent}-{secrets.token_hex(4)}"
    nexus.secrets.add(client_secret)
    async with nexus.admin() as admin:
        r = await admin.put(f"/internal/v1/workgroups/{workgroup}", json={})
        assert r.status_code in (200, 201), r.text
        body = {"clientId": client_id, "clientSecret": client_secret, **spec}
        r = await admin.put(f"/internal/v1/workgroups/{workgroup}/agents/{agent}", json=body)
        assert r.status_code in (200, 201), r.text
    return Credentials(client_id, client_secret)


async def fetch_token(nexus: NexusReplica, credentials: Credentials) -> str:
    async with httpx.AsyncClient(base_url=nexus.url) as client:
        r = await client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
            },
        )
    assert r.status_code == 200, r.text
    token = str(r.json()["access_token"])
    nexus.secrets.add(token)
    return token


async def rest_status(nexus: NexusReplica, token: str) -> tuple[int, str]:
    """What ``GET /v1/tasks/…/context`` answers this token: 404 means the token itself was accepted."""
    async with httpx.AsyncClient(base_url=nexus.url) as client:
        r = await client.get("/v1/tasks/untracked-task/context", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, str(r.json().get("detail", ""))


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await next_event(ws, timeout=5)  # heartbeats come every 30 s: nothing else closes it
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def connected(nexus: NexusReplica, agent: str) -> None:
    async def seen() -> bool:
        return bool((await presence(nexus, agent))["connected"])

    await eventually(seen, what=f"{agent} in presence")


async def test_a_token_of_a_deleted_agent_does_not_open_a_connection_of_a_new_agent_of_that_name(
    nexus: NexusReplica,
) -> None:
    old_token = await fetch_token(nexus, await put_agent(nexus, "rbot"))
    async with nexus.admin() as admin:
        assert (await admin.delete(f"/internal/v1/workgroups/{WORKGROUP}/agents/rbot")).status_code == 204
    new_token = await fetch_token(nexus, await put_agent(nexus, "rbot"))  # "a different team"

    assert await closed_with(await connect_agent(nexus, old_token)) == (4403, "agent is unknown")
    assert (await rest_status(nexus, old_token))[0] == 403
    # The new agent's own token works, and the old one never saw its events.
    ws = await connect_agent(nexus, new_token)
    try:
        event_id = await queue_event(nexus, "rbot", "for the new team only")
        assert (await next_event(ws)).id == event_id
    finally:
        await ws.close()


async def test_rotating_the_client_secret_revokes_old_tokens_everywhere_at_once(nexus_factory: Any) -> None:
    east, west = await nexus_factory(), await nexus_factory()
    first = await put_agent(east, "coder")
    old_token = await fetch_token(east, first)
    open_ws = await connect_agent(west, old_token)  # held on another replica
    await connected(east, "coder")

    rotated = await put_agent(east, "coder", clientId=first.client_id)  # same id, new secret

    assert await closed_with(open_ws) == (4401, "token was revoked: the agent's credentials changed")
    assert await closed_with(await connect_agent(west, old_token)) == (
        4401,
        "token was revoked: the agent's credentials changed",
    )
    assert await rest_status(west, old_token) == (401, "token was revoked: the agent's credentials changed")
    new_token = await fetch_token(west, rotated)
    assert (await rest_status(east, new_token))[0] == 404  # accepted; the task is simply unknown
    ws = await connect_agent(east, new_token)
    try:
        event_id = await queue_event(east, "coder", "after the rotation")
        assert (await next_event(ws)).id == event_id
    finally:
        await ws.close()


async def test_repeating_the_same_registration_revokes_nothing(nexus: NexusReplica) -> None:
    credentials = await put_agent(nexus, "coder", projects=["alpha"])
    token = await fetch_token(nexus, credentials)
    ws = await connect_agent(nexus, token)
    try:
        # The operator re-applies the same spec on every reconcile: nothing may change for the agent.
        await put_agent(
            nexus,
            "coder",
            clientId=credentials.client_id,
            clientSecret=credentials.client_secret,
            projects=["alpha"],
        )
        assert (await rest_status(nexus, token))[0] == 404
        event_id = await queue_event(nexus, "coder", "still connected")
        assert (await next_event(ws)).id == event_id
    finally:
        await ws.close()


async def test_narrowing_an_agents_projects_revokes_the_tokens_that_named_the_lost_project(
    nexus: NexusReplica,
) -> None:
    credentials = await put_agent(nexus, "coder", projects=["alpha", "beta"])
    old_token = await fetch_token(nexus, credentials)
    ws = await connect_agent(nexus, old_token)
    await connected(nexus, "coder")

    await put_agent(
        nexus,
        "coder",
        clientId=credentials.client_id,
        clientSecret=credentials.client_secret,
        projects=["alpha"],
    )

    assert (await closed_with(ws))[0] == 4401
    assert (await rest_status(nexus, old_token))[0] == 401
    assert (await rest_status(nexus, await fetch_token(nexus, credentials)))[0] == 404


async def test_a_disabled_agents_token_is_refused_by_rest_and_its_connection_closed(
    nexus: NexusReplica,
) -> None:
    credentials = await put_agent(nexus, "coder")
    token = await fetch_token(nexus, credentials)
    ws = await connect_agent(nexus, token)
    await connected(nexus, "coder")

    await put_agent(
        nexus, "coder", clientId=credentials.client_id, clientSecret=credentials.client_secret, disabled=True
    )

    assert await closed_with(ws) == (4403, "agent is disabled")
    assert await rest_status(nexus, token) == (403, "agent is disabled")


async def test_a_revocation_whose_message_was_lost_still_closes_the_connection_within_a_heartbeat(
    nexus_factory: Any, redis_url: str
) -> None:
    nexus = await nexus_factory(heartbeat_seconds=0.3)
    credentials = await put_agent(nexus, "coder")
    ws = await connect_agent(nexus, await fetch_token(nexus, credentials))
    await connected(nexus, "coder")
    agent_id, generation = await registry_identity(nexus, "coder")
    redis = aioredis.Redis.from_url(redis_url)
    try:
        # What the registry writes on a rotation, without the cut-off message (lost in a Redis blip).
        standings = AgentStandingStore(redis, nexus.settings.redis.prefix)
        await standings.publish(agent_id, AgentStanding(Status.ACTIVE, generation + 1))
        code, reason = await closed_with(ws)
    finally:
        await redis.aclose()
    assert (code, reason) == (4401, "token was revoked: the agent's credentials changed")
