"""A real Nexus (PostgreSQL, Redis, uvicorn on loopback) and agents registered through its registry API."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from oblivion_agent import AgentSettings
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus

# Short heartbeats keep the tests quick; the agent must use the same interval as Nexus.
HEARTBEAT_SECONDS = 1.0


@pytest.fixture
async def nexus(nexus_env: dict[str, str]) -> AsyncIterator[RunningNexus]:
    settings = nexus_settings(nexus_env, heartbeat_seconds=HEARTBEAT_SECONDS)
    await asyncio.to_thread(migrate_database, settings.database_url)
    async with running_nexus(settings) as running:
        yield running


@dataclass
class RegisteredAgent:
    nexus: RunningNexus
    workgroup: str
    name: str
    client_id: str
    client_secret: str

    @property
    def path(self) -> str:
        return f"/internal/v1/workgroups/{self.workgroup}/agents/{self.name}"

    def settings(self, **overrides: Any) -> AgentSettings:
        values: dict[str, Any] = {
            "nexus_url": self.nexus.url,
            "client_id": self.client_id,
            "client_secret": SecretStr(self.client_secret),
            "heartbeat_seconds": HEARTBEAT_SECONDS,
            "backoff_base_seconds": 0.05,
            "backoff_cap_seconds": 0.5,
        }
        values.update(overrides)
        return AgentSettings(**values)

    def env(self) -> dict[str, str]:
        """What the operator mounts into an agent's pod."""
        return {
            "OBLIVION_NEXUS_URL": self.nexus.url,
            "OBLIVION_CLIENT_ID": self.client_id,
            "OBLIVION_CLIENT_SECRET": self.client_secret,
            "OBLIVION_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        }

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.nexus.url, headers=self.nexus.admin_headers())

    async def queue(self, type_: str, data: dict[str, Any]) -> str:
        async with self.admin() as admin:
            r = await admin.post(f"{self.path}/events", json={"type": type_, "data": data})
        assert r.status_code == 202, r.text
        event_id: str = r.json()["id"]
        return event_id

    async def presence(self) -> dict[str, Any]:
        async with self.admin() as admin:
            r = await admin.get(f"{self.path}/presence")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def register_agent(
    nexus: RunningNexus, secret_registry: SecretRegistry
) -> Callable[..., Awaitable[RegisteredAgent]]:
    async def register(name: str = "ai-backend", *, disabled: bool = False) -> RegisteredAgent:
        workgroup = f"wg-{uuid.uuid4().hex[:8]}"
        # Characters that RFC 6749 §2.3.1 form-encoding changes, as a real secret may hold.
        agent = RegisteredAgent(
            nexus, workgroup, name, f"{workgroup}-{name}", "s3cr:et+/ " + secrets.token_urlsafe(24)
        )
        secret_registry.add(agent.client_secret)
        async with agent.admin() as admin:
            r = await admin.put(f"/internal/v1/workgroups/{workgroup}", json={"displayName": "Backend"})
            assert r.status_code in (200, 201), r.text
            body = {"clientId": agent.client_id, "clientSecret": agent.client_secret, "disabled": disabled}
            r = await admin.put(agent.path, json=body)
            assert r.status_code in (200, 201), r.text
        return agent

    return register


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 15.0, what: str = "condition"
) -> Any:
    """Poll an async ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)
