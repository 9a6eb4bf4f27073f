"""The queue consumer: ``oblivion nexus worker`` runs the task flow for every queued webhook.

It needs no WebSockets: events for agents go to their durable inboxes, whose wake-up reaches the API
replica holding the agent's connection. Several workers may run; BullMQ hands each job to one, and a
job of a worker that died is taken up again within ``OBLIVION_WORKER_LOCK_SECONDS`` plus two stalled
checks. The worker also keeps the projects' ClickUp webhooks alive, and feeds the Memory Bank: the
flow hands texts to ``rag-ingestion``, which the worker consumes too (``services.memory.runtime``),
and thread summaries reach the workgroups' summary models through the model gateway's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.resources import Resources, open_resources
from oblivion_nexus.services.llm.summaries import WorkgroupSummaryModel
from oblivion_nexus.services.memory.runtime import memory_handover, running_ingestion
from oblivion_nexus.services.taskflow.backfill_runs import run_backfill_job
from oblivion_nexus.services.taskflow.context import FlowContext
from oblivion_nexus.services.taskflow.jobs import handle_job
from oblivion_nexus.services.taskflow.webhook_upkeep import keep_webhooks
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.queue import BACKFILL_QUEUE_NAME, ConsumerSettings, start_consumer

logger = logging.getLogger(__name__)

# Backfills one worker runs at once: each mostly waits for Slack's rate limit, which is per app.
_BACKFILL_CONCURRENCY = 2


@asynccontextmanager
async def running_worker(
    settings: NexusSettings, metrics: DeliveryMetrics | None = None
) -> AsyncIterator[FlowContext]:
    """Consume ``webhook-processing`` and ``rag-ingestion`` until the block ends (then finish running
    jobs and stop); ``metrics``: the counters of an app serving in the same process, if any."""
    async with (
        open_resources(settings) as resources,
        memory_handover(settings) as handover,
        running_ingestion(
            settings,
            resources.redis,
            resources.sessionmaker,
            resources.clickup,
            resources.slack,
            handover,
            _summary_model(resources),
        ),
    ):
        flow = FlowContext.create(resources, metrics, handover)

        async def handle(name: str, data: dict[str, Any]) -> None:
            await handle_job(flow, name, data)

        consumer = start_consumer(
            ConsumerSettings(
                redis_url=settings.redis.url,
                prefix=settings.redis.prefix,
                concurrency=settings.queue.concurrency,
                lock_seconds=settings.queue.lock_seconds,
                stalled_check_seconds=settings.queue.stalled_check_seconds,
            ),
            handle,
        )

        async def backfill(_name: str, data: dict[str, Any]) -> None:
            await run_backfill_job(flow, data)

        # The Memory Bank backfills the admin route queues, on a queue of their own.
        backfills = start_consumer(
            ConsumerSettings(
                redis_url=settings.redis.url,
                prefix=settings.redis.prefix,
                concurrency=_BACKFILL_CONCURRENCY,
                lock_seconds=settings.queue.lock_seconds,
                stalled_check_seconds=settings.queue.stalled_check_seconds,
            ),
            backfill,
            queue=BACKFILL_QUEUE_NAME,
        )
        upkeep = asyncio.create_task(keep_webhooks(flow, settings.clickup.webhook_check_seconds))
        logger.info("worker consuming (concurrency %d)", settings.queue.concurrency)
        try:
            yield flow
        finally:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
            # A backfill can wait hours for Slack: stopped now, it resumes in the next worker.
            await backfills.close(force=True)
            await consumer.close()
            logger.info("worker stopped")


def _summary_model(resources: Resources) -> WorkgroupSummaryModel | None:
    """Thread summaries by the workgroups' models, over the model gateway's connection pool."""
    if resources.model_http is None:
        return None
    return WorkgroupSummaryModel(
        resources.sessionmaker, resources.master_keys, resources.settings.models, resources.model_http
    )


async def serve_worker(settings: NexusSettings, stop: asyncio.Event) -> None:
    """Run the worker until ``stop`` is set (SIGTERM/SIGINT in ``oblivion nexus worker``)."""
    async with running_worker(settings):
        await stop.wait()
