"""The local model: runs from the installed packages, offline, and refuses a changed model file."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from oblivion_nexus.integrations.embeddings import (
    LOCAL_DIMENSION,
    EmbeddingError,
    LocalEmbedder,
    default_local_model_files,
)


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_paraphrases_are_closer_than_unrelated_text_and_vectors_are_unit_length() -> None:
    embedder = LocalEmbedder()
    broken, paraphrase, unrelated = await embedder.embed(
        [
            "The deploy to production failed because the database connection was reset",
            "Our release broke: the DB connection kept dropping",
            "Who is bringing cake to the team lunch on Friday?",
        ]
    )
    await embedder.aclose()
    assert len(broken) == LOCAL_DIMENSION
    assert math.isclose(math.sqrt(_cosine(broken, broken)), 1.0, abs_tol=1e-5)
    assert _cosine(broken, paraphrase) > _cosine(broken, unrelated) + 0.3


async def test_a_text_gets_the_same_vector_alone_and_in_a_batch() -> None:
    embedder = LocalEmbedder(token_budget=64)
    texts = ["short", "a somewhat longer message about invoices and refunds", "mid length text", "x"]
    together = await embedder.embed(texts)
    alone = [(await embedder.embed([t]))[0] for t in texts]
    await embedder.aclose()
    for a, b in zip(together, alone, strict=True):
        assert _cosine(a, b) > 0.9999


async def test_a_changed_model_file_is_refused_at_load(tmp_path: Path) -> None:
    model, tokenizer = default_local_model_files()
    tampered = tmp_path / "model.onnx"
    shutil.copyfile(model, tampered)
    with tampered.open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    embedder = LocalEmbedder(model_path=tampered, tokenizer_path=tokenizer)
    with pytest.raises(EmbeddingError, match="refusing a changed model file") as caught:
        await embedder.embed(["hello"])
    assert caught.value.code == "checksum_mismatch"


async def test_a_missing_tokenizer_file_is_a_clear_error(tmp_path: Path) -> None:
    model, _ = default_local_model_files()
    embedder = LocalEmbedder(model_path=model, tokenizer_path=tmp_path / "tokenizer.json")
    with pytest.raises(EmbeddingError, match=r"cannot read .*tokenizer\.json"):
        await embedder.embed(["hello"])
