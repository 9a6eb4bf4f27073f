"""Fixtures of the agent SDK tests: a fake Nexus on loopback and settings pointing at it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from oblivion_agent import AgentSettings
from tests.secret_logs import SecretRegistry
from tests.unit.agent.fake_nexus import FakeNexus

CLIENT_ID = "wg-backend/ai-backend"
# Characters that RFC 6749 §2.3.1 form-encoding changes, to prove the SDK encodes before Basic auth.
CLIENT_SECRET = "s3cr:et+/=" + secrets.token_urlsafe(16)


@pytest.fixture
async def fake_nexus(secret_registry: SecretRegistry) -> AsyncIterator[FakeNexus]:
    secret_registry.add(CLIENT_SECRET)  # the run fails if it ever reaches a log line
    nexus = FakeNexus(CLIENT_ID, CLIENT_SECRET)
    await nexus.start()
    yield nexus
    await nexus.stop()
    secret_registry.add(*nexus.issued)


def make_settings(nexus: FakeNexus, **overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "nexus_url": nexus.url,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(CLIENT_SECRET),
        "backoff_base_seconds": 0.01,
        "backoff_cap_seconds": 0.05,
        "heartbeat_seconds": 5.0,
        "shutdown_grace_seconds": 5.0,
    }
    values.update(overrides)
    return AgentSettings(**values)
