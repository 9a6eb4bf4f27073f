"""Remember, search and forget project memory: chunking, embedding and the vector store, composed.

Ingestion hands over :class:`MemoryText` items (a Slack message, a ClickUp description or comment)
and the search route hands over a scope and a question; both name the collection, which the
registry knows (the workgroup's, or a project's own under ``PerProject`` isolation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from oblivion_nexus.integrations.embeddings import Embedder
from oblivion_nexus.services.memory.chunking import chunk_text
from oblivion_nexus.stores.vectors import (
    MemoryHit,
    MemoryKind,
    MemoryPoint,
    MemoryScope,
    MemorySource,
    VectorDimensionMismatch,
)
from oblivion_nexus.stores.vectors.base import VectorStore

logger = logging.getLogger(__name__)

# Slack caps a message at 40,000 characters; a ClickUp description past 100,000 is a pasted log or
# document, which would cost hundreds of embeddings and drown the project's conversation.
MAX_TEXT_CHARS = 100_000
MAX_QUERY_CHARS = 2_000
MAX_LIMIT = 50


@dataclass(frozen=True, slots=True)
class MemoryText:
    """One source text to remember; ``source_id`` from the ``*_source_id`` helpers of the store."""

    source_id: str
    project_id: str
    text: str
    kind: MemoryKind
    source: MemorySource
    timestamp: float
    author: str | None = None
    task_id: str | None = None
    thread_ts: str | None = None
    link: str | None = None

    def chunks(self) -> list[MemoryPoint]:
        return [
            MemoryPoint(
                source_id=self.source_id,
                chunk=number,
                project_id=self.project_id,
                text=chunk,
                kind=self.kind,
                source=self.source,
                timestamp=self.timestamp,
                author=self.author,
                task_id=self.task_id,
                thread_ts=self.thread_ts,
                link=self.link,
            )
            for number, chunk in enumerate(chunk_text(self.text))
        ]


@dataclass(frozen=True, slots=True)
class Remembered:
    points: int
    skipped: tuple[tuple[str, str], ...]  # (source_id, reason)


def check_search(query: str, limit: int) -> str:
    """``query`` stripped, or ValueError saying what is wrong with the search."""
    query = query.strip()
    if not query:
        raise ValueError("query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(f"query is longer than {MAX_QUERY_CHARS} characters")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return query


class MemoryBank:
    def __init__(self, embedder: Embedder, store: VectorStore, *, hybrid: bool = False) -> None:
        self.embedder = embedder
        self.store = store
        self.hybrid = hybrid
        self._ready: set[str] = set()

    async def ready(self, collection: str) -> None:
        """Make sure ``collection`` exists for this embedder, once per process (see
        :meth:`ensure_collection`)."""
        if collection not in self._ready:
            await self.ensure_collection(collection)
            self._ready.add(collection)

    async def check_collection(self, collection: str) -> None:
        """Raise :class:`VectorDimensionMismatch` when ``collection`` exists for another embedder."""
        await self._exists(collection)

    async def _exists(self, collection: str) -> bool:
        if collection in self._ready:
            return True
        dimension = await self.store.collection_dimension(collection)
        if dimension is None:
            return False
        if dimension != self.embedder.dimension:
            raise VectorDimensionMismatch(
                collection, collection_dimension=dimension, embedder_dimension=self.embedder.dimension
            )
        return True

    async def ensure_collection(self, collection: str) -> bool:
        """Create ``collection`` (embedded mode) or check it: a dimension other than the embedder's
        raises :class:`~oblivion_nexus.stores.vectors.VectorDimensionMismatch`."""
        return await self.store.ensure_collection(collection, self.embedder.dimension)

    async def remember(self, collection: str, texts: Sequence[MemoryText]) -> Remembered:
        """Embed and store ``texts`` (an existing source is overwritten; fewer chunks than before
        drop the rest). Empty and oversized texts are skipped with the reason logged."""
        return await self.remember_batch([(collection, item) for item in texts])

    async def remember_batch(self, texts: Sequence[tuple[str, MemoryText]]) -> Remembered:
        """:meth:`remember` for texts of several collections, embedded in one call."""
        points: list[tuple[str, MemoryPoint]] = []
        skipped: list[tuple[str, str]] = []
        for collection, item in texts:
            reason = None
            if len(item.text) > MAX_TEXT_CHARS:
                reason = f"longer than {MAX_TEXT_CHARS} characters"
            chunks = [] if reason else item.chunks()
            if not reason and not chunks:
                reason = "no text"
            if reason:
                logger.info("memory: skipping %s: %s", item.source_id, reason)
                skipped.append((item.source_id, reason))
                continue
            points.extend((collection, chunk) for chunk in chunks)
        if points:
            vectors = await self.embedder.embed([p.text for _, p in points])
            by_collection: dict[str, list[tuple[MemoryPoint, Sequence[float]]]] = {}
            for (collection, point), vector in zip(points, vectors, strict=True):
                by_collection.setdefault(collection, []).append((point, vector))
            for collection, written in by_collection.items():
                await self.store.upsert(collection, written)
        lengths: dict[tuple[str, str], int] = {}
        for collection, p in points:
            key = (collection, p.source_id)
            lengths[key] = max(lengths.get(key, 0), p.chunk + 1)
        for (collection, source_id), count in lengths.items():
            await self.store.delete_source(collection, source_id, from_chunk=count)
        return Remembered(points=len(points), skipped=tuple(skipped))

    async def forget(self, collection: str, source_id: str) -> None:
        """A deleted message or comment: all its chunks go."""
        await self.store.delete_source(collection, source_id)

    async def forget_author(self, author: str) -> list[str]:
        """Every point ``author`` wrote, in every collection; returns the collections searched."""
        collections = await self.store.list_collections()
        for collection in collections:
            await self.store.delete_author(collection, author)
        return collections

    async def drop_project(self, collection: str, project_id: str) -> None:
        await self.store.delete_project(collection, project_id)

    async def search(
        self, collection: str, scope: MemoryScope, query: str, *, limit: int = 8
    ) -> list[MemoryHit]:
        """The ``limit`` best chunks in ``scope`` for ``query``: by vector similarity, fused with
        keyword matching when the bank was made with ``hybrid=True``."""
        query = check_search(query, limit)
        if not await self._exists(collection):
            return []  # nothing was remembered there yet
        [dense] = await self.embedder.embed([query])
        return await self.store.search(
            collection, scope, dense=dense, text=query if self.hybrid else None, limit=limit
        )

    async def aclose(self) -> None:
        await self.store.aclose()
        await self.embedder.aclose()
