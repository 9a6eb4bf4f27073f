"""The workgroups' Memory Bank collections in Qdrant: get-or-create, drift check, drop.

Qdrant is a server (URL) or, as the embedded default, a local directory. Nexus writes the points; the
operator only owns each collection's existence, vector parameters and payload indexes.
"""

from __future__ import annotations

import logging
import warnings

from qdrant_client import AsyncQdrantClient, models

from oblivion_operator.errors import ExternalError

logger = logging.getLogger(__name__)
SYSTEM = "Qdrant"

# Fields Nexus filters searches on; keyword for ids, float for the message time (epoch seconds).
PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType] = {
    "project_id": models.PayloadSchemaType.KEYWORD,
    "task_id": models.PayloadSchemaType.KEYWORD,
    "thread_ts": models.PayloadSchemaType.KEYWORD,
    "author": models.PayloadSchemaType.KEYWORD,
    "timestamp": models.PayloadSchemaType.FLOAT,
}


def collection_name(workgroup: str) -> str:
    return f"tenant_{workgroup}"


def project_collection_name(workgroup: str, project: str) -> str:
    """A project's own collection under ``memory.isolation: PerProject``.

    Both names are DNS labels (no ``_``), so ``__`` cannot be mistaken for part of either; at most
    7 + 60 + 2 + 63 = 132 characters, within Qdrant's 255, and only characters Qdrant allows.
    """
    return f"{collection_name(workgroup)}__{project}"


class QdrantStore:
    def __init__(
        self,
        *,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        check_compatibility: bool = True,
    ) -> None:
        if url:
            self._client = AsyncQdrantClient(
                url=url, api_key=api_key, check_compatibility=check_compatibility
            )
        else:
            self._client = AsyncQdrantClient(path=path)

    async def aclose(self) -> None:
        await self._client.close()

    async def exists(self, name: str) -> bool:
        try:
            return await self._client.collection_exists(name)
        except Exception as e:  # qdrant-client raises transport-specific errors
            raise ExternalError(SYSTEM, f"checking collection {name} failed: {e}") from e

    async def describe(self, name: str) -> tuple[int, str]:
        """The collection's vector size and distance (the embedded store reports no payload indexes)."""
        try:
            info = await self._client.get_collection(name)
        except Exception as e:
            raise ExternalError(SYSTEM, f"reading collection {name} failed: {e}") from e
        vectors = info.config.params.vectors
        if not isinstance(vectors, models.VectorParams):
            raise ExternalError(SYSTEM, f"collection {name} has named vectors, not the one Oblivion makes")
        return vectors.size, str(vectors.distance.value)

    async def ensure_collection(self, name: str, vector_size: int) -> bool:
        """Create the collection and its payload indexes unless it exists; True when it was created."""
        try:
            created = False
            if not await self._client.collection_exists(name):
                created = await self._client.create_collection(
                    name,
                    vectors_config=models.VectorParams(size=vector_size, distance=models.Distance.COSINE),
                )
            with warnings.catch_warnings():
                # the embedded store keeps but does not use payload indexes, and says so in a warning
                warnings.filterwarnings(
                    "ignore", message="Payload indexes have no effect", category=UserWarning
                )
                for field, schema in PAYLOAD_INDEXES.items():
                    await self._client.create_payload_index(name, field, field_schema=schema)
            return created
        except Exception as e:
            raise ExternalError(SYSTEM, f"creating collection {name} failed: {e}") from e

    async def drop_collection(self, name: str) -> None:
        try:
            await self._client.delete_collection(name)
        except Exception as e:
            raise ExternalError(SYSTEM, f"dropping collection {name} failed: {e}") from e
