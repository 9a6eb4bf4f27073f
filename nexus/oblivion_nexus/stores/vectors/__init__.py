"""The Memory Bank's vector stores: Qdrant server (deployments) or Qdrant's engine in process (dev).

Both implement :class:`VectorStore` with the same collection layout, filters and tenant rules. The
implementations are imported from their modules (``.server``, ``.edge``) so a process loads only the
engine it uses.
"""

from __future__ import annotations

from oblivion_nexus.stores.vectors.base import (
    DENSE_VECTOR,
    KEYWORD_VECTOR,
    TENANT_FIELD,
    VectorStore,
    collection_name,
    project_collection_name,
)
from oblivion_nexus.stores.vectors.errors import (
    CollectionLayoutError,
    UnscopedSearch,
    VectorDimensionMismatch,
    VectorStoreError,
)
from oblivion_nexus.stores.vectors.points import (
    MemoryHit,
    MemoryKind,
    MemoryPoint,
    MemorySource,
    clickup_comment_source_id,
    clickup_task_source_id,
    point_id,
    slack_source_id,
)
from oblivion_nexus.stores.vectors.query import MemoryScope

__all__ = [
    "DENSE_VECTOR",
    "KEYWORD_VECTOR",
    "TENANT_FIELD",
    "CollectionLayoutError",
    "MemoryHit",
    "MemoryKind",
    "MemoryPoint",
    "MemoryScope",
    "MemorySource",
    "UnscopedSearch",
    "VectorDimensionMismatch",
    "VectorStore",
    "VectorStoreError",
    "clickup_comment_source_id",
    "clickup_task_source_id",
    "collection_name",
    "point_id",
    "project_collection_name",
    "slack_source_id",
]
