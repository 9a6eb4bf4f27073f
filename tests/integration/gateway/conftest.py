"""A real Nexus (create_app under uvicorn, in this process) and real agent WebSocket clients.

Each server gets its own app, Redis client and delivery hub, so two of them behave as two Nexus
replicas sharing Redis; ``tests/integration/gateway/test_replicas.py`` also runs them as processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from oblivion_agent.protocol import SUBPROTOCOL, AckFrame, RegisterFrame, parse_server_frame
from oblivion_nexus.app import create_app
from oblivion_nexus.services.auth import issue_access_token
from oblivion_nexus.services.delivery import DeliveryHub
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.db import create_engine, migrate

WORKGROUP = "squad-backend"
_migrated: set[str] = set()


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class RunningNexus:
    settings: NexusSettings
    server: uvicorn.Server
    task: asyncio.Task[None]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connect_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/agents/connect"

    @property
    def hub(self) -> DeliveryHub:
        hub: DeliveryHub = self.server.config.loaded_app.app.state.delivery  # type: ignore[union-attr]
        return hub

    def admin(self) -> httpx.AsyncClient:
        token = self.settings.admin_token.get_secret_value()
        return httpx.AsyncClient(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"})

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 10)


async def start_nexus(settings: NexusSettings) -> RunningNexus:
    if settings.database_url not in _migrated:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()
        _migrated.add(settings.database_url)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        if task.done():
            task.result()  # surfaces the start-up error
        return server.started

    await wait_for(started, 15, "Nexus to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningNexus(settings=settings, server=server, task=task, port=port)


@pytest.fixture
def make_settings(nexus_env: dict[str, str]) -> Callable[..., NexusSettings]:
    """Settings of one installation (shared database, Redis prefix and keys); overrides per call."""

    def make(**overrides: Any) -> NexusSettings:
        values: dict[str, Any] = {k.removeprefix("OBLIVION_").lower(): v for k, v in nexus_env.items()}
        values.update(overrides)
        return NexusSettings(**values)

    return make


@pytest.fixture
async def nexus_factory(make_settings: Callable[..., NexusSettings]) -> AsyncIterator[Callable[..., Any]]:
    running: list[RunningNexus] = []

    async def factory(**overrides: Any) -> RunningNexus:
        nexus = await start_nexus(make_settings(**overrides))
        running.append(nexus)
        return nexus

    yield factory
    for nexus in running:
        with contextlib.suppress(Exception):
            await nexus.stop()


@pytest.fixture
async def nexus(nexus_factory: Callable[..., Any]) -> RunningNexus:
    started: RunningNexus = await nexus_factory()
    return started


async def register_agent(nexus: RunningNexus, agent: str, *, disabled: bool = False) -> None:
    async with nexus.admin() as admin:
        r = await admin.put(f"/internal/v1/workgroups/{WORKGROUP}", json={"displayName": "Backend squad"})
        assert r.status_code in (200, 201), r.text
        body = {
            "clientId": f"{WORKGROUP}-{agent}-{secrets.token_hex(4)}",
            "clientSecret": secrets.token_urlsafe(24),
            "aliases": [f"ai-{agent}"],
            "disabled": disabled,
        }
        r = await admin.put(f"/internal/v1/workgroups/{WORKGROUP}/agents/{agent}", json=body)
        assert r.status_code in (200, 201), r.text


def agent_token(nexus: RunningNexus, agent: str, **kwargs: Any) -> str:
    token, _ = issue_access_token(nexus.settings, workgroup=WORKGROUP, agent=agent, projects=[], **kwargs)
    return token


async def connect_agent(
    nexus: RunningNexus, token: str, *, in_query: bool = False, register: bool = True
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


async def next_event(ws: ClientConnection, timeout: float = 5.0) -> Any:
    """The next frame that is not a heartbeat."""
    async with asyncio.timeout(timeout):
        while True:
            frame = parse_server_frame(await ws.recv())
            if frame.type != "HEARTBEAT":
                return frame


async def ack(ws: ClientConnection, *ids: str) -> None:
    await ws.send(AckFrame(data={"ids": list(ids)}).model_dump_json())


async def queue_event(nexus: RunningNexus, agent: str, text: str) -> str:
    async with nexus.admin() as admin:
        r = await admin.post(
            f"/internal/v1/workgroups/{WORKGROUP}/agents/{agent}/events",
            json={"type": "WAKE_UP", "data": {"reason": "test", "text": text}},
        )
    assert r.status_code == 202, r.text
    event_id: str = r.json()["id"]
    return event_id


async def presence(nexus: RunningNexus, agent: str) -> dict[str, Any]:
    async with nexus.admin() as admin:
        r = await admin.get(f"/internal/v1/workgroups/{WORKGROUP}/agents/{agent}/presence")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
