"""The Nexus ASGI application: ``create_app(settings)`` wires routes to clients made once per process.

The lifespan opens the clients shared with the worker (``open_resources``: PostgreSQL, Redis, Slack,
ClickUp, the webhook queue, the tools' and the models' HTTP pools), which refuses a database whose
schema is not the one this code was written for, then runs the delivery hub, the Tool Gateway and the
model gateway until shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from oblivion_nexus.api import (
    agent_events,
    gateway,
    health,
    llm,
    mcp,
    memory,
    metrics,
    oauth,
    registry,
    task_outcomes,
    tasks,
    tools,
    webhooks,
)
from oblivion_nexus.api.access_log import AccessLogMiddleware
from oblivion_nexus.api.body_limits import BodyLimitMiddleware, BodyLimits
from oblivion_nexus.api.errors import install_error_handlers
from oblivion_nexus.observability import DeliveryMetrics, ModelMetrics
from oblivion_nexus.resources import open_resources
from oblivion_nexus.services.gateway.hub import delivery_lifespan
from oblivion_nexus.services.llm import ModelGateway
from oblivion_nexus.services.tools.audit_log import ToolAuditLog
from oblivion_nexus.services.tools.gateway import ToolGateway
from oblivion_nexus.services.tools.http_tool import HttpTool
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.tracing import TraceMiddleware

logger = logging.getLogger(__name__)


def _version() -> str:
    try:
        return version("oblivion")
    except PackageNotFoundError:
        return "0.0.0+unknown"


async def _sweep_approvals(tools: ToolGateway, interval: float) -> None:
    """Conclude approvals withdrawn by a stopped task and deny those past their deadline; every
    replica sweeps, each approval is concluded once."""
    while True:
        await asyncio.sleep(interval)
        try:
            await tools.conclude_withdrawn()
            await tools.expire_due()
        except Exception as e:  # the database may be down a while; the next sweep tries again
            logger.warning("approval sweep failed: %s", e)


def create_app(settings: NexusSettings, *, delivery_metrics: DeliveryMetrics | None = None) -> FastAPI:
    """Build a Nexus app; nothing connects until the ASGI server runs its lifespan.

    ``delivery_metrics``: counters shared with a worker in the same process (``oblivion dev``); the
    app makes its own otherwise.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_resources(settings) as resources,
            delivery_lifespan(resources, delivery_metrics) as hub,
            memory.memory_lifespan(app, settings),
        ):
            app.state.resources = resources
            app.state.delivery = hub
            assert resources.tool_http is not None  # open_resources always makes it
            app.state.tools = ToolGateway(
                resources,
                ToolAuditLog(
                    resources.sessionmaker, synchronous_commit=settings.tools.audit_synchronous_commit
                ),
                resources.tool_http,
                calls_per_minute=settings.tools.calls_per_minute,
                http_tool=HttpTool(resources.tool_http, timeout=settings.tools.timeout_seconds),
            )
            app.state.tools.deliver = hub.enqueue
            assert resources.model_http is not None  # as tool_http
            app.state.models = ModelGateway(
                resources, ModelMetrics.of(hub.metrics.registry), resources.model_http
            )
            sweeper = asyncio.create_task(
                _sweep_approvals(app.state.tools, settings.tools.approval_sweep_seconds)
            )
            logger.info("Nexus ready (master key %s encrypts)", resources.master_keys.current_key_id)
            try:
                async with mcp_sessions.run():
                    yield
            finally:
                await app.state.models.aclose()
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
                await app.state.tools.audit.close()

    app = FastAPI(
        title="Oblivion Nexus",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # The agents' calls first: a request is matched against the routes in this order, one by one.
    for module in (
        llm,
        tools,
        tasks,
        memory,
        gateway,
        oauth,
        webhooks,
        health,
        metrics,
        registry,
        task_outcomes,
        agent_events,
    ):
        app.include_router(module.router)
    mcp_sessions = mcp.install(app, version=_version(), max_body_bytes=settings.http.agent_max_body_bytes)
    limits = BodyLimits(
        webhooks=settings.http.webhook_max_body_bytes,
        registry=settings.http.registry_max_body_bytes,
        token=settings.http.token_max_body_bytes,
        agents=settings.http.agent_max_body_bytes,
        models=settings.models.max_body_bytes,
    )
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    if settings.tracing.endpoint:  # not even a pass-through layer when tracing is off
        app.add_middleware(TraceMiddleware)
    app.add_middleware(AccessLogMiddleware)
    return app
