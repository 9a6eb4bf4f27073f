"""Fixtures of the task-flow tests: a real Nexus (in-process) with the fake Slack and ClickUp
(``tests.support.taskflow``)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from oblivion_nexus.settings import NexusSettings
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.support.nexus import migrate_database, nexus_settings, running_nexus
from tests.support.taskflow import CHANNEL_NAME, FlowStack


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
        # A search the worker cannot answer fails within a test's patience.
        memory_search_timeout_seconds=3.0,
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
