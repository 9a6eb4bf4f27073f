"""Memory settings choose the parts: nothing configured means no server and no network."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from oblivion_nexus.integrations.embeddings import LOCAL_DIMENSION, LocalEmbedder, OpenAIEmbedder
from oblivion_nexus.services.memory.setup import build_memory_bank
from oblivion_nexus.settings import SettingsError, load_settings
from oblivion_nexus.stores.vectors.edge import EmbeddedVectorStore
from oblivion_nexus.stores.vectors.server import QdrantVectorStore

_REQUIRED = {
    "OBLIVION_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/oblivion",
    "OBLIVION_ADMIN_TOKEN": "adm-" + secrets.token_urlsafe(16),
    "OBLIVION_JWT_SIGNING_KEY": secrets.token_urlsafe(48),
    "OBLIVION_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
}


async def test_without_urls_the_bank_uses_the_local_model_and_the_embedded_engine(tmp_path: Path) -> None:
    bank = build_memory_bank(load_settings({**_REQUIRED, "OBLIVION_MEMORY_DATA_DIR": str(tmp_path)}))
    assert isinstance(bank.embedder, LocalEmbedder)
    assert bank.embedder.dimension == LOCAL_DIMENSION
    assert isinstance(bank.store, EmbeddedVectorStore)
    assert bank.hybrid is False  # until hybrid measures better (bench/memory.py)
    await bank.store.aclose()


async def test_configured_urls_select_the_endpoint_and_the_qdrant_server() -> None:
    settings = load_settings(
        {
            **_REQUIRED,
            "OBLIVION_MEMORY_QDRANT_URL": "http://qdrant:6333",
            "OBLIVION_MEMORY_EMBEDDING_URL": "http://vllm:8000/v1",
            "OBLIVION_MEMORY_EMBEDDING_MODEL": "bge-small-en",
            "OBLIVION_MEMORY_EMBEDDING_DIMENSION": "384",
        }
    )
    bank = build_memory_bank(settings)
    assert isinstance(bank.embedder, OpenAIEmbedder)
    assert (bank.embedder.model, bank.embedder.dimension) == ("bge-small-en", 384)
    assert isinstance(bank.store, QdrantVectorStore)
    await bank.embedder.aclose()
    await bank.store.aclose()


def test_a_bad_embedding_dimension_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OBLIVION_MEMORY_EMBEDDING_DIMENSION", "0")
    with pytest.raises(SettingsError, match="OBLIVION_MEMORY_EMBEDDING_DIMENSION"):
        load_settings()
