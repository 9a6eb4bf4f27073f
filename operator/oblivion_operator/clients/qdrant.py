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

# The layout Nexus's Memory Bank writes and searches (its stores/vectors/base.py; the operator cannot
# import Nexus, so tests/integration/memory/test_operator_collections.py holds the two together): a
# named dense vector, a sparse keyword vector weighted by IDF, and the payload indexes searches filter
# on, project_id being the tenant field (Qdrant's multitenancy guide: ``is_tenant``).
DENSE_VECTOR = "dense"
KEYWORD_VECTOR = "keywords"
TENANT_INDEX = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
    "project_id": TENANT_INDEX,
    "task_id": models.PayloadSchemaType.KEYWORD,
    "thread_ts": models.PayloadSchemaType.KEYWORD,
    "author": models.PayloadSchemaType.KEYWORD,
    "kind": models.PayloadSchemaType.KEYWORD,
    "source_id": models.PayloadSchemaType.KEYWORD,
    "timestamp": models.PayloadSchemaType.FLOAT,
    "chunk": models.PayloadSchemaType.INTEGER,
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
        """The collection's dense vector size and distance (the embedded store reports no payload
        indexes); a collection in another layout is an error naming it."""
        try:
            info = await self._client.get_collection(name)
        except Exception as e:
            raise ExternalError(SYSTEM, f"reading collection {name} failed: {e}") from e
        vectors = info.config.params.vectors
        sparse = info.config.params.sparse_vectors or {}
        if not isinstance(vectors, dict) or DENSE_VECTOR not in vectors or KEYWORD_VECTOR not in sparse:
            raise ExternalError(
                SYSTEM,
                f"collection {name} lacks the named vectors {DENSE_VECTOR!r} and {KEYWORD_VECTOR!r} "
                "(sparse) that the Memory Bank writes",
            )
        return vectors[DENSE_VECTOR].size, str(vectors[DENSE_VECTOR].distance.value)

    async def ensure_collection(self, name: str, vector_size: int) -> bool:
        """Create the collection and its payload indexes unless it exists; True when it was created.

        A collection an earlier operator made (one unnamed vector) is made again in the Memory Bank's
        layout while it is empty, as it is (nothing wrote to it then); one with points is left alone
        and reported."""
        try:
            if await self._client.collection_exists(name) and await self._legacy_layout(name):
                if (await self._client.count(name, exact=True)).count:
                    raise ExternalError(
                        SYSTEM,
                        f"collection {name} has points in an earlier operator's single-vector layout; "
                        "move them out (or drop it) so it can be made in the Memory Bank's",
                    )
                await self._client.delete_collection(name)
                logger.info("collection %s was in an earlier operator's layout; making it again", name)
            created = False
            if not await self._client.collection_exists(name):
                created = await self._client.create_collection(
                    name,
                    vectors_config={
                        DENSE_VECTOR: models.VectorParams(size=vector_size, distance=models.Distance.COSINE)
                    },
                    sparse_vectors_config={
                        KEYWORD_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                    },
                )
            with warnings.catch_warnings():
                # the embedded store keeps but does not use payload indexes, and says so in a warning
                warnings.filterwarnings(
                    "ignore", message="Payload indexes have no effect", category=UserWarning
                )
                for field, schema in PAYLOAD_INDEXES.items():
                    await self._client.create_payload_index(name, field, field_schema=schema)
            return created
        except ExternalError:
            raise
        except Exception as e:
            raise ExternalError(SYSTEM, f"creating collection {name} failed: {e}") from e

    async def _legacy_layout(self, name: str) -> bool:
        info = await self._client.get_collection(name)
        return isinstance(info.config.params.vectors, models.VectorParams)

    async def drop_collection(self, name: str) -> None:
        try:
            await self._client.delete_collection(name)
        except Exception as e:
            raise ExternalError(SYSTEM, f"dropping collection {name} failed: {e}") from e
