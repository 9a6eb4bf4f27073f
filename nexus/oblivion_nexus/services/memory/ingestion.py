"""The worker's side of ``rag-ingestion``: jobs become points, embedded in batches.

Jobs running at once hand their texts to one :class:`IngestionBatcher`, which embeds what is
waiting, up to ``MAX_BATCH`` texts, in one call and writes them; each job waits for its batch. It
never lingers for more: while a batch is embedded the next one gathers by itself, so a quiet
channel's message is embedded at once and a busy one's in batches as large as the load makes them
(waiting 100 ms for more, as it did, made p99 at 50 messages/s 2.6 s instead of 0.8 s:
``bench/memory_ingestion.py``). One batch is written at a time per process, in arrival order,
after the versions are claimed, so a deletion and an edit of one source never interleave.

A failure of the embedder or the vector store fails every job of the batch; BullMQ retries them with
backoff (``OBLIVION_MEMORY_INGESTION_ATTEMPTS``), so nothing is lost while either is down. A text
that can never be stored (empty, too long) is skipped with a reason in the log and the job ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oblivion_nexus.integrations.clickup import ClickUpApiError, ClickUpClient, ClickUpRateLimited
from oblivion_nexus.integrations.slack import SlackRateLimited
from oblivion_nexus.services.memory.bank import MemoryBank, MemoryText
from oblivion_nexus.services.memory.collections import ProjectNotRegistered, collection_for
from oblivion_nexus.services.memory.handover import (
    CLICKUP_TASK,
    FORGET,
    REMEMBER,
    SUMMARIZE,
    text_from_job,
)
from oblivion_nexus.services.memory.status import LastErrors
from oblivion_nexus.services.memory.summaries import ThreadSummaries
from oblivion_nexus.services.memory.versions import SourceVersions
from oblivion_nexus.stores.queue import Delayed
from oblivion_nexus.stores.vectors import MemoryKind, MemorySource, clickup_task_source_id

logger = logging.getLogger(__name__)

# The embedder's largest batch: 64 short texts take about as long on the local model as a handful,
# one at a time.
MAX_BATCH = 64
# Every job asks which collection holds its project; the registry changes rarely (the operator), so
# a burst of messages reads it once, and a changed collection is used within seconds.
COLLECTION_CACHE_SECONDS = 2.0
_MAX_CACHED_PROJECTS = 1000


@dataclass
class _Change:
    collection: str
    source_id: str
    version: float | None
    text: MemoryText | None  # None: forget the source
    done: asyncio.Future[None] = field(repr=False)


class IngestionBatcher:
    """Collects changes from concurrent jobs and applies them in batches (see the module)."""

    def __init__(
        self,
        bank: MemoryBank,
        versions: SourceVersions,
        *,
        max_batch: int = MAX_BATCH,
        errors: LastErrors | None = None,
    ) -> None:
        self.bank = bank
        self._errors = errors
        self._versions = versions
        self._max_batch = max_batch
        self._waiting: asyncio.Queue[_Change] = asyncio.Queue()

    async def remember(self, collection: str, text: MemoryText, version: float | None) -> None:
        await self._submit(collection, text.source_id, version, text)

    async def forget(self, collection: str, source_id: str, version: float) -> None:
        await self._submit(collection, source_id, version, None)

    async def _submit(
        self, collection: str, source_id: str, version: float | None, text: MemoryText | None
    ) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._waiting.put(_Change(collection, source_id, version, text, done))
        await done

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[IngestionBatcher]:
        """Apply batches until the block ends."""
        task = asyncio.create_task(self._run(), name="memory-batcher")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._waiting.get()]
            await asyncio.sleep(0)  # jobs handed over in the same instant join this batch
            while len(batch) < self._max_batch and not self._waiting.empty():
                batch.append(self._waiting.get_nowait())
            started = loop.time()
            try:
                await self._apply(batch)
            except Exception as e:  # every job of the batch fails and is retried by the queue
                logger.warning("memory batch of %d changes failed: %r", len(batch), e)
                await self._record(batch, e)
                for change in batch:
                    if not change.done.done():
                        change.done.set_exception(e)
            else:
                took = loop.time() - started
                logger.debug("memory batch of %d changes applied in %.3f s", len(batch), took)
                for change in batch:
                    if not change.done.done():
                        change.done.set_result(None)

    async def _record(self, batch: list[_Change], error: Exception) -> None:
        if self._errors is None:
            return
        try:
            await self._errors.record((c.collection for c in batch), f"{type(error).__name__}: {error}")
        except Exception as e:  # the status page loses a line; ingestion goes on
            logger.warning("memory: could not record the batch's error: %r", e)

    async def _apply(self, batch: list[_Change]) -> None:
        # Within a batch only the newest change of a source counts (an edit right after its message).
        newest: dict[tuple[str, str], _Change] = {}
        for change in batch:
            key = (change.collection, change.source_id)
            held = newest.get(key)
            if held is None or (change.version or 0.0) >= (held.version or 0.0):
                newest[key] = change
        for collection in {change.collection for change in newest.values()}:
            await self.bank.ready(collection)
        versioned = [c for c in newest.values() if c.version is not None]
        claimed = await self._versions.claim_many(
            [(c.collection, c.source_id, c.version) for c in versioned if c.version is not None]
        )
        stale = {id(c) for c, ok in zip(versioned, claimed, strict=True) if not ok}
        live: list[_Change] = []
        for change in newest.values():
            if id(change) in stale:
                logger.info(
                    "memory: %s has a newer version than %s; ignored", change.source_id, change.version
                )
                continue
            live.append(change)
        for change in live:
            if change.text is None:
                await self.bank.forget(change.collection, change.source_id)
        texts = [(c.collection, c.text) for c in live if c.text is not None]
        if texts:
            await self.bank.remember_batch(texts)


@dataclass
class Ingestion:
    """What ``rag-ingestion`` jobs need: the batcher, the registry (for collections) and ClickUp."""

    batcher: IngestionBatcher
    sessionmaker: async_sessionmaker[AsyncSession]
    clickup: ClickUpClient | None
    summaries: ThreadSummaries | None = None

    _collections: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict, init=False)

    async def _collection(self, workgroup: str, project: str) -> str:
        """The project's collection, as the registry said at most ``COLLECTION_CACHE_SECONDS`` ago."""
        now = time.monotonic()
        cached = self._collections.get((workgroup, project))
        if cached is not None and now - cached[0] < COLLECTION_CACHE_SECONDS:
            return cached[1]
        async with self.sessionmaker() as session:
            collection = (await collection_for(session, workgroup, project)).collection
        if len(self._collections) >= _MAX_CACHED_PROJECTS:
            self._collections.clear()
        self._collections[(workgroup, project)] = (now, collection)
        return collection

    async def handle(self, name: str, data: dict[str, Any]) -> None:
        """Run one job; raises to be retried, :class:`Delayed` to wait for ClickUp's rate limit."""
        logger.debug("rag-ingestion %s job started", name)
        try:
            workgroup = str(data["workgroup"])
            if name == REMEMBER:
                text = text_from_job(data["text"])
                version = data.get("version")
                collection = await self._collection(workgroup, text.project_id)
                await self.batcher.remember(collection, text, None if version is None else float(version))
                if self.summaries is not None:
                    await self.summaries.counted(workgroup, text)
            elif name == FORGET:
                collection = await self._collection(workgroup, str(data["project"]))
                await self.batcher.forget(collection, str(data["source_id"]), float(data["version"]))
            elif name == CLICKUP_TASK:
                await self._clickup_task(workgroup, str(data["project"]), str(data["task_id"]))
            elif name == SUMMARIZE:
                await self._summarize(workgroup, data)
            else:
                logger.error("rag-ingestion job of unknown kind %r dropped", name)
        except ProjectNotRegistered as e:
            logger.info("memory: %s; rag-ingestion %s job dropped", e, name)
        except (KeyError, TypeError, ValueError) as e:
            logger.error("rag-ingestion %s job is malformed and is dropped: %r", name, e)

    async def _summarize(self, workgroup: str, data: dict[str, Any]) -> None:
        if self.summaries is None:
            return
        project, thread_ts = str(data["project"]), str(data["thread_ts"])
        task_id = None if data.get("task_id") is None else str(data["task_id"])
        try:
            text = await self.summaries.summary(
                workgroup, project, str(data["team"]), str(data["channel"]), thread_ts, task_id
            )
        except SlackRateLimited as e:
            raise Delayed(e.retry_after or 1.0, str(e)) from e
        if text is not None:
            await self.batcher.remember(await self._collection(workgroup, project), text, None)

    async def _clickup_task(self, workgroup: str, project: str, task_id: str) -> None:
        if self.clickup is None:
            logger.info("memory: OBLIVION_CLICKUP_TOKEN is unset; task %s is not read", task_id)
            return
        try:
            task = await self.clickup.get_task(task_id)
        except ClickUpRateLimited as e:
            raise Delayed(e.retry_after or 1.0, str(e)) from e
        except ClickUpApiError as e:
            if e.status == 404:
                logger.info("memory: task %s is gone from ClickUp; not remembered", task_id)
                return
            raise
        description = task.plain_description.strip()
        written = task.date_updated or task.date_created
        text = MemoryText(
            source_id=clickup_task_source_id(task.id),
            project_id=project,
            text=f"{task.name}\n\n{description}" if description else task.name,
            kind=MemoryKind.DESCRIPTION,
            source=MemorySource.CLICKUP,
            timestamp=written / 1000 if written else 0.0,
            author=task.creator.display_name if task.creator else None,
            task_id=task.id,
            link=task.url,
        )
        collection = await self._collection(workgroup, project)
        await self.batcher.remember(collection, text, None)
