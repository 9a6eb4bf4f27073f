"""Whether the Memory Bank's collections fit its embedding model, as ``/readyz`` reports it.

The worker checks every registered collection against its embedder when it starts and writes what it
found under one Redis key, replacing what an earlier start wrote: a worker restarted with the right
model (or with the collection re-indexed) clears it. Nothing here expires or changes between two
starts, so readiness does not flip back and forth while nothing changed. No record at all (no worker
has started yet) counts as fitting: the API serves webhooks and the registry without a worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from oblivion_nexus.stores.vectors import VectorDimensionMismatch


@dataclass(frozen=True, slots=True)
class DimensionMismatch:
    collection: str
    collection_dimension: int
    embedder_dimension: int

    def describe(self) -> str:
        return (
            f"collection {self.collection} holds {self.collection_dimension}-dimensional vectors but the "
            f"worker's embedding model makes {self.embedder_dimension}-dimensional ones"
        )


FIX = (
    "configure the embedding model the collection was built with (OBLIVION_MEMORY_EMBEDDING_*), or "
    "re-index into a new collection, then restart the worker"
)


class DimensionCheck:
    """The outcome of the worker's last start-up check of the collections."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._key = f"{prefix}:memory:dimension-check"

    async def record(self, mismatches: Iterable[VectorDimensionMismatch]) -> None:
        found = [
            {
                "collection": m.collection,
                "collectionDimension": m.collection_dimension,
                "embedderDimension": m.embedder_dimension,
            }
            for m in mismatches
        ]
        await self._redis.set(self._key, json.dumps({"at": time.time(), "mismatches": found}))

    async def mismatches(self) -> list[DimensionMismatch]:
        """What the last check found (nothing when no worker has checked yet)."""
        raw = await self._redis.get(self._key)
        if raw is None:
            return []
        stored: dict[str, Any] = json.loads(raw)
        return [
            DimensionMismatch(
                str(m["collection"]), int(m["collectionDimension"]), int(m["embedderDimension"])
            )
            for m in stored.get("mismatches", [])
        ]


def readiness_message(mismatches: list[DimensionMismatch]) -> str:
    """``ok``, or what is wrong and how to fix it."""
    if not mismatches:
        return "ok"
    return "; ".join(m.describe() for m in mismatches) + f": {FIX}"
