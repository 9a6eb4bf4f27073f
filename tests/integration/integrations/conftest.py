"""Fakes of the outside world for the integration clients' tests, each a real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from oblivion_nexus.integrations.clickup import ClickUpClient
from tests.fakes.clickup import FakeClickUp


@pytest.fixture
async def clickup(fake_clickup: FakeClickUp) -> AsyncIterator[ClickUpClient]:
    async with ClickUpClient(fake_clickup.token, base_url=fake_clickup.url) as client:
        yield client
