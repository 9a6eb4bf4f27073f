"""The clients a running Nexus shares: created once by the app lifespan, injected everywhere else.

Lives outside ``api``/``services``/``stores`` so every layer may receive it without importing upward.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.crypto import MasterKeys
from oblivion_nexus.stores.queue import WebhookQueue


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything a request handler or background task needs to reach the outside world."""

    settings: NexusSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    master_keys: MasterKeys
    # The task flow's clients (issue 5); None when their settings are absent (see services.flow_clients).
    slack: SlackClient | None = None
    clickup: ClickUpClient | None = None
    webhook_queue: WebhookQueue | None = None
