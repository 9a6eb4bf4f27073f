"""Fixtures of the agent task API tests: the world of ``tests.support.agent_tasks`` on a real Nexus."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import MUTE_SECONDS, STATUS_MAP, TaskWorld
from tests.support.nexus import migrate_database, nexus_settings, running_nexus


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def fake_clickup() -> Iterator[FakeClickUp]:
    with FakeClickUp() as clickup:
        yield clickup


@pytest.fixture
async def world(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> AsyncIterator[TaskWorld]:
    webhook_secret = secrets.token_hex(32)
    secret_registry.add(webhook_secret)
    settings = nexus_settings(
        nexus_env,
        slack_bot_token=fake_slack.bot_token,
        slack_api_url=fake_slack.url + "/api/",
        clickup_token=fake_clickup.token,
        clickup_api_url=fake_clickup.url,
        agent_mute_seconds=MUTE_SECONDS,
        clickup_webhook_secret=webhook_secret,
    )
    await asyncio.to_thread(migrate_database, settings.database.url)
    channel = fake_slack.add_channel(f"proj-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
    workgroup, project, list_id = (
        f"wg-{uuid.uuid4().hex[:8]}",
        "auth-refactor",
        str(900_000 + secrets.randbelow(99_999)),
    )
    async with running_nexus(settings) as nexus:
        world = TaskWorld(
            nexus, fake_slack, fake_clickup, secret_registry, workgroup, project, channel, list_id
        )
        async with world.admin() as admin:
            r = await admin.put(f"/internal/v1/workgroups/{workgroup}", json={})
            assert r.status_code == 201, r.text
            r = await admin.put(
                f"/internal/v1/workgroups/{workgroup}/projects/{project}",
                json={"clickupListId": list_id, "slackChannelId": channel, "statusMap": STATUS_MAP},
            )
            assert r.status_code == 201, r.text
        yield world
