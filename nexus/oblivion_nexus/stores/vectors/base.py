"""The interface both vector stores implement, and the collection layout they share.

A collection holds one dense vector (``dense``, cosine) and one sparse keyword vector (``keywords``,
Qdrant's IDF modifier) per point, and keyword payload indexes on the fields searches filter on, with
``project_id`` marked as the tenant field (Qdrant's multitenancy guide: it co-locates a tenant's
points and lets the engine plan a filtered search per tenant).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from oblivion_nexus.stores.vectors.points import MemoryHit, MemoryPoint
from oblivion_nexus.stores.vectors.query import MemoryScope

DENSE_VECTOR = "dense"
KEYWORD_VECTOR = "keywords"
TENANT_FIELD = "project_id"
KEYWORD_INDEXES = ("task_id", "thread_ts", "author", "kind", "source_id")
FLOAT_INDEXES = ("timestamp",)
INTEGER_INDEXES = ("chunk",)


def collection_name(workgroup: str) -> str:
    """A workgroup's collection, as the operator names it."""
    return f"tenant_{workgroup}"


def project_collection_name(workgroup: str, project: str) -> str:
    """A project's own collection under ``memory.isolation: PerProject``, as the operator names it."""
    return f"{collection_name(workgroup)}__{project}"


class VectorStore(Protocol):
    """Where Memory Bank points live; every read and delete is scoped by project ids server-side."""

    async def ensure_collection(self, collection: str, dimension: int) -> bool:
        """Create ``collection`` for ``dimension``-sized vectors unless it exists (True when created).

        An existing collection of another dimension raises :class:`VectorDimensionMismatch`.
        """
        ...

    async def collection_dimension(self, collection: str) -> int | None:
        """The dense vector size of ``collection``, or None when it does not exist."""
        ...

    async def upsert(self, collection: str, points: Sequence[tuple[MemoryPoint, Sequence[float]]]) -> None:
        """Write points with their dense vectors (the keyword vector is made from the text)."""
        ...

    async def search(
        self,
        collection: str,
        scope: MemoryScope,
        *,
        dense: Sequence[float],
        text: str | None,
        limit: int,
    ) -> list[MemoryHit]:
        """The best ``limit`` points in ``scope``: dense only, or fused with keywords when ``text``."""
        ...

    async def delete_ids(self, collection: str, ids: Sequence[str]) -> None: ...

    async def delete_source(self, collection: str, source_id: str, *, from_chunk: int = 0) -> None:
        """Remove a source's chunks from ``from_chunk`` on (a deletion, or an edit that got shorter)."""
        ...

    async def delete_author(self, collection: str, author: str) -> None:
        """Forget everything ``author`` wrote (a departing person's data request)."""
        ...

    async def delete_project(self, collection: str, project_id: str) -> None: ...

    async def count(self, collection: str, scope: MemoryScope | None = None) -> int: ...

    async def list_collections(self) -> list[str]: ...

    async def aclose(self) -> None: ...
