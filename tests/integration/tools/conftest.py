"""A real Nexus with a workgroup, a fake GitHub behind a github credential, and agents to call it."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus

REPO = "acme/api"


@dataclass
class ToolWorld:
    nexus: RunningNexus
    github: FakeGitHub
    secrets: SecretRegistry
    workgroup: str
    slack: FakeSlack
    channel: str
    signing_secret: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.nexus.url}/internal/v1", headers=self.nexus.admin_headers())

    async def credential(self, name: str, **spec: Any) -> None:
        async with self.admin() as admin:
            r = await admin.put(f"/workgroups/{self.workgroup}/credentials/{name}", json=spec)
        assert r.status_code in (200, 201), r.text

    async def register(self, name: str, tools: list[dict[str, Any]]) -> tuple[str, str]:
        """Register an agent with these tool grants; its client id and secret."""
        client_id, client_secret = f"{self.workgroup}-{name}", secrets.token_urlsafe(24)
        self.secrets.add(client_secret)
        body = {"clientId": client_id, "clientSecret": client_secret, "tools": tools}
        async with self.admin() as admin:
            r = await admin.put(f"/workgroups/{self.workgroup}/agents/{name}", json=body)
        assert r.status_code in (200, 201), r.text
        return client_id, client_secret

    async def agent(self, name: str, tools: list[dict[str, Any]]) -> httpx.AsyncClient:
        """Register an agent with these tool grants; a client carrying its access token."""
        client_id, client_secret = await self.register(name, tools)
        async with httpx.AsyncClient(base_url=self.nexus.url) as anonymous:
            r = await anonymous.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
            )
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        self.secrets.add(token)
        client = httpx.AsyncClient(
            base_url=self.nexus.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.clients.append(client)
        return client


@pytest.fixture
def github(secret_registry: SecretRegistry) -> Iterator[FakeGitHub]:
    with FakeGitHub(token="ghp_" + secrets.token_urlsafe(24)) as fake:
        secret_registry.add(fake.token)
        fake.add_repo(REPO, {"README.md": "# api\n"})
        yield fake


@pytest.fixture
def tool_settings() -> dict[str, Any]:
    """Overrides of Nexus settings for a test (e.g. a lower tool rate limit)."""
    return {}


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
async def world(
    nexus_env: dict[str, str],
    github: FakeGitHub,
    fake_slack: FakeSlack,
    secret_registry: SecretRegistry,
    tool_settings: dict[str, Any],
) -> AsyncIterator[ToolWorld]:
    signing_secret = secrets.token_hex(16)
    secret_registry.add(signing_secret)
    settings = nexus_settings(
        nexus_env,
        slack_bot_token=fake_slack.bot_token,
        slack_api_url=fake_slack.url + "/api/",
        slack_signing_secret=signing_secret,
        **tool_settings,
    )
    await asyncio.to_thread(migrate_database, settings.database_url)
    channel = fake_slack.add_channel(f"squad-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    async with running_nexus(settings) as nexus:
        world = ToolWorld(nexus, github, secret_registry, workgroup, fake_slack, channel, signing_secret)
        async with world.admin() as admin:
            r = await admin.put(f"/workgroups/{workgroup}", json={"slackChannelId": channel})
            assert r.status_code == 201, r.text
        await world.credential(
            "github",
            type="github",
            value=github.token,
            allowedActions=["repos.*", "issues.*", "pulls.get"],
            config={"baseUrl": github.url},
        )
        try:
            yield world
        finally:
            for client in world.clients:
                await client.aclose()
