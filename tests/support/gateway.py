"""Nexus replicas in-process and real agent WebSocket clients, for the agent gateway's tests and the
security suite: helpers, and the fixtures ``hub_resources``, ``nexus_factory`` and ``nexus`` (this
module is a pytest plugin, registered in ``tests/conftest.py``).

Each replica gets its own app, Redis client and delivery hub, so two of them behave as two Nexus
replicas sharing Redis; ``test_replicas.py`` also runs one as an ``oblivion nexus serve`` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect

from oblivion_agent.protocol import SUBPROTOCOL, AckFrame, HeartbeatFrame, RegisterFrame, parse_server_frame
from oblivion_nexus.services.auth.tokens import issue_access_token
from oblivion_nexus.services.gateway.hub import DeliveryHub
from oblivion_nexus.settings import NexusSettings
from tests.support.nexus import migrate_database, nexus_settings, running_nexus

WORKGROUP = "squad-backend"
_migrated: set[str] = set()
# (database url, agent) → (registry id, credential generation), as the last register_agent left it.
_registered: dict[tuple[str, str], tuple[int, int]] = {}


class RecordingLink:
    """The transport end of a connection, as a WebSocket would be: it keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: tuple[int, str | None] | None = None

    async def send_text(self, data: str) -> None:
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = (code, reason)


@dataclass
class HubResources:
    """What ``delivery_lifespan`` needs from an app: settings and a Redis client."""

    settings: NexusSettings
    redis: Any


@pytest.fixture
async def hub_resources(nexus_env: dict[str, str], redis_url: str) -> AsyncIterator[HubResources]:
    """Settings of a fresh installation and a Redis client, to run delivery hubs without an app."""
    redis = aioredis.Redis.from_url(redis_url)
    try:
        yield HubResources(nexus_settings(nexus_env), redis)
    finally:
        await redis.aclose()


@dataclass
class NexusReplica:
    """One Nexus replica: where to reach it, its settings, and how to stop it early."""

    url: str
    settings: NexusSettings
    secrets: Any
    hub: DeliveryHub | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    @property
    def connect_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/v1/agents/connect"

    def admin(self) -> httpx.AsyncClient:
        token = self.settings.security.admin_token.get_secret_value()
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {token}"})

    async def stop(self) -> None:
        await self._stack.aclose()


async def start_replica(settings: NexusSettings, secret_registry: Any) -> NexusReplica:
    if settings.database.url not in _migrated:
        await asyncio.to_thread(migrate_database, settings.database.url)
        _migrated.add(settings.database.url)
    stack = contextlib.AsyncExitStack()
    running = await stack.enter_async_context(running_nexus(settings))
    return NexusReplica(
        url=running.url,
        settings=settings,
        secrets=secret_registry,
        hub=running.app.state.delivery,
        _stack=stack,
    )


@pytest.fixture
async def nexus_factory(nexus_env: dict[str, str], secret_registry: Any) -> AsyncIterator[Callable[..., Any]]:
    """Starts Nexus replicas of one installation (shared database, Redis prefix and keys)."""
    running: list[NexusReplica] = []

    async def factory(**overrides: Any) -> NexusReplica:
        nexus = await start_replica(nexus_settings(nexus_env, **overrides), secret_registry)
        running.append(nexus)
        return nexus

    yield factory
    for nexus in running:
        with contextlib.suppress(Exception):
            await nexus.stop()


@pytest.fixture
async def nexus(nexus_factory: Callable[..., Any]) -> NexusReplica:
    started: NexusReplica = await nexus_factory()
    return started


async def register_agent(nexus: NexusReplica, agent: str, *, disabled: bool = False) -> None:
    async with nexus.admin() as admin:
        r = await admin.put(f"/internal/v1/workgroups/{WORKGROUP}", json={"displayName": "Backend squad"})
        assert r.status_code in (200, 201), r.text
        client_secret = secrets.token_urlsafe(24)
        nexus.secrets.add(client_secret)
        body = {
            "clientId": f"{WORKGROUP}-{agent}-{secrets.token_hex(4)}",
            "clientSecret": client_secret,
            "aliases": [f"ai-{agent}"],
            "disabled": disabled,
        }
        r = await admin.put(f"/internal/v1/workgroups/{WORKGROUP}/agents/{agent}", json=body)
        assert r.status_code in (200, 201), r.text
    _registered[(nexus.settings.database.url, agent)] = await registry_identity(nexus, agent)


async def registry_identity(nexus: NexusReplica, agent: str, workgroup: str = WORKGROUP) -> tuple[int, int]:
    """The agent's registry id and credential generation, read from PostgreSQL as Nexus stored them."""
    url = nexus.settings.database.url.replace("postgresql+psycopg://", "postgresql://", 1)
    async with await psycopg.AsyncConnection.connect(url) as db:
        cursor = await db.execute(
            "SELECT id, credential_generation FROM agents WHERE workgroup = %s AND name = %s",
            (workgroup, agent),
        )
        row = await cursor.fetchone()
    assert row is not None, f"agent {agent} is not registered"
    return int(row[0]), int(row[1])


def agent_token(nexus: NexusReplica, agent: str, **kwargs: Any) -> str:
    """A token as ``/oauth/token`` would issue it now (id 0 for an agent never registered)."""
    agent_id, generation = _registered.get((nexus.settings.database.url, agent), (0, 0))
    claims: dict[str, Any] = {"agent_id": agent_id, "generation": generation, **kwargs}
    token, _ = issue_access_token(nexus.settings, workgroup=WORKGROUP, agent=agent, projects=[], **claims)
    nexus.secrets.add(token)
    return token


async def connect_agent(
    nexus: NexusReplica, token: str, *, in_query: bool = False, register: bool = True
) -> ClientConnection:
    url, headers = nexus.connect_url, {"Authorization": f"Bearer {token}"}
    if in_query:
        url, headers = f"{url}?access_token={token}", {}
    ws = await connect(url, additional_headers=headers, subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
    if register:
        await ws.send(
            RegisterFrame(data={"capabilities": ["code"], "runtime_version": "test"}).model_dump_json()
        )
    return ws


async def next_event(ws: ClientConnection, timeout: float = 5.0, *, answer_heartbeats: bool = False) -> Any:
    """The next frame that is not a heartbeat (answering heartbeats on the way, if asked)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = parse_server_frame(await ws.recv())
            if frame.type != "HEARTBEAT":
                return frame
            if answer_heartbeats:
                await ws.send(HeartbeatFrame().model_dump_json())


async def ack(ws: ClientConnection, *ids: str) -> None:
    await ws.send(AckFrame(data={"ids": list(ids)}).model_dump_json())


async def queue_event(nexus: NexusReplica, agent: str, text: str) -> str:
    async with nexus.admin() as admin:
        r = await admin.post(
            f"/internal/v1/workgroups/{WORKGROUP}/agents/{agent}/events",
            json={"type": "WAKE_UP", "data": {"reason": "test", "text": text}},
        )
    assert r.status_code == 202, r.text
    event_id: str = r.json()["id"]
    return event_id


async def presence(nexus: NexusReplica, agent: str) -> dict[str, Any]:
    async with nexus.admin() as admin:
        r = await admin.get(f"/internal/v1/workgroups/{WORKGROUP}/agents/{agent}/presence")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
