"""The clients a running Nexus shares, opened in one place for both processes (API and worker).

``open_resources(settings)`` is the only code that creates them: the app lifespan and the worker
enter it, so a new client (Qdrant, an embedder, another HTTP pool) is added here once. It lives
outside ``api``/``services``/``stores`` so every layer may receive :class:`Resources` without
importing upward.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.integrations.upstream import Upstream
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.crypto import MasterKeys
from oblivion_nexus.stores.db import create_engine, create_sessionmaker, require_schema_at_head
from oblivion_nexus.stores.queue import QueueSettings, WebhookQueue
from oblivion_nexus.tracing import open_tracer


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything a request handler or background task needs to reach the outside world."""

    settings: NexusSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: aioredis.Redis
    master_keys: MasterKeys
    # Slack and ClickUp are optional (a Nexus may run without one vendor): None when their token is
    # unset, and the flow that needs one names the missing variable when it does.
    slack: SlackClient | None = None
    clickup: ClickUpClient | None = None
    webhook_queue: WebhookQueue | None = None
    # Upstream calls of tools; None only where a test builds a partial set.
    tool_http: Upstream | None = None
    # Calls of model providers (the gateway's pool; it carries no credential); None as above.
    model_http: Upstream | None = None
    # Spans of this process (:mod:`oblivion_nexus.tracing`): a no-op tracer unless tracing is on.
    tracer: trace.Tracer = field(default_factory=trace.NoOpTracer)


def slack_client(settings: NexusSettings) -> SlackClient | None:
    token = settings.slack.bot_token
    return SlackClient(token, base_url=settings.slack.api_url) if token is not None else None


def clickup_client(settings: NexusSettings) -> ClickUpClient | None:
    token = settings.clickup.token
    return ClickUpClient(token, base_url=settings.clickup.api_url) if token is not None else None


def webhook_queue(settings: NexusSettings) -> WebhookQueue:
    return WebhookQueue(
        QueueSettings(
            redis_url=settings.redis.url,
            prefix=settings.redis.prefix,
            dedupe_seconds=settings.queue.dedupe_seconds,
            attempts=settings.queue.attempts,
            enqueue_timeout=settings.queue.enqueue_timeout_seconds,
        )
    )


def tool_client(settings: NexusSettings) -> Upstream:
    """The Tool Gateway's pool, shared by every workgroup's upstream calls. It follows no redirect
    (the tools decide where a call may go) and keeps no cookie: one jar for all would send a cookie
    that one workgroup's call received to another workgroup's calls to the same host."""
    return Upstream(timeout=settings.tools.timeout_seconds)


def model_client(settings: NexusSettings) -> Upstream:
    """The model gateway's pool: one for every agent and provider, following no redirect (a key is
    sent only to the URL its credential names). Connecting is quick or failed; a stream lasts as long
    as the model writes, so only each wait for more of it is bounded. It keeps no cookie, for the
    tool pool's reason."""
    return Upstream(
        timeout=None,
        connect_timeout=10.0,
        read_timeout=settings.models.timeout_seconds,
        max_connections=settings.models.max_connections,
    )


@contextlib.asynccontextmanager
async def open_resources(settings: NexusSettings) -> AsyncIterator[Resources]:
    """Open every shared client, refuse a database whose schema is not this code's, yield them all.

    Each client is closed in the reverse order of its opening when the block ends, and also when a
    later step fails while opening (e.g. the schema check), so a refused start leaks no connection.
    """
    master_keys = MasterKeys.parse(settings.security.master_key.get_secret_value())
    async with contextlib.AsyncExitStack() as opened:
        engine = create_engine(settings.database.url, pool_size=settings.database.pool_size)
        opened.push_async_callback(engine.dispose)
        redis = aioredis.Redis.from_url(settings.redis.url)
        opened.push_async_callback(redis.aclose)
        slack = slack_client(settings)
        if slack is not None:
            opened.push_async_callback(slack.aclose)
        clickup = clickup_client(settings)
        if clickup is not None:
            opened.push_async_callback(clickup.aclose)
        queue = webhook_queue(settings)
        opened.push_async_callback(queue.close)
        tool_http = tool_client(settings)
        opened.push_async_callback(tool_http.aclose)
        model_http = model_client(settings)
        opened.push_async_callback(model_http.aclose)
        tracer = opened.enter_context(open_tracer(settings.tracing))
        await require_schema_at_head(engine)
        yield Resources(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            redis=redis,
            master_keys=master_keys,
            slack=slack,
            clickup=clickup,
            webhook_queue=queue,
            tool_http=tool_http,
            model_http=model_http,
            tracer=tracer,
        )
