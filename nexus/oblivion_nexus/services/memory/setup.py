"""The Memory Bank a process uses, built from settings: which embedder, which vector store.

No Qdrant URL: the embedded engine under the data directory (one process, the worker, may open
it). No embedding URL: the local model.
"""

from __future__ import annotations

from oblivion_nexus.integrations.embeddings import Embedder, LocalEmbedder, OpenAIEmbedder
from oblivion_nexus.services.memory.bank import MemoryBank
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.vectors.base import VectorStore


def build_embedder(settings: NexusSettings) -> Embedder:
    if settings.memory.embedding_url is None:
        return LocalEmbedder()
    return OpenAIEmbedder(
        base_url=settings.memory.embedding_url,
        model=settings.memory.embedding_model,
        dimension=settings.memory.embedding_dimension,
        api_key=settings.memory.embedding_key,
        batch_size=settings.memory.embedding_batch_size,
    )


def build_vector_store(settings: NexusSettings) -> VectorStore:
    if settings.memory.qdrant_url is None:
        from oblivion_nexus.stores.vectors.edge import EmbeddedVectorStore

        return EmbeddedVectorStore(settings.memory.data_dir)
    from oblivion_nexus.stores.vectors.server import QdrantVectorStore

    return QdrantVectorStore.connect(settings.memory.qdrant_url, api_key=settings.memory.qdrant_api_key)


def build_memory_bank(settings: NexusSettings) -> MemoryBank:
    return MemoryBank(
        build_embedder(settings), build_vector_store(settings), hybrid=settings.memory.hybrid_search
    )
