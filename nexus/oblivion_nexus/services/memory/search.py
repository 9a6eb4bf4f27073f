"""Searching the Memory Bank for an agent: which projects it may read, and the answer's shape.

The scope is the projects in the agent's token, or every project of its workgroup when the token
names none; a request may narrow it (a project outside it is refused), never widen it, and nothing
of another workgroup is ever in it: projects are looked up under the token's workgroup only.
Projects are grouped by the collection that holds them (the workgroup's, or a project's own under
``PerProject``), each collection searched with its projects as the server-side tenant filter, and
the best hits of all of them answered.

Who runs the search is a :class:`Searcher`: the bank itself where this process may open the vector
store (:class:`BankSearcher`), or the worker that owns the embedded engine
(:class:`~oblivion_nexus.services.memory.remote.RemoteSearcher`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from oblivion_nexus.integrations.embeddings import EmbeddingError
from oblivion_nexus.services.memory.bank import MAX_LIMIT, MemoryBank, check_search
from oblivion_nexus.services.memory.collections import collections_of
from oblivion_nexus.services.memory.errors import InvalidSearch, MemoryForbidden, MemoryUnavailable
from oblivion_nexus.stores.vectors import MemoryHit, MemoryKind, MemoryScope, VectorStoreError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What an agent asked: ``projects`` None means its whole scope."""

    query: str
    limit: int = 8
    projects: tuple[str, ...] | None = None
    task_id: str | None = None
    kinds: tuple[MemoryKind, ...] = ()
    since: float | None = None
    until: float | None = None

    def checked(self) -> SearchRequest:
        """The request with its query stripped, or :class:`InvalidSearch` saying what is wrong."""
        try:
            query = check_search(self.query, self.limit)
        except ValueError as e:
            raise InvalidSearch(str(e)) from e
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InvalidSearch("since is after until")
        return SearchRequest(
            query, self.limit, self.projects, self.task_id, self.kinds, self.since, self.until
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "limit": self.limit,
            "task_id": self.task_id,
            "kinds": [k.value for k in self.kinds],
            "since": self.since,
            "until": self.until,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> SearchRequest:
        limit = int(data.get("limit", 8))
        return cls(
            query=str(data["query"]),
            limit=max(1, min(limit, MAX_LIMIT)),
            task_id=data.get("task_id"),
            kinds=tuple(MemoryKind(k) for k in data.get("kinds") or ()),
            since=None if data.get("since") is None else float(data["since"]),
            until=None if data.get("until") is None else float(data["until"]),
        )


# Collection → the projects of the scope it holds.
Groups = dict[str, tuple[str, ...]]


async def search_scope(
    session: AsyncSession, workgroup: str, token_projects: tuple[str, ...], asked: tuple[str, ...] | None
) -> Groups:
    """The collections to search for an agent of ``workgroup`` whose token names ``token_projects``
    (none: all of the workgroup's), narrowed to ``asked``; a project asked for outside the scope is
    :class:`MemoryForbidden`."""
    registered = await collections_of(session, workgroup)
    allowed = {p for p in token_projects if p in registered} if token_projects else set(registered)
    if asked is not None:
        outside = sorted(set(asked) - allowed)
        if outside:
            raise MemoryForbidden(f"project {outside[0]} is outside this agent's projects")
        allowed &= set(asked)
    groups: dict[str, list[str]] = {}
    for project in sorted(allowed):
        groups.setdefault(registered[project], []).append(project)
    return {collection: tuple(projects) for collection, projects in groups.items()}


def hit_view(hit: MemoryHit) -> dict[str, Any]:
    """A hit as the search route answers it."""
    p = hit.point
    return {
        "id": hit.id,
        "text": p.text,
        "score": hit.score,
        "kind": p.kind.value,
        "source": p.source.value,
        "project": p.project_id,
        "taskId": p.task_id,
        "threadTs": p.thread_ts,
        "author": p.author,
        "timestamp": p.timestamp,
        "link": p.link,
    }


class Searcher(Protocol):
    """What the API asks of the Memory Bank; the worker answers it with the embedded engine."""

    async def search(self, groups: Groups, request: SearchRequest) -> list[dict[str, Any]]:
        """The best ``request.limit`` hits (as :func:`hit_view` makes them) over ``groups``."""
        ...

    async def count(self, groups: Groups) -> dict[str, int]:
        """Points of each project of ``groups``."""
        ...

    async def forget_author(self, collections: list[str], author: str) -> None:
        """Every point ``author`` wrote in ``collections``."""
        ...

    async def drop_project(self, collection: str, project: str) -> None:
        """Every point of ``project`` in ``collection``."""
        ...


class BankSearcher:
    """Searches with a bank this process holds; an embedder or store failure is
    :class:`MemoryUnavailable`, as is a search that takes longer than ``timeout`` seconds."""

    def __init__(self, bank: MemoryBank, *, timeout: float) -> None:
        self.bank = bank
        self._timeout = timeout

    async def search(self, groups: Groups, request: SearchRequest) -> list[dict[str, Any]]:
        request = request.checked()
        hits: list[MemoryHit] = []
        try:
            async with asyncio.timeout(self._timeout):
                for collection, projects in groups.items():
                    scope = MemoryScope(
                        projects, request.task_id, request.kinds, request.since, request.until
                    )
                    hits += await self.bank.search(collection, scope, request.query, limit=request.limit)
        except (EmbeddingError, VectorStoreError) as e:
            logger.warning("memory search failed: %s", e)
            raise MemoryUnavailable("the Memory Bank cannot search right now") from e
        except TimeoutError as e:
            raise MemoryUnavailable(f"the search took longer than {self._timeout:g} s") from e
        hits.sort(key=lambda h: h.score, reverse=True)
        return [hit_view(h) for h in hits[: request.limit]]

    async def count(self, groups: Groups) -> dict[str, int]:
        counts: dict[str, int] = {}
        try:
            async with asyncio.timeout(self._timeout):
                for collection, projects in groups.items():
                    exists = await self.bank.store.collection_dimension(collection) is not None
                    for project in projects:
                        scope = MemoryScope((project,))
                        counts[project] = await self.bank.store.count(collection, scope) if exists else 0
        except VectorStoreError as e:
            raise MemoryUnavailable("the vector store cannot count right now") from e
        except TimeoutError as e:
            raise MemoryUnavailable(f"counting took longer than {self._timeout:g} s") from e
        return counts

    async def forget_author(self, collections: list[str], author: str) -> None:
        try:
            for collection in collections:
                if await self.bank.store.collection_dimension(collection) is not None:
                    await self.bank.store.delete_author(collection, author)
        except VectorStoreError as e:
            raise MemoryUnavailable("the vector store cannot delete right now") from e

    async def drop_project(self, collection: str, project: str) -> None:
        try:
            if await self.bank.store.collection_dimension(collection) is not None:
                await self.bank.drop_project(collection, project)
        except VectorStoreError as e:
            raise MemoryUnavailable("the vector store cannot delete right now") from e


async def search_memory(
    session: AsyncSession,
    searcher: Searcher,
    workgroup: str,
    token_projects: tuple[str, ...],
    request: SearchRequest,
) -> list[dict[str, Any]]:
    """What an agent of ``workgroup`` finds for ``request`` (see the module for the scope)."""
    request = request.checked()
    groups = await search_scope(session, workgroup, token_projects, request.projects)
    if not groups:
        return []
    return await searcher.search(groups, request)
