"""The agent's REST client of Nexus's ``/v1/tasks``: read a task, post to its thread, move its state.

It shares the runtime's ``TokenSource`` (the same access token as the WebSocket) and its HTTP
client. Each ``say`` gets a fresh idempotency key that its own retries reuse, so a message whose
answer was lost is posted once. Transient failures (Nexus unreachable, 502/503, a key still
running) are retried a few times, honouring ``Retry-After``; a rejected token is replaced once. A
muted agent (429) and an illegal state change (409) are raised at once: retrying would not help.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oblivion_agent._errors import AgentError
from oblivion_agent._token import TokenSource

logger = logging.getLogger(__name__)

_V = TypeVar("_V", bound="_View")

TaskStateName = Literal["TODO", "IN_PROGRESS", "BLOCKED_ON_HUMAN", "DONE"]

# Three tries within a few seconds ride out a Nexus restart or a vendor's short hiccup; longer
# outages are the handler's to handle (it raises, the event stays unacked and comes back).
_ATTEMPTS = 3
_MAX_WAIT_SECONDS = 5.0
_RETRYABLE = {409, 502, 503, 504}


class TaskApiError(AgentError):
    """Nexus refused a task request: ``status`` and its ``detail``."""

    def __init__(self, message: str, *, status: int | None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r}, status={self.status!r})"


class AgentMutedError(TaskApiError):
    """The circuit breaker muted this agent; it may post again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, detail: Any = None) -> None:
        super().__init__(message, status=429, detail=detail)
        self.retry_after = retry_after


class IllegalTransitionError(TaskApiError):
    """The task cannot move to the requested state from the one it is in; ``allowed`` lists the moves."""

    def __init__(self, message: str, *, current: str | None, allowed: list[str], detail: Any = None) -> None:
        super().__init__(message, status=409, detail=detail)
        self.current = current
        self.allowed = allowed


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class TaskInfo(_View):
    id: str
    name: str
    description: str = ""
    status: str | None = None
    url: str | None = None
    list_id: str | None = Field(default=None, alias="listId")
    assignees: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    creator: str | None = None


class ThreadMessage(_View):
    ts: str | None = None
    user: str | None = None
    bot_id: str | None = Field(default=None, alias="botId")
    username: str | None = None
    text: str = ""


class TaskContext(_View):
    """A task as the agent sees it: fresh from ClickUp, with its whole Slack thread and its state."""

    task: TaskInfo
    project: str
    state: TaskStateName
    channel: str
    thread_ts: str | None = Field(default=None, alias="threadTs")
    thread: list[ThreadMessage] = Field(default_factory=list)


class PostedMessage(_View):
    task_id: str = Field(alias="taskId")
    channel: str
    thread_ts: str | None = Field(default=None, alias="threadTs")
    ts: str | None = None
    clickup_comment_id: str | None = Field(default=None, alias="clickupCommentId")


class StateChange(_View):
    task_id: str = Field(alias="taskId")
    state: TaskStateName
    previous_state: TaskStateName = Field(alias="previousState")
    changed: bool
    clickup_status: str | None = Field(default=None, alias="clickupStatus")


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(0.0, float(response.headers.get("Retry-After", "0.5"))), _MAX_WAIT_SECONDS)
    except ValueError:
        return 0.5


def _refusal(response: httpx.Response) -> TaskApiError:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = response.text[:200]
    message = detail.get("message") if isinstance(detail, dict) else detail
    text = f"Nexus answered {response.status_code}: {message}"
    if response.status_code == 429:
        retry = float(response.headers.get("Retry-After", "60") or 60)
        return AgentMutedError(text, retry_after=retry, detail=detail)
    if response.status_code == 409 and isinstance(detail, dict) and "allowed" in detail:
        return IllegalTransitionError(
            text, current=detail.get("state"), allowed=list(detail["allowed"]), detail=detail
        )
    return TaskApiError(text, status=response.status_code, detail=detail)


async def nexus_request(
    http: httpx.AsyncClient,
    tokens: TokenSource,
    method: str,
    url: str,
    *,
    json: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    retry_statuses: frozenset[int] = frozenset(_RETRYABLE),
) -> httpx.Response:
    """One call to Nexus as this agent: a rejected token is replaced once, transient failures that
    say when to come back (``Retry-After``) are retried a few times; any other answer is returned."""
    renewed_token = False
    attempt = 0
    while True:
        attempt += 1
        token = await tokens.get()
        try:
            response = await http.request(
                method, url, json=json, headers={**(headers or {}), "Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as e:
            if attempt >= _ATTEMPTS:
                raise TaskApiError(f"Nexus unreachable: {type(e).__name__}", status=None) from e
            await asyncio.sleep(0.5 * attempt)
            continue
        if response.status_code == 401 and not renewed_token:
            tokens.invalidate()  # expired or rotated signing key: one fresh token, then give up
            renewed_token = True
            continue
        retryable = response.status_code in retry_statuses and "Retry-After" in response.headers
        if retryable and attempt < _ATTEMPTS:
            logger.info("%s %s answered %d; retrying", method, url, response.status_code)
            await asyncio.sleep(_retry_after(response))
            continue
        return response


class TaskClient:
    """Calls ``/v1/tasks`` as this agent."""

    def __init__(self, nexus_url: str, http: httpx.AsyncClient, tokens: TokenSource) -> None:
        self._base = nexus_url.rstrip("/") + "/v1/tasks"
        self._http = http
        self._tokens = tokens

    async def context(self, task_id: str) -> TaskContext:
        return await self._call(TaskContext, "GET", f"/{task_id}/context")

    async def say(self, task_id: str, text: str, *, idempotency_key: str | None = None) -> PostedMessage:
        key = idempotency_key or uuid.uuid4().hex
        return await self._call(
            PostedMessage,
            "POST",
            f"/{task_id}/messages",
            json={"text": text},
            headers={"Idempotency-Key": key},
        )

    async def set_state(self, task_id: str, state: TaskStateName) -> StateChange:
        return await self._call(StateChange, "PATCH", f"/{task_id}", json={"state": state})

    async def _call(
        self,
        model: type[_V],
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> _V:
        response = await nexus_request(
            self._http, self._tokens, method, self._base + path, json=json, headers=headers
        )
        if response.status_code >= 400:
            raise _refusal(response)
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError) as e:
            raise TaskApiError(
                f"Nexus answered {method} {path} with an unexpected body", status=response.status_code
            ) from e
