"""The OpenAI-compatible embedder against a fake OpenAI embeddings endpoint over real HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from oblivion_nexus.integrations.embeddings import EmbeddingError, OpenAIEmbedder
from tests.fakes.openai_embeddings import DEFAULT_MODEL, FakeOpenAIEmbeddings, fake_vector
from tests.secret_logs import SecretRegistry


@pytest.fixture
def fake(secret_registry: SecretRegistry) -> Iterator[FakeOpenAIEmbeddings]:
    key = "sk-test-" + secrets.token_urlsafe(24)
    secret_registry.add(key)
    with FakeOpenAIEmbeddings(key=key, dimensions={DEFAULT_MODEL: 64}) as server:
        yield server


def _same_vectors(got: list[list[float]], want: list[list[float]]) -> bool:
    return len(got) == len(want) and all(g == pytest.approx(w) for g, w in zip(got, want, strict=True))


def _embedder(fake: FakeOpenAIEmbeddings, *, key: str | None = None, **kwargs: object) -> OpenAIEmbedder:
    options: dict[str, object] = {"dimension": 64, "batch_size": 3, **kwargs}
    return OpenAIEmbedder(
        base_url=fake.base_url,
        model=DEFAULT_MODEL,
        api_key=SecretStr(key if key is not None else fake.key),
        **options,  # type: ignore[arg-type]
    )


async def test_texts_are_sent_in_batches_and_vectors_come_back_in_input_order(
    fake: FakeOpenAIEmbeddings,
) -> None:
    fake.reverse_order = True  # the index field, not the list order, says which text a vector is for
    texts = [f"message {i}" for i in range(7)]
    embedder = _embedder(fake)
    try:
        vectors = await embedder.embed(texts)
    finally:
        await embedder.aclose()
    assert _same_vectors(vectors, [fake_vector(t, 64) for t in texts])
    assert [r.inputs for r in fake.requests] == [texts[0:3], texts[3:6], texts[6:7]]
    assert {r.model for r in fake.requests} == {DEFAULT_MODEL}


async def test_a_wrong_key_is_a_401_error_that_does_not_quote_the_key(fake: FakeOpenAIEmbeddings) -> None:
    wrong = "sk-wrong-" + secrets.token_urlsafe(24)
    embedder = _embedder(fake, key=wrong)
    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed(["hello"])
    await embedder.aclose()
    assert caught.value.status == 401
    assert caught.value.code == "invalid_api_key"
    assert not caught.value.retryable
    assert wrong[-4:] not in str(caught.value)
    assert wrong[:6] not in repr(caught.value)


async def test_a_rate_limit_carries_the_endpoints_retry_after(fake: FakeOpenAIEmbeddings) -> None:
    fake.rate_limit(1, retry_after="7")
    embedder = _embedder(fake)
    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed(["hello"])
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (
        429,
        "rate_limit_exceeded",
        7.0,
    )
    assert caught.value.retryable
    assert _same_vectors(await embedder.embed(["hello"]), [fake_vector("hello", 64)])
    await embedder.aclose()


async def test_a_server_error_is_retryable(fake: FakeOpenAIEmbeddings) -> None:
    fake.fail(1)
    embedder = _embedder(fake)
    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed(["hello"])
    await embedder.aclose()
    assert caught.value.status == 500
    assert caught.value.retryable


async def test_a_model_of_another_dimension_than_configured_is_a_clear_error(
    fake: FakeOpenAIEmbeddings,
) -> None:
    embedder = _embedder(fake, dimension=1536)
    with pytest.raises(EmbeddingError, match="returned 64-dimensional vectors, configured dimension is 1536"):
        await embedder.embed(["hello"])
    await embedder.aclose()


async def test_an_unreachable_endpoint_is_a_retryable_error_without_status() -> None:
    embedder = OpenAIEmbedder(base_url="http://127.0.0.1:9/v1", model="m", dimension=8, timeout=2.0)
    with pytest.raises(EmbeddingError, match="unreachable") as caught:
        await embedder.embed(["hello"])
    await embedder.aclose()
    assert caught.value.status is None
    assert caught.value.retryable
