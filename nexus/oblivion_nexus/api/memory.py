"""``POST /v1/memory/search``: an agent searches the memory of the projects its token names; and the
administrators' routes: a workgroup's memory status, forgetting an author, dropping a project's
points, and a project's backfill (queued for the worker, its progress).

The body is ``{"query", "limit", "projects", "taskId", "kinds", "since", "until"}`` (all but
``query`` optional; ``since``/``until`` as Unix seconds or ISO 8601), the answer ``{"hits": [...]}``,
best first. 403 for a project outside the agent's scope, 422 for a malformed search, 503 with
``Retry-After`` while the embedder, the vector store or (embedded engine) the worker cannot answer
(each a :class:`~oblivion_nexus.services.memory.errors.MemoryBankError`, answered by the app's one
error handler).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.api.deps import AdminDep, ResourcesDep, SessionDep, get_session
from oblivion_nexus.api.tasks import IdentityDep
from oblivion_nexus.services.auth.tokens import AgentIdentity
from oblivion_nexus.services.memory.bank import MAX_LIMIT, MAX_QUERY_CHARS
from oblivion_nexus.services.memory.collections import collection_for, collections_of
from oblivion_nexus.services.memory.runtime import ApiMemory, api_memory
from oblivion_nexus.services.memory.search import Searcher, SearchRequest, search_memory
from oblivion_nexus.services.memory.status import workgroup_status
from oblivion_nexus.services.registry.entries import RegistryNotFound
from oblivion_nexus.services.registry.schemas import NAME_PATTERN
from oblivion_nexus.services.taskflow.backfill_runs import BackfillQueue, backfill_status, request_backfill
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores import tables as t
from oblivion_nexus.stores.vectors import MemoryKind

router = APIRouter(tags=["memory"])

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=253)]


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    limit: int = Field(default=8, ge=1, le=MAX_LIMIT)
    projects: list[Annotated[str, Field(pattern=_NAME, max_length=63)]] | None = Field(
        default=None, max_length=100, description="Narrows the agent's projects; omitted: all of them."
    )
    task_id: str | None = Field(default=None, alias="taskId", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    kinds: list[MemoryKind] = Field(default_factory=list, max_length=4)
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _seconds(moment: dt.datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


@contextlib.asynccontextmanager
async def memory_lifespan(app: FastAPI, settings: NexusSettings) -> AsyncIterator[None]:
    """Give the app its searcher (see ``services.memory.runtime.api_searcher``) for its lifetime."""
    async with api_memory(settings) as memory:
        app.state.memory = memory
        yield


def _memory(request: Request) -> ApiMemory:
    memory: ApiMemory = request.app.state.memory
    return memory


def searcher_of(app: Any) -> Searcher:
    """The app's searcher (set by :func:`memory_lifespan`)."""
    memory: ApiMemory = app.state.memory
    return memory.searcher


def _searcher(request: Request) -> Searcher:
    return searcher_of(request.app)


@router.post("/v1/memory/search")
async def search(
    request: Request,
    body: SearchBody,
    identity: IdentityDep,
    session: Annotated[AsyncSession, Depends(get_session)],
) -> JSONResponse:
    return JSONResponse({"hits": await search_as(session, searcher_of(request.app), identity, body)})


async def search_as(
    session: AsyncSession, searcher: Searcher, identity: AgentIdentity, body: SearchBody
) -> list[dict[str, Any]]:
    """The hits of ``body`` for the agent of ``identity`` (the route's and MCP's ``memory_search``)."""
    asked = SearchRequest(
        query=body.query,
        limit=body.limit,
        projects=tuple(body.projects) if body.projects is not None else None,
        task_id=body.task_id,
        kinds=tuple(dict.fromkeys(body.kinds)),
        since=_seconds(body.since),
        until=_seconds(body.until),
    )
    hits: list[dict[str, Any]] = await search_memory(
        session, searcher, identity.workgroup, identity.projects, asked
    )
    return hits


@router.get("/internal/v1/workgroups/{wg}/memory", dependencies=[AdminDep])
async def memory_status(request: Request, wg: Name, session: SessionDep) -> dict[str, Any]:
    """Points per project, the ingestion queue's jobs by state, and each collection's last error."""
    await _workgroup_registered(session, wg)
    memory = _memory(request)
    return await workgroup_status(session, memory.searcher, memory.errors, memory.queue, wg)


@router.delete("/internal/v1/workgroups/{wg}/memory/authors/{author}", dependencies=[AdminDep])
async def forget_author(
    request: Request,
    wg: Name,
    author: Annotated[str, Path(min_length=1, max_length=200)],
    session: SessionDep,
) -> dict[str, Any]:
    """Delete every point ``author`` (as shown to people) wrote in the workgroup's collections."""
    await _workgroup_registered(session, wg)
    collections = sorted(set((await collections_of(session, wg)).values()))
    await _searcher(request).forget_author(collections, author)
    return {"workgroup": wg, "author": author, "collections": collections}


@router.delete("/internal/v1/workgroups/{wg}/projects/{project}/memory", dependencies=[AdminDep])
async def drop_project_memory(
    request: Request, wg: Name, project: Name, session: SessionDep
) -> dict[str, Any]:
    """Delete every point of a project (its Project deleted under ``retentionPolicy: Delete``); the
    operator calls it before it unregisters the project."""
    place = await collection_for(session, wg, project)  # 404 for a project not registered
    await _searcher(request).drop_project(place.collection, project)
    return {"workgroup": wg, "project": project, "collection": place.collection}


@router.post(
    "/internal/v1/workgroups/{wg}/projects/{project}/memory/backfill",
    dependencies=[AdminDep],
    status_code=status.HTTP_202_ACCEPTED,
)
async def start_backfill(
    wg: Name, project: Name, session: SessionDep, resources: ResourcesDep
) -> dict[str, Any]:
    """Queue a backfill of the project's Slack and ClickUp history for the worker (202 with its state);
    409 naming the holder when one is queued or running (also through ``oblivion memory backfill``)."""
    await _registered(session, wg, project)
    queue = BackfillQueue(resources.settings)
    try:
        return await request_backfill(resources, queue, wg, project)
    finally:
        await queue.close()


@router.get("/internal/v1/workgroups/{wg}/projects/{project}/memory/backfill", dependencies=[AdminDep])
async def get_backfill(
    wg: Name, project: Name, session: SessionDep, resources: ResourcesDep
) -> dict[str, Any]:
    """The project's backfill: state, counts, cursors, a wait for a rate limit, holder, last error."""
    await _registered(session, wg, project)
    return await backfill_status(resources, wg, project)


async def _workgroup_registered(session: AsyncSession, wg: str) -> None:
    if await session.get(t.Workgroup, wg) is None:
        raise RegistryNotFound(f"workgroup {wg} is not registered")


async def _registered(session: AsyncSession, wg: str, project: str) -> None:
    await collection_for(session, wg, project)  # ProjectNotRegistered: 404
