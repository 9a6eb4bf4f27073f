"""The one error family of the Memory Bank's vector stores (Qdrant server or the embedded engine).

Callers catch :class:`VectorStoreError` to treat the store as down (retry ingestion, answer search
with 503) and :class:`VectorDimensionMismatch` to refuse a start-up whose embedder does not fit the
collections already written.
"""

from __future__ import annotations

from oblivion_nexus.errors import NexusError


class VectorStoreError(NexusError):
    """The vector store failed or refused an operation; ``collection`` names the collection if any."""

    def __init__(self, message: str, *, collection: str | None = None) -> None:
        super().__init__(message)
        self.collection = collection

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, collection={self.collection!r})"


class VectorDimensionMismatch(VectorStoreError):
    """The collection holds vectors of one size and the embedder makes another."""

    def __init__(self, collection: str, *, collection_dimension: int, embedder_dimension: int) -> None:
        super().__init__(
            f"collection {collection} holds {collection_dimension}-dimensional vectors but the embedding "
            f"model makes {embedder_dimension}-dimensional ones: configure the model the collection was "
            "built with, or re-index into a new collection",
            collection=collection,
        )
        self.collection_dimension = collection_dimension
        self.embedder_dimension = embedder_dimension


class CollectionLayoutError(VectorStoreError):
    """An existing collection lacks the named vectors the Memory Bank writes (``dense``, ``keywords``)."""


class UnscopedSearch(VectorStoreError):
    """A search or deletion without any project: refused, so nothing ever crosses a tenant boundary."""
