"""The Memory Bank as the processes run it: the worker ingests (and, embedded, answers searches);
the API searches.

Embedded engine (no ``OBLIVION_MEMORY_QDRANT_URL``): the data directory belongs to one process. The
worker takes an exclusive lock on ``<data_dir>/owner.lock`` before it opens the engine; a second
worker on the same directory logs that another process owns it and neither ingests nor searches
(its ``rag-ingestion`` jobs wait for the owner). API replicas ask the owner over Redis
(:mod:`.remote`). With a Qdrant server every worker ingests and every API replica searches Qdrant.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_nexus.integrations.clickup import ClickUpClient
from oblivion_nexus.integrations.slack import SlackClient
from oblivion_nexus.services.memory.bank import MemoryBank
from oblivion_nexus.services.memory.collections import registered_collections
from oblivion_nexus.services.memory.handover import MemoryHandover
from oblivion_nexus.services.memory.ingestion import Ingestion, IngestionBatcher
from oblivion_nexus.services.memory.model_summaries import SummaryModel
from oblivion_nexus.services.memory.readiness import DimensionCheck
from oblivion_nexus.services.memory.remote import RemoteSearcher, SearchServer
from oblivion_nexus.services.memory.search import BankSearcher, Searcher
from oblivion_nexus.services.memory.setup import build_memory_bank
from oblivion_nexus.services.memory.status import LastErrors
from oblivion_nexus.services.memory.summaries import ThreadSummaries
from oblivion_nexus.services.memory.versions import SourceVersions
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.queue import (
    INGESTION_QUEUE_NAME,
    ConsumerSettings,
    QueueSettings,
    WebhookQueue,
    start_consumer,
)
from oblivion_nexus.stores.vectors import VectorDimensionMismatch, VectorStoreError

logger = logging.getLogger(__name__)

OWNER_LOCK_FILE = "owner.lock"


def embedded(settings: NexusSettings) -> bool:
    return settings.memory.qdrant_url is None


class DataDirLock:
    """An exclusive ``flock`` on the data directory's lock file, held while the worker runs."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / OWNER_LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        """True when this process now owns the directory; False when another one does."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def ingestion_queue(settings: NexusSettings) -> WebhookQueue:
    """The producer of ``rag-ingestion`` (its jobs retry ``OBLIVION_MEMORY_INGESTION_ATTEMPTS`` times)."""
    return WebhookQueue(
        QueueSettings(
            redis_url=settings.redis.url,
            prefix=settings.redis.prefix,
            dedupe_seconds=settings.queue.dedupe_seconds,
            attempts=settings.memory.ingestion_attempts,
            enqueue_timeout=settings.queue.enqueue_timeout_seconds,
        ),
        name=INGESTION_QUEUE_NAME,
    )


@contextlib.asynccontextmanager
async def memory_handover(settings: NexusSettings) -> AsyncIterator[MemoryHandover]:
    queue = ingestion_queue(settings)
    try:
        yield MemoryHandover(queue)
    finally:
        await queue.close()


@dataclass
class MemoryWorker:
    """What a worker that ingests holds (for tests and ``oblivion dev``)."""

    ingestion: Ingestion
    searcher: BankSearcher


