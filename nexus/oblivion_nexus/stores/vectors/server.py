"""The vector store of deployments: a Qdrant server through qdrant-client's async API.

The operator makes each workgroup's collection (``tenant_<wg>``) and, under ``PerProject`` isolation,
each project's; Nexus checks the layout and writes points. Every search and count carries the
project filter, evaluated by the server against the ``is_tenant`` index on ``project_id``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from pydantic import SecretStr
from qdrant_client import AsyncQdrantClient, models

from oblivion_nexus.stores.vectors.base import (
    DENSE_VECTOR,
    FLOAT_INDEXES,
    INTEGER_INDEXES,
    KEYWORD_INDEXES,
    KEYWORD_VECTOR,
    TENANT_FIELD,
)
from oblivion_nexus.stores.vectors.errors import (
    CollectionLayoutError,
    VectorDimensionMismatch,
    VectorStoreError,
)
from oblivion_nexus.stores.vectors.keywords import document_vector, query_vector
from oblivion_nexus.stores.vectors.points import MemoryHit, MemoryPoint
from oblivion_nexus.stores.vectors.query import RRF_K, MemoryScope, prefetch_limit

_T = TypeVar("_T")


def _scope_filter(scope: MemoryScope) -> models.Filter:
    must: list[models.Condition] = [
        models.FieldCondition(key=TENANT_FIELD, match=models.MatchAny(any=list(scope.projects)))
    ]
    if scope.task_id is not None:
        must.append(models.FieldCondition(key="task_id", match=models.MatchValue(value=scope.task_id)))
    if scope.kinds:
        kinds = [k.value for k in scope.kinds]
        must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=kinds)))
    if scope.since is not None or scope.until is not None:
        must.append(
            models.FieldCondition(key="timestamp", range=models.Range(gte=scope.since, lte=scope.until))
        )
    return models.Filter(must=must)


def _field_filter(key: str, value: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key=key, match=models.MatchValue(value=value))])


def _indexes() -> dict[str, models.PayloadSchemaType | models.KeywordIndexParams]:
    schema: dict[str, models.PayloadSchemaType | models.KeywordIndexParams] = {
        TENANT_FIELD: models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    }
    schema.update({f: models.PayloadSchemaType.KEYWORD for f in KEYWORD_INDEXES})
    schema.update({f: models.PayloadSchemaType.FLOAT for f in FLOAT_INDEXES})
    schema.update({f: models.PayloadSchemaType.INTEGER for f in INTEGER_INDEXES})
    return schema


class QdrantVectorStore:
    """:class:`~oblivion_nexus.stores.vectors.base.VectorStore` on a Qdrant server."""

    def __init__(self, client: AsyncQdrantClient) -> None:
        self._client = client

    @classmethod
    def connect(
        cls, url: str, *, api_key: SecretStr | None = None, timeout: float = 10.0
    ) -> QdrantVectorStore:
        key = api_key.get_secret_value() if api_key is not None else None
        # The client's version check runs in a background thread that can only warn; start-up checks
        # each collection Nexus uses instead (ensure_collection), which fails with a clear error.
        return cls(AsyncQdrantClient(url=url, api_key=key, timeout=int(timeout), check_compatibility=False))

    async def _call(self, collection: str | None, what: str, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except Exception as e:  # qdrant-client raises transport- and mode-specific errors
            where = f" in collection {collection}" if collection else ""
            raise VectorStoreError(f"Qdrant {what}{where} failed: {e}", collection=collection) from e

    async def collection_dimension(self, collection: str) -> int | None:
        if not await self._call(collection, "lookup", self._client.collection_exists(collection)):
            return None
        info = await self._call(collection, "lookup", self._client.get_collection(collection))
        vectors = info.config.params.vectors
        sparse = info.config.params.sparse_vectors or {}
        if not isinstance(vectors, dict) or DENSE_VECTOR not in vectors or KEYWORD_VECTOR not in sparse:
            raise CollectionLayoutError(
                f"collection {collection} lacks the named vectors {DENSE_VECTOR!r} (dense) and "
                f"{KEYWORD_VECTOR!r} (sparse, IDF) the Memory Bank writes",
                collection=collection,
            )
        return int(vectors[DENSE_VECTOR].size)

    async def ensure_collection(self, collection: str, dimension: int) -> bool:
        existing = await self.collection_dimension(collection)
        if existing is not None:
            if existing != dimension:
                raise VectorDimensionMismatch(
                    collection, collection_dimension=existing, embedder_dimension=dimension
                )
            return False
        await self._call(
            collection,
            "create",
            self._client.create_collection(
                collection,
                vectors_config={
                    DENSE_VECTOR: models.VectorParams(size=dimension, distance=models.Distance.COSINE)
                },
                sparse_vectors_config={
                    KEYWORD_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
            ),
        )
        for field, schema in _indexes().items():
            await self._call(
                collection, "index", self._client.create_payload_index(collection, field, field_schema=schema)
            )
        return True

    async def upsert(self, collection: str, points: Sequence[tuple[MemoryPoint, Sequence[float]]]) -> None:
        if not points:
            return
        structs = []
        for point, dense in points:
            keywords = document_vector(point.text)
            vector: dict[str, Any] = {
                DENSE_VECTOR: [float(x) for x in dense],
                KEYWORD_VECTOR: models.SparseVector(
                    indices=list(keywords.indices), values=list(keywords.values)
                ),
            }
            structs.append(models.PointStruct(id=point.id, vector=vector, payload=point.payload()))
        await self._call(collection, "upsert", self._client.upsert(collection, structs, wait=True))

    async def search(
        self,
        collection: str,
        scope: MemoryScope,
        *,
        dense: Sequence[float],
        text: str | None,
        limit: int,
    ) -> list[MemoryHit]:
        flt = _scope_filter(scope)
        vector = [float(x) for x in dense]
        if text is None:
            call = self._client.query_points(
                collection, query=vector, using=DENSE_VECTOR, query_filter=flt, limit=limit, with_payload=True
            )
        else:
            keywords = query_vector(text)
            sparse = models.SparseVector(indices=list(keywords.indices), values=list(keywords.values))
            candidates = prefetch_limit(limit)
            call = self._client.query_points(
                collection,
                prefetch=[
                    models.Prefetch(query=vector, using=DENSE_VECTOR, filter=flt, limit=candidates),
                    models.Prefetch(query=sparse, using=KEYWORD_VECTOR, filter=flt, limit=candidates),
                ],
                query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                query_filter=flt,
                limit=limit,
                with_payload=True,
            )
        found = await self._call(collection, "search", call)
        return [MemoryHit(MemoryPoint.from_payload(p.payload or {}), float(p.score)) for p in found.points]

    async def _delete(self, collection: str, selector: models.PointsSelector) -> None:
        await self._call(collection, "delete", self._client.delete(collection, selector, wait=True))

    async def delete_ids(self, collection: str, ids: Sequence[str]) -> None:
        if ids:
            await self._delete(collection, models.PointIdsList(points=list(ids)))

    async def delete_source(self, collection: str, source_id: str, *, from_chunk: int = 0) -> None:
        flt = models.Filter(
            must=[
                models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id)),
                models.FieldCondition(key="chunk", range=models.Range(gte=from_chunk)),
            ]
        )
        await self._delete(collection, models.FilterSelector(filter=flt))

    async def delete_author(self, collection: str, author: str) -> None:
        await self._delete(collection, models.FilterSelector(filter=_field_filter("author", author)))

    async def delete_project(self, collection: str, project_id: str) -> None:
        await self._delete(collection, models.FilterSelector(filter=_field_filter(TENANT_FIELD, project_id)))

    async def count(self, collection: str, scope: MemoryScope | None = None) -> int:
        flt = _scope_filter(scope) if scope is not None else None
        result = await self._call(
            collection, "count", self._client.count(collection, count_filter=flt, exact=True)
        )
        return int(result.count)

    async def list_collections(self) -> list[str]:
        answer = await self._call(None, "listing collections", self._client.get_collections())
        return sorted(c.name for c in answer.collections)

    async def aclose(self) -> None:
        await self._client.close()
