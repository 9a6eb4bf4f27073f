"""Fixtures of the agent runtime tests: a real Nexus (PostgreSQL, Redis, uvicorn on loopback) and agents
registered through its registry API (``tests.support.agent_runtime``)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.secret_logs import SecretRegistry
from tests.support import registry
from tests.support.agent_runtime import HEARTBEAT_SECONDS, RuntimeAgent
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus


@pytest.fixture
async def nexus(nexus_env: dict[str, str]) -> AsyncIterator[RunningNexus]:
    settings = nexus_settings(nexus_env, heartbeat_seconds=HEARTBEAT_SECONDS)
    await asyncio.to_thread(migrate_database, settings.database.url)
    async with running_nexus(settings) as running:
        yield running


@pytest.fixture
def register_agent(
    nexus: RunningNexus, secret_registry: SecretRegistry
) -> Callable[..., Awaitable[RuntimeAgent]]:
    async def register(name: str = "ai-backend", *, disabled: bool = False) -> RuntimeAgent:
        workgroup = f"wg-{uuid.uuid4().hex[:8]}"
        async with registry.registry_client(nexus.url, nexus.admin_headers()) as admin:
            r = await admin.put(f"/workgroups/{workgroup}", json={"displayName": "Backend"})
            assert r.status_code in (200, 201), r.text
        # Characters that RFC 6749 §2.3.1 form-encoding changes, as a real secret may hold.
        client_secret = "s3cr:et+/ " + secrets.token_urlsafe(24)
        registered = await registry.register_agent(
            nexus.url,
            nexus.admin_headers(),
            secret_registry,
            workgroup,
            name,
            client_secret=client_secret,
            disabled=disabled,
        )
        return RuntimeAgent(nexus, workgroup, name, registered.client_id, registered.client_secret)

    return register
