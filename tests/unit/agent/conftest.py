"""Fixtures of the agent SDK tests: a fake Nexus on loopback (``tests.fakes.nexus``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.nexus import CLIENT_ID, CLIENT_SECRET, FakeNexus
from tests.secret_logs import SecretRegistry


@pytest.fixture
async def fake_nexus(secret_registry: SecretRegistry) -> AsyncIterator[FakeNexus]:
    secret_registry.add(CLIENT_SECRET)  # the run fails if it ever reaches a log line
    nexus = FakeNexus(CLIENT_ID, CLIENT_SECRET)
    await nexus.start()
    yield nexus
    await nexus.stop()
    secret_registry.add(*nexus.issued)
