"""Both vector stores keep the same promises: tenant isolation, overwrite, forgetting, dimensions.

The embedded store runs Qdrant's engine (qdrant-edge) for real. No Qdrant server can be installed on
this machine (no Debian or PyPI package ships one), so the server store runs against qdrant-client's
local mode, which implements the same client API and query semantics in Python: this checks our
requests (collections, filters, prefetch and fusion, selectors), not the server's network handling.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient, models

from oblivion_nexus.stores.vectors import (
    CollectionLayoutError,
    MemoryKind,
    MemoryPoint,
    MemoryScope,
    MemorySource,
    VectorDimensionMismatch,
    VectorStore,
    VectorStoreError,
    slack_source_id,
)
from oblivion_nexus.stores.vectors.edge import EmbeddedVectorStore
from oblivion_nexus.stores.vectors.server import QdrantVectorStore
from oblivion_operator.clients.qdrant import QdrantStore

DIM = 8
COLLECTION = "tenant_backend"


def _vector(*hot: int) -> list[float]:
    return [1.0 if i in hot else 0.0 for i in range(DIM)]


def _point(
    ts: str, project: str, text: str, *, author: str = "U1", chunk: int = 0, **kw: object
) -> MemoryPoint:
    return MemoryPoint(
        source_id=slack_source_id("T1", f"C-{project}", ts),
        chunk=chunk,
        project_id=project,
        text=text,
        kind=kw.pop("kind", MemoryKind.MESSAGE),  # type: ignore[arg-type]
        source=MemorySource.SLACK,
        timestamp=float(ts),
        author=author,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["embedded", "server-api"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    made: VectorStore
    if request.param == "embedded":
        made = EmbeddedVectorStore(tmp_path)
    else:
        made = QdrantVectorStore(AsyncQdrantClient(location=":memory:"))
    with warnings.catch_warnings():
        # local mode keeps payload indexes without using them, and says so
        warnings.filterwarnings("ignore", message="Payload indexes have no effect", category=UserWarning)
        assert await made.ensure_collection(COLLECTION, DIM) is True
    yield made
    await made.aclose()


async def test_a_search_finds_only_points_of_the_projects_in_scope(store: VectorStore) -> None:
    await store.upsert(
        COLLECTION,
        [
            (_point("1.0", "payments", "refund job timed out"), _vector(0)),
            (_point("2.0", "search", "refund index rebuilt"), _vector(0)),
            (_point("3.0", "payments", "lunch plans"), _vector(1)),
        ],
    )
    hits = await store.search(COLLECTION, MemoryScope(("payments",)), dense=_vector(0), text=None, limit=10)
    assert [h.point.text for h in hits] == ["refund job timed out", "lunch plans"]
    both = await store.search(
        COLLECTION, MemoryScope(("payments", "search")), dense=_vector(0), text=None, limit=10
    )
    assert {h.point.project_id for h in both} == {"payments", "search"}
    none = await store.search(COLLECTION, MemoryScope(("other",)), dense=_vector(0), text="refund", limit=10)
    assert none == []


async def test_keywords_find_an_exact_identifier_the_vectors_rank_low(store: VectorStore) -> None:
    points = [(_point(f"{i}.0", "payments", f"routine update number {i}"), _vector(0)) for i in range(30)]
    points.append((_point("99.0", "payments", "crash: ERR_LEDGER_7731 in settle_batch"), _vector(5)))
    await store.upsert(COLLECTION, points)
    scope = MemoryScope(("payments",))
    dense_only = await store.search(COLLECTION, scope, dense=_vector(0), text=None, limit=5)
    assert "ERR_LEDGER_7731" not in " ".join(h.point.text for h in dense_only)
    hybrid = await store.search(COLLECTION, scope, dense=_vector(0), text="what is ERR_LEDGER_7731?", limit=5)
    assert "crash: ERR_LEDGER_7731 in settle_batch" in [h.point.text for h in hybrid]


async def test_task_kind_and_time_narrow_a_search(store: VectorStore) -> None:
    await store.upsert(
        COLLECTION,
        [
            (_point("10.0", "p", "a", task_id="T-1"), _vector(0)),
            (_point("20.0", "p", "b", task_id="T-2", kind=MemoryKind.COMMENT), _vector(0)),
            (_point("30.0", "p", "c", task_id="T-1", kind=MemoryKind.COMMENT), _vector(0)),
        ],
    )

    async def texts(scope: MemoryScope) -> set[str]:
        return {
            h.point.text for h in await store.search(COLLECTION, scope, dense=_vector(0), text=None, limit=10)
        }

    assert await texts(MemoryScope(("p",), task_id="T-1")) == {"a", "c"}
    assert await texts(MemoryScope(("p",), kinds=(MemoryKind.COMMENT,))) == {"b", "c"}
    assert await texts(MemoryScope(("p",), since=15.0, until=30.0)) == {"b", "c"}


async def test_upserting_the_same_source_overwrites_and_a_shorter_edit_drops_old_chunks(
    store: VectorStore,
) -> None:
    first = [(_point("5.0", "p", f"long text part {c}", chunk=c), _vector(0)) for c in range(3)]
    await store.upsert(COLLECTION, first)
    await store.upsert(COLLECTION, [(_point("5.0", "p", "edited, now short"), _vector(0))])
    await store.delete_source(COLLECTION, first[0][0].source_id, from_chunk=1)
    hits = await store.search(COLLECTION, MemoryScope(("p",)), dense=_vector(0), text=None, limit=10)
    assert [h.point.text for h in hits] == ["edited, now short"]
    assert await store.count(COLLECTION) == 1


async def test_deleting_by_id_author_and_project_removes_exactly_those(store: VectorStore) -> None:
    kept = _point("1.0", "a", "kept", author="U-stays")
    by_id = _point("2.0", "a", "by id", author="U-stays")
    leaver = [_point(f"{i}.5", p, "leaver", author="U-leaves") for i, p in enumerate(("a", "b"))]
    dropped = _point("3.0", "b", "project b", author="U-stays")
    await store.upsert(COLLECTION, [(p, _vector(0)) for p in (kept, by_id, *leaver, dropped)])
    await store.delete_ids(COLLECTION, [by_id.id])
    await store.delete_author(COLLECTION, "U-leaves")
    await store.delete_project(COLLECTION, "b")
    hits = await store.search(COLLECTION, MemoryScope(("a", "b")), dense=_vector(0), text=None, limit=10)
    assert [h.point for h in hits] == [kept]


async def test_a_collection_of_another_dimension_is_a_clear_error(store: VectorStore) -> None:
    assert await store.ensure_collection(COLLECTION, DIM) is False
    with pytest.raises(
        VectorDimensionMismatch, match="holds 8-dimensional vectors but the embedding model makes 384"
    ):
        await store.ensure_collection(COLLECTION, 384)
    assert await store.collection_dimension(COLLECTION) == DIM
    assert await store.collection_dimension("tenant_nothing") is None
    assert COLLECTION in await store.list_collections()


async def test_the_embedded_store_reopens_its_data_and_refuses_a_second_process_opener(
    tmp_path: Path,
) -> None:
    first = EmbeddedVectorStore(tmp_path)
    await first.ensure_collection(COLLECTION, DIM)
    await first.upsert(COLLECTION, [(_point("1.0", "p", "remembered"), _vector(0))])
    other = EmbeddedVectorStore(tmp_path)  # another owner of the same directory, as a second process
    with pytest.raises(VectorStoreError, match="open in another process"):
        await other.ensure_collection(COLLECTION, DIM)
    await first.aclose()
    reopened = EmbeddedVectorStore(tmp_path)
    assert await reopened.ensure_collection(COLLECTION, DIM) is False
    hits = await reopened.search(
        COLLECTION, MemoryScope(("p",)), dense=_vector(0), text="remembered", limit=3
    )
    assert [h.point.text for h in hits] == ["remembered"]
    await reopened.aclose()


async def test_the_embedded_store_refuses_a_collection_name_that_is_a_path(tmp_path: Path) -> None:
    store = EmbeddedVectorStore(tmp_path)
    with pytest.raises(VectorStoreError, match="invalid collection name"):
        await store.ensure_collection("../escape", DIM)


async def test_the_embedded_store_answers_the_same_after_optimizing_its_segments(tmp_path: Path) -> None:
    store = EmbeddedVectorStore(tmp_path)
    await store.ensure_collection(COLLECTION, DIM)
    await store.upsert(
        COLLECTION, [(_point(f"{i}.0", f"p{i % 2}", f"text {i}"), _vector(i % DIM)) for i in range(40)]
    )
    await store.delete_project(COLLECTION, "p1")
    scope = MemoryScope(("p0", "p1"))
    before = await store.search(COLLECTION, scope, dense=_vector(2), text="text", limit=5)
    await store.optimize(COLLECTION)
    after = await store.search(COLLECTION, scope, dense=_vector(2), text="text", limit=5)
    assert [h.id for h in after] == [h.id for h in before]
    assert await store.count(COLLECTION) == 20
    await store.aclose()


async def test_a_collection_in_the_operators_single_vector_layout_is_named_as_such() -> None:
    client = AsyncQdrantClient(location=":memory:")
    await client.create_collection(
        "tenant_old", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    store = QdrantVectorStore(client)
    with pytest.raises(CollectionLayoutError, match="lacks the named vectors 'dense'"):
        await store.ensure_collection("tenant_old", DIM)
    await store.aclose()


async def test_a_collection_the_operator_made_is_written_and_searched_by_the_server_store(
    tmp_path: Path,
) -> None:
    # The operator owns collections on a Qdrant server and Nexus writes them: both layouts must agree.
    path = str(tmp_path / "qdrant")
    operator = QdrantStore(path=path)
    assert await operator.ensure_collection(COLLECTION, DIM) is True
    await operator.aclose()
    store = QdrantVectorStore(AsyncQdrantClient(path=path))
    try:
        assert await store.ensure_collection(COLLECTION, DIM) is False  # accepted as it is
        await store.upsert(
            COLLECTION,
            [
                (_point("1.0", "payments", "crash: ERR_LEDGER_7731 in settle_batch"), _vector(0)),
                (_point("2.0", "search", "ERR_LEDGER_7731 seen in search too"), _vector(0)),
            ],
        )
        hits = await store.search(
            COLLECTION, MemoryScope(("payments",)), dense=_vector(0), text="ERR_LEDGER_7731", limit=5
        )
        assert [h.point.text for h in hits] == ["crash: ERR_LEDGER_7731 in settle_batch"]
    finally:
        await store.aclose()
