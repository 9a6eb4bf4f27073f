"""Fixtures of the model tests: the fake model APIs (with a fresh key the run's secret check watches),
and the task world of ``tests.support.agent_tasks`` on a Nexus that prices the fake's models."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.clickup import FakeClickUp
from tests.fakes.models import FakeModels
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import TaskWorld, task_world
from tests.support.model_gateway import PRICES


@pytest.fixture
def models(secret_registry: SecretRegistry) -> Iterator[FakeModels]:
    with FakeModels(api_key="sk-canary-" + secrets.token_urlsafe(24)) as fake:
        secret_registry.add(fake.api_key)
        yield fake


@pytest.fixture
async def world(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> AsyncIterator[TaskWorld]:
    async with task_world(nexus_env, fake_slack, fake_clickup, secret_registry, model_prices=PRICES) as world:
        yield world
