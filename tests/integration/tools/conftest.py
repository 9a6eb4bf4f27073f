"""Fixtures of the Tool Gateway tests: a real Nexus with a workgroup, a fake GitHub behind a github
credential (``tests.support.tool_gateway``), and the fake Slack for approvals."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import migrate_database, nexus_settings, running_nexus
from tests.support.tool_gateway import REPO, ToolWorld


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
    await asyncio.to_thread(migrate_database, settings.database.url)
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
