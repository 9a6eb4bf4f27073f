"""Fixtures of the agent task API tests: the world of ``tests.support.agent_tasks`` on a real Nexus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import TaskWorld, task_world


@pytest.fixture
async def world(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> AsyncIterator[TaskWorld]:
    async with task_world(nexus_env, fake_slack, fake_clickup, secret_registry) as world:
        yield world
