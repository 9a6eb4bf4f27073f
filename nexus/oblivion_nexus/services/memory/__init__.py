"""The Memory Bank: remembering project messages and texts as searchable points, and searching them.

:class:`MemoryBank` is what ingestion and the search route call; it composes an embedder
(``integrations.embeddings``) and a vector store (``stores.vectors``).
"""

from __future__ import annotations

from oblivion_nexus.services.memory.bank import MemoryBank, MemoryText
from oblivion_nexus.services.memory.chunking import chunk_text
from oblivion_nexus.services.memory.collections import (
    ProjectCollection,
    ProjectNotRegistered,
    collection_for,
    collections_of,
)

__all__ = [
    "MemoryBank",
    "MemoryText",
    "ProjectCollection",
    "ProjectNotRegistered",
    "chunk_text",
    "collection_for",
    "collections_of",
]
