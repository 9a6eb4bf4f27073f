"""Collections in Qdrant: get-or-create in the Memory Bank's layout (a named dense cosine vector, a
sparse IDF keyword vector, payload indexes with project_id as the tenant), an earlier layout remade."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from qdrant_client import AsyncQdrantClient, models

from oblivion_operator.clients.qdrant import (
    PAYLOAD_INDEXES,
    QdrantStore,
    collection_name,
    project_collection_name,
)
from oblivion_operator.errors import ExternalError


@pytest.fixture
async def store(tmp_path: pathlib.Path) -> AsyncIterator[QdrantStore]:
    qdrant = QdrantStore(path=str(tmp_path / "qdrant"))
    yield qdrant
    await qdrant.aclose()


def test_collection_is_named_after_the_workgroup() -> None:
    assert collection_name("squad-backend") == "tenant_squad-backend"


async def test_longest_project_collection_name_is_accepted_and_distinct(store: QdrantStore) -> None:
    # the CRDs allow workgroup names of 60 and project names of 63 characters
    workgroup, project = "w" * 59 + "1", "p" * 62 + "2"
    name = project_collection_name(workgroup, project)
    assert name == f"tenant_{workgroup}__{project}"
    assert await store.ensure_collection(name, 8) is True
    assert await store.describe(name) == (8, "Cosine")
    assert project_collection_name("a-b", "c") != project_collection_name("a", "b-c")


async def test_collection_is_created_once_in_the_memory_banks_layout(store: QdrantStore) -> None:
    assert await store.ensure_collection("tenant_a", 384) is True
    assert await store.ensure_collection("tenant_a", 384) is False
    assert await store.describe("tenant_a") == (384, "Cosine")


async def test_an_empty_collection_of_an_earlier_operator_is_made_again(
    tmp_path: pathlib.Path,
) -> None:
    path = str(tmp_path / "old")
    old = AsyncQdrantClient(path=path)
    await old.create_collection(
        "tenant_old", vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE)
    )
    await old.close()
    store = QdrantStore(path=path)
    try:
        with pytest.raises(ExternalError, match="lacks the named vectors 'dense' and 'keywords'"):
            await store.describe("tenant_old")
        assert await store.ensure_collection("tenant_old", 8) is True
        assert await store.describe("tenant_old") == (8, "Cosine")
    finally:
        await store.aclose()


async def test_a_collection_of_an_earlier_operator_with_points_is_left_alone(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "old")
    old = AsyncQdrantClient(path=path)
    await old.create_collection(
        "tenant_old", vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE)
    )
    await old.upsert("tenant_old", [models.PointStruct(id=1, vector=[0.1, 0.2], payload={})])
    await old.close()
    store = QdrantStore(path=path)
    try:
        with pytest.raises(ExternalError, match="has points in an earlier operator's single-vector layout"):
            await store.ensure_collection("tenant_old", 2)
        assert await store.exists("tenant_old")
    finally:
        await store.aclose()


async def test_dropped_collection_is_gone(store: QdrantStore) -> None:
    await store.ensure_collection("tenant_b", 8)
    await store.drop_collection("tenant_b")
    assert await store.exists("tenant_b") is False


async def test_server_mode_creates_every_payload_index_with_its_type() -> None:
    # The embedded store accepts but discards payload indexes, so this one talks to a recording
    # stand-in for Qdrant's REST API to see what a real server would be asked for.
    requests: list[tuple[str, str, dict[str, Any]]] = []
    exists: set[str] = set()

    async def handle(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        requests.append((request.method, request.path, body))
        name = request.match_info.get("name", "")
        if request.path == "/":
            return web.json_response({"title": "qdrant", "version": "1.20.0"})
        result: Any
        if request.path.endswith("/exists"):
            result = {"exists": name in exists}
        elif request.path.endswith("/index"):
            result = {"operation_id": len(requests), "status": "completed"}
        else:
            exists.add(name)
            result = True
        return web.json_response({"result": result, "status": "ok", "time": 0.0})

    app = web.Application()
    app.router.add_route("*", "/", handle)
    app.router.add_route("*", "/collections/{name}", handle)
    app.router.add_route("*", "/collections/{name}/exists", handle)
    app.router.add_route("*", "/collections/{name}/index", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    store = QdrantStore(url=f"http://127.0.0.1:{port}", check_compatibility=False)
    try:
        assert await store.ensure_collection("tenant_squad", 384) is True
    finally:
        await store.aclose()
        await runner.cleanup()
    [create] = [
        body for method, path, body in requests if method == "PUT" and path == "/collections/tenant_squad"
    ]
    assert create["vectors"] == {"dense": {"size": 384, "distance": "Cosine"}}
    assert create["sparse_vectors"] == {"keywords": {"modifier": "idf"}}
    indexes = {
        body["field_name"]: body["field_schema"] for _, path, body in requests if path.endswith("/index")
    }
    assert indexes == {
        "project_id": {"type": "keyword", "is_tenant": True},
        "task_id": "keyword",
        "thread_ts": "keyword",
        "author": "keyword",
        "kind": "keyword",
        "source_id": "keyword",
        "timestamp": "float",
        "chunk": "integer",
    }
    assert set(indexes) == set(PAYLOAD_INDEXES)
