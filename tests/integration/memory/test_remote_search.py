"""The API's searches through the worker that owns the embedded engine, over real Redis: answered
while a worker serves, refused at once (not after the timeout) while none does, and a restart's gap
bridged."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from oblivion_nexus.integrations.embeddings import LocalEmbedder
from oblivion_nexus.services.memory import MemoryBank
from oblivion_nexus.services.memory.errors import MemoryUnavailable
from oblivion_nexus.services.memory.remote import RemoteSearcher, SearchServer
from oblivion_nexus.services.memory.search import BankSearcher
from oblivion_nexus.stores.vectors.edge import EmbeddedVectorStore
from tests.support.waiting import eventually


async def test_a_search_is_refused_at_once_while_no_worker_serves_and_answered_while_one_does(
    redis_url: str, tmp_path: Path
) -> None:
    prefix = f"oblivion-test-{uuid.uuid4().hex[:8]}"
    api, worker = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    # A timeout far beyond the test's own: a refusal that waited for it would fail the test.
    remote = RemoteSearcher(api, prefix, timeout=600)
    embedder = LocalEmbedder()
    embedder.load()
    bank = MemoryBank(embedder, EmbeddedVectorStore(tmp_path))
    await bank.ensure_collection("tenant_backend")
    try:
        with pytest.raises(MemoryUnavailable, match="no worker is serving the Memory Bank") as refused:
            await remote.count({"tenant_backend": ["api"]})
        assert refused.value.retry_after is not None
        async with SearchServer(worker, prefix, BankSearcher(bank, timeout=5)).running():

            async def answered() -> dict[str, int] | None:
                try:
                    return await remote.count({"tenant_backend": ["api"]})
                except MemoryUnavailable:  # until the server's first poll marks it present
                    return None

            assert await eventually(answered, what="the worker's answer") == {"api": 0}
        # Stopped: its presence outlives it a few seconds (a restart's gap), then searches are refused
        # at once again.
        briefly = RemoteSearcher(api, prefix, timeout=1)

        async def refused_at_once() -> bool:
            try:
                await briefly.count({"tenant_backend": ["api"]})
            except MemoryUnavailable as e:
                return "no worker" in str(e)
            return False

        assert await eventually(refused_at_once, timeout=15, what="searches refused once the worker is gone")
    finally:
        await bank.store.aclose()
        for client in (api, worker):
            await client.delete(f"{prefix}:memory:search:server", f"{prefix}:memory:search:requests")
            await client.aclose()
