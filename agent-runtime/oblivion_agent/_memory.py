"""The agent's client of the Memory Bank: search what was said and written in its projects.

``await ctx.memory.search("why did the login break?", limit=5)`` answers typed
:class:`~oblivion_agent.protocol.MemoryHit`\\ s, best first, from the projects the agent's token
names (``projects=`` narrows them). A ``TASK_ASSIGNED`` handler gets what the project remembers about
a new task with ``await ctx.memory.related(task)``. While the Memory Bank is down Nexus answers 503
with ``Retry-After``; the client waits and retries a few times, then raises
:class:`MemorySearchError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import httpx

from oblivion_agent._errors import AgentError
from oblivion_agent._tasks import nexus_request
from oblivion_agent._token import TokenSource
from oblivion_agent.protocol import MemoryHit, MemoryKindName, MemorySearchResponse, TaskAssigned

# Nexus refuses longer queries; a task's title and description are cut to fit.
MAX_QUERY_CHARS = 2000


class MemorySearchError(AgentError):
    """Nexus refused or could not answer a search: HTTP ``status`` and its ``detail``."""

    def __init__(self, message: str, *, status: int | None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def _moment(value: dt.datetime | float | None) -> str | float | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value


class MemoryClient:
    """``/v1/memory/search`` as this agent."""

    def __init__(self, nexus_url: str, http: httpx.AsyncClient, tokens: TokenSource) -> None:
        self._url = nexus_url.rstrip("/") + "/v1/memory/search"
        self._http = http
        self._tokens = tokens

    async def search(
        self,
        query: str,
        *,
        limit: int = 8,
        projects: Sequence[str] | None = None,
        task_id: str | None = None,
        kinds: Sequence[MemoryKindName] = (),
        since: dt.datetime | float | None = None,
        until: dt.datetime | float | None = None,
    ) -> list[MemoryHit]:
        """The ``limit`` best remembered chunks for ``query`` (only ``task_id``'s, ``kinds``, written
        between ``since`` and ``until`` when given)."""
        body: dict[str, Any] = {"query": query, "limit": limit}
        if projects is not None:
            body["projects"] = list(projects)
        if task_id is not None:
            body["taskId"] = task_id
        if kinds:
            body["kinds"] = list(kinds)
        if since is not None:
            body["since"] = _moment(since)
        if until is not None:
            body["until"] = _moment(until)
        response = await nexus_request(
            self._http, self._tokens, "POST", self._url, json=body, retry_statuses=frozenset({429, 503})
        )
        if response.status_code != 200:
            try:
                detail = response.json().get("detail")
            except (ValueError, AttributeError):
                detail = response.text[:200]
            raise MemorySearchError(
                f"memory search: Nexus answered {response.status_code}: {detail}",
                status=response.status_code,
                detail=detail,
            )
        return MemorySearchResponse.model_validate(response.json()).hits

    async def related(self, task: TaskAssigned, *, limit: int = 8) -> list[MemoryHit]:
        """What the task's project remembers that bears on ``task`` (its own description left out)."""
        query = f"{task.title}\n{task.description}".strip()[:MAX_QUERY_CHARS]
        hits = await self.search(query, limit=limit + 1, projects=[task.project])
        own = [h for h in hits if not (h.task_id == task.task_id and h.kind == "description")]
        return own[:limit]
