"""``/readyz`` reports the Memory Bank degraded, naming both dimensions and the fix, while the
worker's embedding model does not fit a collection it found at start-up (a 200: the replica keeps
serving webhooks); ready before any worker started and again once a worker with the right model
starts."""

from __future__ import annotations

from pydantic import SecretStr

from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.worker import running_worker
from tests.fakes.openai_embeddings import DEFAULT_MODEL, FakeOpenAIEmbeddings
from tests.secret_logs import SecretRegistry
from tests.support.memory import build_memory_world, found_texts
from tests.support.taskflow import FlowStack
from tests.support.waiting import eventually


async def _readiness(stack: FlowStack) -> tuple[int, str, dict[str, str]]:
    response = await stack.http.get(f"{stack.nexus.url}/readyz")
    body = response.json()
    return response.status_code, body["status"], dict(body["checks"])


def _with_64_dimension_embedder(settings: NexusSettings, embeddings: FakeOpenAIEmbeddings) -> NexusSettings:
    memory = settings.memory.model_copy(
        update={
            "embedding_url": embeddings.base_url,
            "embedding_key": SecretStr(embeddings.key),
            "embedding_model": DEFAULT_MODEL,
            "embedding_dimension": 64,
        }
    )
    return settings.model_copy(update={"memory": memory})


async def test_readyz_is_degraded_while_the_worker_model_does_not_fit_a_collection_and_recovers(
    stack: FlowStack, secret_registry: SecretRegistry
) -> None:
    world = await build_memory_world(stack, secret_registry)
    assert await _readiness(stack) == (200, "ready", {"postgres": "ok", "redis": "ok", "memory": "ok"})
    async with running_worker(stack.settings):
        await world.say(stack.channel_id, "Made with the local model")

        async def made() -> bool:
            return any("local model" in t for t in await found_texts(world.auth_agent, "local model"))

        await eventually(made, what="the collection made by the local model")
    assert (await _readiness(stack))[:2] == (200, "ready")

    with FakeOpenAIEmbeddings(dimensions={DEFAULT_MODEL: 64}) as embeddings:
        async with running_worker(_with_64_dimension_embedder(stack.settings, embeddings)):

            async def degraded() -> dict[str, str] | None:
                code, status, checks = await _readiness(stack)
                return checks if (code, status) == (200, "degraded") else None

            checks = await eventually(degraded, what="/readyz to report the mismatch")
    memory = checks["memory"]
    assert "collection tenant_backend holds 384-dimensional vectors" in memory
    assert "embedding model makes 64-dimensional ones" in memory
    assert "configure the embedding model the collection was built with" in memory
    assert checks["postgres"] == checks["redis"] == "ok"
    # The worker is gone but what it found stays: the report does not flap back to ready.
    for _ in range(3):
        assert (await _readiness(stack))[:2] == (200, "degraded")

    async with running_worker(stack.settings):

        async def ready_again() -> bool:
            return await _readiness(stack) == (
                200,
                "ready",
                {"postgres": "ok", "redis": "ok", "memory": "ok"},
            )

        await eventually(ready_again, what="/readyz ready once a worker with the right model started")
