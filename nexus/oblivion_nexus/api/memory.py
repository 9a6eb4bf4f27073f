"""``POST /v1/memory/search``: an agent searches the memory of the projects its token names.

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

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.api.deps import get_session
from oblivion_nexus.api.tasks import IdentityDep
from oblivion_nexus.services.memory.bank import MAX_LIMIT, MAX_QUERY_CHARS
from oblivion_nexus.services.memory.runtime import api_searcher
from oblivion_nexus.services.memory.search import Searcher, SearchRequest, search_memory
from oblivion_nexus.settings import NexusSettings
from oblivion_nexus.stores.vectors import MemoryKind

router = APIRouter(tags=["memory"])

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


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
    async with api_searcher(settings) as searcher:
        app.state.memory = searcher
        yield


def _searcher(request: Request) -> Searcher:
    searcher: Searcher = request.app.state.memory
    return searcher


@router.post("/v1/memory/search")
async def search(
    request: Request,
    body: SearchBody,
    identity: IdentityDep,
    session: Annotated[AsyncSession, Depends(get_session)],
) -> JSONResponse:
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
        session, _searcher(request), identity.workgroup, identity.projects, asked
    )
    return JSONResponse({"hits": hits})