@contextlib.asynccontextmanager
async def running_ingestion(
    settings: NexusSettings,
    redis: aioredis.Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    clickup: ClickUpClient | None,
    slack: SlackClient | None = None,
    handover: MemoryHandover | None = None,
    summary_model: SummaryModel | None = None,
) -> AsyncIterator[MemoryWorker | None]:
    """Consume ``rag-ingestion`` (and, embedded, answer searches) until the block ends; yields None
    when another process owns the embedded engine's data directory. ``summary_model``: how thread
    summaries reach a workgroup's model (None: every summary is extractive)."""
    lock = DataDirLock(settings.memory.data_dir) if embedded(settings) else None
    if lock is not None and not lock.acquire():
        logger.warning(
            "memory: another process owns %s; this worker neither ingests nor searches",
            settings.memory.data_dir,
        )
        yield None
        return
    bank = build_memory_bank(settings)
    try:
        prefix = settings.redis.prefix
        errors = LastErrors(redis, prefix)
        batcher = IngestionBatcher(bank, SourceVersions(redis, prefix), errors=errors)
        summaries = (
            ThreadSummaries(redis, prefix, handover, slack, model=summary_model)
            if handover is not None
            else None
        )
        ingestion = Ingestion(batcher, sessionmaker, clickup, summaries)
        searcher = BankSearcher(bank, timeout=settings.memory.search_timeout_seconds)
        async with contextlib.AsyncExitStack() as stack:
            # The local model loads in the background, so the first message is not the one that waits.
            load = getattr(bank.embedder, "load", None)
            if load is not None:
                preload = asyncio.create_task(asyncio.to_thread(load))
                stack.push_async_callback(_finish, preload)
            await stack.enter_async_context(batcher.running())
            await _check_collections(bank, sessionmaker, errors, DimensionCheck(redis, prefix))
            if lock is not None:
                server_redis = aioredis.Redis.from_url(settings.redis.url)
                stack.push_async_callback(server_redis.aclose)
                await stack.enter_async_context(SearchServer(server_redis, prefix, searcher).running())
            consumer = start_consumer(
                ConsumerSettings(
                    redis_url=settings.redis.url,
                    prefix=prefix,
                    concurrency=settings.memory.ingestion_concurrency,
                    lock_seconds=settings.queue.lock_seconds,
                    stalled_check_seconds=settings.queue.stalled_check_seconds,
                ),
                ingestion.handle,
                queue=INGESTION_QUEUE_NAME,
            )
            stack.push_async_callback(consumer.close)
            logger.info(
                "memory: ingesting into %s",
                f"the embedded engine under {settings.memory.data_dir}" if lock else "Qdrant",
            )
            yield MemoryWorker(ingestion, searcher)
    finally:
        await bank.aclose()
        if lock is not None:
            lock.release()


async def _check_collections(
    bank: MemoryBank,
    sessionmaker: async_sessionmaker[AsyncSession],
    errors: LastErrors,
    check: DimensionCheck,
) -> None:
    """Say at start-up, not at the first write, when a collection was made for another embedder (in
    the log, in the workgroup's status and, through ``check``, in every API replica's ``/readyz``)."""
    try:
        async with sessionmaker() as session:
            collections = await registered_collections(session)
        mismatches: list[VectorDimensionMismatch] = []
        for collection in collections:
            try:
                await bank.check_collection(collection)
            except VectorDimensionMismatch as e:
                logger.error("memory: %s; ingestion into it fails until this is fixed", e)
                await errors.record([collection], f"{type(e).__name__}: {e}")
                mismatches.append(e)
        await check.record(mismatches)
    except (VectorStoreError, SQLAlchemyError, RedisError, OSError) as e:
        logger.warning("memory: could not check the collections at start-up: %s", e)


async def _finish(task: asyncio.Task[None]) -> None:
    try:
        await task
    except Exception as e:  # the first embedding will raise it again, where it retries
        logger.warning("memory: the local model did not load: %s", e)


@dataclass
class ApiMemory:
    """What the API's memory routes use: the searcher, the last errors and the ingestion queue."""

    searcher: Searcher
    errors: LastErrors
    queue: WebhookQueue


@contextlib.asynccontextmanager
async def api_memory(settings: NexusSettings) -> AsyncIterator[ApiMemory]:
    """How an API replica reaches the Memory Bank: through the worker (embedded engine) or Qdrant
    directly, for as long as the block runs."""
    timeout = settings.memory.search_timeout_seconds
    prefix = settings.redis.prefix
    async with contextlib.AsyncExitStack() as stack:
        redis = aioredis.Redis.from_url(settings.redis.url)
        stack.push_async_callback(redis.aclose)
        queue = ingestion_queue(settings)
        stack.push_async_callback(queue.close)
        searcher: Searcher
        if embedded(settings):
            searcher = RemoteSearcher(redis, prefix, timeout=timeout)
        else:
            bank = build_memory_bank(settings)
            stack.push_async_callback(bank.aclose)
            searcher = BankSearcher(bank, timeout=timeout)
        yield ApiMemory(searcher, LastErrors(redis, prefix), queue)
