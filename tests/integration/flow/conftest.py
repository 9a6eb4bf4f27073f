"""A real Nexus (in-process) with the fake Slack and ClickUp, for the task-flow tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from oblivion_nexus.settings import NexusSettings
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus

LIST_ID = "901200"
CHANNEL_NAME = "proj-auth"


@dataclass
class FlowStack:
    nexus: RunningNexus
    settings: NexusSettings
    slack: FakeSlack
    clickup: FakeClickUp
    channel_id: str
    signing_secret: str
    clickup_secret: str
    http: httpx.AsyncClient

    @property
    def clickup_url(self) -> str:
        return self.nexus.url + "/webhooks/clickup"

    @property
    def slack_url(self) -> str:
        return self.nexus.url + "/webhooks/slack"

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        response = await self.http.put(
            self.nexus.url + "/internal/v1" + path, json=body, headers=self.nexus.admin_headers()
        )
        assert response.status_code in (200, 201), response.text
        return response


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_clickup() -> Iterator[FakeClickUp]:
    with FakeClickUp() as fake:
        yield fake


@pytest.fixture
def flow_settings(
    nexus_env: dict[str, str],
    fresh_postgres_url: str,
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: Any,
) -> NexusSettings:
    """Settings of a Nexus on its own database: every fake restarts its ids at the same numbers, so
    tests sharing a database would see each other's ClickUp comment ids in the mirror ledger."""
    signing_secret, clickup_secret = secrets.token_hex(16), secrets.token_hex(16)
    secret_registry.add(signing_secret, clickup_secret)
    settings = nexus_settings(
        nexus_env,
        database_url=fresh_postgres_url,
        slack_signing_secret=signing_secret,
        slack_bot_token=fake_slack.bot_token,
        slack_api_url=fake_slack.url + "/api/",
        clickup_token=fake_clickup.token,
        clickup_api_url=fake_clickup.url,
        # No team id: the worker manages no ClickUp webhooks unless a test asks (test_clickup_webhooks).
        clickup_webhook_secret=clickup_secret,
        worker_lock_seconds=2.0,
        worker_stalled_check_seconds=1.0,
    )
    migrate_database(settings.database.url)
    return settings


@pytest.fixture
async def stack(
    flow_settings: NexusSettings, fake_slack: FakeSlack, fake_clickup: FakeClickUp
) -> AsyncIterator[FlowStack]:
    channel = fake_slack.add_channel(CHANNEL_NAME, bot_is_member=True)
    async with running_nexus(flow_settings) as nexus, httpx.AsyncClient(timeout=10) as http:
        stack = FlowStack(
            nexus=nexus,
            settings=flow_settings,
            slack=fake_slack,
            clickup=fake_clickup,
            channel_id=channel["id"],
            signing_secret=flow_settings.slack.signing_secret.get_secret_value(),  # type: ignore[union-attr]
            clickup_secret=flow_settings.clickup.webhook_secret.get_secret_value(),  # type: ignore[union-attr]
            http=http,
        )
        yield stack


WORKGROUP = "backend"
PROJECT = "auth"
AGENT = "reviewer"
ALIAS = "ai-backend"


async def register_team(stack: FlowStack, *, archived: bool = False) -> None:
    """A workgroup, a project on LIST_ID and the stack's channel, and one agent answering @ai-backend."""
    await stack.put(f"/workgroups/{WORKGROUP}", {"displayName": "Backend"})
    await stack.put(
        f"/workgroups/{WORKGROUP}/projects/{PROJECT}",
        {
            "clickupListId": LIST_ID,
            "slackChannelId": stack.channel_id,
            "statusMap": {"IN_PROGRESS": "in progress", "DONE": "complete"},
            "archived": archived,
        },
    )
    await stack.put(
        f"/workgroups/{WORKGROUP}/agents/{AGENT}",
        {
            "clientId": "backend-reviewer",
            "clientSecret": secrets.token_urlsafe(16),
            "displayName": "Reviewer Bot",
            "aliases": [ALIAS],
            "clickupUserId": "777",
            "iconEmoji": ":robot_face:",
        },
    )


def add_clickup_webhook(stack: FlowStack) -> str:
    """A webhook in the fake ClickUp to Nexus, signed with the fallback secret."""
    from tests.fakes import clickup_payloads as shapes

    hook = shapes.webhook(stack.clickup.team_id, stack.clickup_url, ["*"], LIST_ID, stack.clickup_secret)
    stack.clickup.webhooks[hook["id"]] = hook
    return str(hook["id"])


async def inbox_frames(
    stack: FlowStack, workgroup: str = WORKGROUP, agent: str = AGENT
) -> list[dict[str, Any]]:
    """Every event frame queued for an agent (acked ones are gone), oldest first."""
    import json

    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(stack.settings.redis.url, decode_responses=True)
    try:
        base = f"{stack.settings.redis.prefix}:inbox:{workgroup}:{agent}"
        order = await client.zrange(f"{base}:q", 0, -1)
        frames = await client.hgetall(f"{base}:ev")
        return [json.loads(frames[i]) for i in order if i in frames]
    finally:
        await client.aclose()


async def eventually(check: Any, *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``check()`` (sync or async) until it returns something truthy, or fail after ``timeout``."""
    import asyncio
    import inspect
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)


async def queue_drained(stack: FlowStack) -> bool:
    """Whether the webhook queue has nothing waiting, running or delayed."""
    from oblivion_nexus.resources import webhook_queue

    queue = webhook_queue(stack.settings)
    try:
        counts = await queue.counts()
    finally:
        await queue.close()
    return all(counts.get(state, 0) == 0 for state in ("waiting", "active", "delayed"))


async def settle(stack: FlowStack) -> None:
    """Wait until every queued job ran (twice in a row, so jobs they caused ran too)."""
    await eventually(lambda: queue_drained(stack), what="queue drained")
    await eventually(lambda: queue_drained(stack), what="queue drained again")


async def queued_counts(stack: FlowStack) -> dict[str, int]:
    from oblivion_nexus.resources import webhook_queue

    queue = webhook_queue(stack.settings)
    try:
        return await queue.counts()
    finally:
        await queue.close()
