"""The Nexus ASGI application: ``create_app(settings)`` wires routes to clients made once per process.

The lifespan opens PostgreSQL and Redis, refuses to serve a database whose schema is not the one this
code was written for, then runs the delivery hub for the agent gateway until shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from oblivion_nexus.api import (
    agent_events,
    gateway,
    health,
    mcp,
    metrics,
    oauth,
    registry,
    task_outcomes,
    tasks,
    tools,
    webhooks,
)
from oblivion_nexus.api.body_limits import BodyLimitMiddleware, BodyLimits
from oblivion_nexus.api.errors import install_error_handlers
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.resources import Resources
from oblivion_nexus.services import flow_clients
from oblivion_nexus.services.delivery import delivery_lifespan
from oblivion_nexus.services.tools.audit_log import ToolAuditLog
from oblivion_nexus.services.tools.gateway import ToolGateway
from oblivion_nexus.services.tools.http_tool import HttpTool
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.crypto import MasterKeys
from oblivion_nexus.stores.db import create_engine, create_sessionmaker, require_schema_at_head

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("oblivion")
    except PackageNotFoundError:
        return "0.0.0+unknown"


async def _sweep_approvals(tools: ToolGateway, interval: float) -> None:
    """Deny approvals past their deadline; every replica sweeps, each approval is expired once."""
    while True:
        await asyncio.sleep(interval)
        try:
            await tools.expire_due()
        except Exception as e:  # the database may be down a while; the next sweep tries again
            logger.warning("approval sweep failed: %s", e)


def create_app(settings: NexusSettings, *, delivery_metrics: DeliveryMetrics | None = None) -> FastAPI:
    """Build a Nexus app; nothing connects until the ASGI server runs its lifespan.

    ``delivery_metrics``: counters shared with a worker in the same process (``oblivion dev``); the
    app makes its own otherwise.
    """
    master_keys = MasterKeys.parse(settings.master_key.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        redis = aioredis.Redis.from_url(settings.redis_url)
        slack, clickup = flow_clients.make_slack(settings), flow_clients.make_clickup(settings)
        webhook_queue = flow_clients.make_webhook_queue(settings)
        # Upstream calls of tools: no redirects followed by the client (the tools decide), bounded time.
        tool_http = httpx.AsyncClient(timeout=settings.tool_timeout_seconds, follow_redirects=False)
        try:
            await require_schema_at_head(engine)
            resources = Resources(
                settings=settings,
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                redis=redis,
                master_keys=master_keys,
                slack=slack,
                clickup=clickup,
                webhook_queue=webhook_queue,
            )
            app.state.resources = resources
            async with delivery_lifespan(resources, delivery_metrics) as hub:
                app.state.delivery = hub
                app.state.tools = ToolGateway(
                    resources,
                    ToolAuditLog(resources.sessionmaker),
                    tool_http,
                    calls_per_minute=settings.tool_calls_per_minute,
                    http_tool=HttpTool(tool_http, timeout=settings.tool_timeout_seconds),
                )
                app.state.tools.deliver = hub.enqueue
                sweeper = asyncio.create_task(
                    _sweep_approvals(app.state.tools, settings.tool_approval_sweep_seconds)
                )
                logger.info("Nexus ready (master key %s encrypts)", master_keys.current_key_id)
                try:
                    async with mcp_sessions.run():
                        yield
                finally:
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
        finally:
            await tool_http.aclose()
            await flow_clients.close_clients(slack, clickup, webhook_queue)
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Oblivion Nexus",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    webhooks.install_webhook_error_handler(app)
    for module in (
        registry,
        task_outcomes,
        oauth,
        health,
        gateway,
        agent_events,
        metrics,
        webhooks,
        tasks,
        tools,
    ):
        app.include_router(module.router)
    mcp_sessions = mcp.install(app, version=_version(), max_body_bytes=settings.agent_max_body_bytes)
    limits = BodyLimits(
        webhooks=settings.webhook_max_body_bytes,
        registry=settings.registry_max_body_bytes,
        token=settings.token_max_body_bytes,
        agents=settings.agent_max_body_bytes,
    )
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    return app
