"""Typed async client of the ClickUp API v2 calls the task flow makes.

The worker fetches the full task (a webhook carries little), re-reads a list's recent changes after
an outage, reads and writes task comments, pushes status changes, and keeps one team webhook per
project. Failures become :class:`ClickUpError` subclasses that say what to do next: back off
(:class:`ClickUpRateLimited`), fix the credential (:class:`ClickUpAuthError`), retry later
(:class:`ClickUpUnavailable`), or give up on the request (:class:`ClickUpApiError`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from oblivion_nexus.integrations.clickup_models import (
    Comment,
    CommentPage,
    CreatedComment,
    Task,
    TaskPage,
    User,
    Webhook,
)
from oblivion_nexus.integrations.errors import IntegrationError

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)

DEFAULT_CLICKUP_API_URL = "https://api.clickup.com/api/v2/"
#: ClickUp returns task comments 25 at a time, newest first.
COMMENTS_PAGE_SIZE = 25
#: ClickUp returns at most 100 tasks per page of Get Tasks.
TASKS_PAGE_SIZE = 100
# ClickUp's limits are per minute; without a usable reset header, waiting a minute is always enough.
_DEFAULT_RETRY_AFTER_SECONDS = 60.0
# A reset further away than this is a broken header, not a plan: never park a job for longer.
_MAX_RETRY_AFTER_SECONDS = 3600.0


class ClickUpError(IntegrationError):
    """Base of every ClickUp failure."""


class ClickUpApiError(ClickUpError):
    """ClickUp refused a request: HTTP ``status``, ClickUp's ``ecode`` (e.g. ``OAUTH_025``), message."""

    def __init__(self, status: int, ecode: str | None, message: str, *, method: str = "", path: str = ""):
        super().__init__(f"ClickUp {method} {path} failed with HTTP {status} {ecode or '-'}: {message}")
        self.status = status
        self.ecode = ecode
        self.message = message
        self.method = method
        self.path = path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, ecode={self.ecode!r}, message={self.message!r})"


class ClickUpAuthError(ClickUpApiError):
    """The token is missing, invalid or revoked (HTTP 401); retrying will not help."""


class ClickUpRateLimited(ClickUpError):
    """ClickUp's per-token rate limit is exhausted; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, *, method: str = "", path: str = "") -> None:
        super().__init__(f"ClickUp rate limit hit on {method} {path}; retry after {retry_after:.0f} s")
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ClickUpRateLimited(retry_after={self.retry_after})"


class ClickUpUnavailable(ClickUpError):
    """ClickUp could not be reached or answered with a server error; retrying later may work."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"ClickUp unavailable: {reason}")
        self.reason = reason
        self.status = status


def _segment(identifier: str) -> str:
    """An id as one URL path segment: ids come from webhooks, so "../" or "?" must stay literal."""
    return quote(str(identifier), safe="")


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("err") or body.get("error") or body.get("message")
        ecode = body.get("ECODE")
        return (str(ecode) if ecode is not None else None, str(message or response.reason_phrase))
    return None, (response.text[:200] or response.reason_phrase)


class ClickUpClient:
    """One ClickUp token's view of the API. Create once (app lifespan), share, close at shutdown."""

    def __init__(
        self,
        token: SecretStr | str,
        *,
        base_url: str = DEFAULT_CLICKUP_API_URL,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._clock = clock

    def __repr__(self) -> str:
        return f"ClickUpClient(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> ClickUpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        url = self._base_url + path.lstrip("/")
        headers = {"Authorization": self._token.get_secret_value(), "Accept": "application/json"}
        try:
            response = await self._http.request(method, url, params=params, json=json, headers=headers)
        except httpx.HTTPError as e:
            raise ClickUpUnavailable(f"{method} {path}: {type(e).__name__}") from e
        if response.status_code == 429:
            raise ClickUpRateLimited(self._retry_after(response), method=method, path=path)
        if response.status_code >= 500:
            status = response.status_code
            raise ClickUpUnavailable(f"{method} {path}: HTTP {status}", status=status)
        if response.status_code >= 400:
            ecode, message = _error_fields(response)
            error = ClickUpAuthError if response.status_code == 401 else ClickUpApiError
            raise error(response.status_code, ecode, message, method=method, path=path)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as e:
            raise ClickUpApiError(
                response.status_code, None, "response is not JSON", method=method, path=path
            ) from e

    def _retry_after(self, response: httpx.Response) -> float:
        for header, offset in (("X-RateLimit-Reset", self._clock()), ("Retry-After", 0.0)):
            try:
                seconds = float(response.headers.get(header, "")) - offset
            except ValueError:
                continue
            if math.isfinite(seconds):
                return min(max(0.0, seconds), _MAX_RETRY_AFTER_SECONDS)
        return _DEFAULT_RETRY_AFTER_SECONDS

    @staticmethod
    def _parse(model: type[_M], body: Any, what: str) -> _M:
        try:
            return model.model_validate(body)
        except ValidationError as e:
            raise ClickUpApiError(200, None, f"unexpected {what} shape: {e.error_count()} errors") from e

    async def get_authorized_user(self) -> User:
        """The ClickUp user the token acts as: the author of every comment Nexus posts.

        Comments by this user that come back through webhooks are Nexus's own and must not be mirrored.
        """
        body = await self._request("GET", "user")
        inner = body.get("user") if isinstance(body, dict) else None
        return self._parse(User, inner, "user")

    async def get_task(self, task_id: str) -> Task:
        body = await self._request("GET", f"task/{_segment(task_id)}")
        return self._parse(Task, body, "task")

    async def list_tasks(
        self, list_id: str, *, page: int = 0, date_updated_gt: int | None = None, include_closed: bool = True
    ) -> TaskPage:
        """One page of the tasks whose home is ``list_id``, optionally only those updated after a time.

        Subtasks are included: a mention in a subtask reaches an agent like one in a task.
        """
        params: dict[str, Any] = {
            "page": page,
            "include_closed": str(include_closed).lower(),
            "subtasks": "true",
        }
        if date_updated_gt is not None:
            params["date_updated_gt"] = date_updated_gt
        body = await self._request("GET", f"list/{_segment(list_id)}/task", params=params)
        return self._parse(TaskPage, body, "task page")

    async def iter_list_tasks(
        self, list_id: str, *, date_updated_gt: int | None = None, include_closed: bool = True
    ) -> AsyncIterator[Task]:
        """Every task of ``list_id`` (updated after ``date_updated_gt``), page after page."""
        page = 0
        while True:
            result = await self.list_tasks(
                list_id, page=page, date_updated_gt=date_updated_gt, include_closed=include_closed
            )
            for task in result.tasks:
                yield task
            # Older responses lack ``last_page``; a short page is then the last one.
            done = result.last_page if result.last_page is not None else len(result.tasks) < TASKS_PAGE_SIZE
            if done or not result.tasks:
                return
            page += 1

    async def get_task_comments(
        self, task_id: str, *, start: int | None = None, start_id: str | None = None
    ) -> list[Comment]:
        """Up to 25 comments, newest first; pass the oldest one's ``date`` and ``id`` for the next 25."""
        params: dict[str, Any] = {}
        if start is not None and start_id is not None:
            params = {"start": start, "start_id": start_id}
        body = await self._request("GET", f"task/{_segment(task_id)}/comment", params=params)
        return self._parse(CommentPage, body, "comment page").comments

    async def iter_task_comments(self, task_id: str) -> AsyncIterator[Comment]:
        """Every comment of a task, newest first."""
        start: int | None = None
        start_id: str | None = None
        while True:
            comments = await self.get_task_comments(task_id, start=start, start_id=start_id)
            for comment in comments:
                yield comment
            if len(comments) < COMMENTS_PAGE_SIZE or comments[-1].date is None:
                return
            start, start_id = comments[-1].date, comments[-1].id

    async def create_task_comment(
        self, task_id: str, text: str, *, notify_all: bool = False
    ) -> CreatedComment:
        body = await self._request(
            "POST", f"task/{_segment(task_id)}/comment", json={"comment_text": text, "notify_all": notify_all}
        )
        return self._parse(CreatedComment, body, "created comment")

    async def update_task(self, task_id: str, *, status: str | None = None, **fields: Any) -> Task:
        """Change a task (``status`` is the ClickUp status name, e.g. ``"in progress"``)."""
        payload = dict(fields)
        if status is not None:
            payload["status"] = status
        body = await self._request("PUT", f"task/{_segment(task_id)}", json=payload)
        return self._parse(Task, body, "task")

    async def create_webhook(
        self, team_id: str, endpoint: str, events: Sequence[str], *, list_id: str | None = None
    ) -> Webhook:
        """Create a team webhook; the returned ``secret`` is the only time ClickUp reveals it."""
        payload: dict[str, Any] = {"endpoint": endpoint, "events": list(events)}
        if list_id is not None:
            payload["list_id"] = int(list_id) if list_id.isdigit() else list_id
        body = await self._request("POST", f"team/{_segment(team_id)}/webhook", json=payload)
        inner = body.get("webhook", body) if isinstance(body, dict) else body
        return self._parse(Webhook, inner, "webhook")

    async def list_webhooks(self, team_id: str) -> list[Webhook]:
        body = await self._request("GET", f"team/{_segment(team_id)}/webhook")
        items = body.get("webhooks", []) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ClickUpApiError(200, None, "unexpected webhook list shape")
        return [self._parse(Webhook, item, "webhook") for item in items]

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        endpoint: str | None = None,
        events: Sequence[str] | None = None,
        status: str | None = None,
    ) -> Webhook:
        """Change a webhook; ``status="active"`` re-activates a suspended one."""
        payload: dict[str, Any] = {}
        if endpoint is not None:
            payload["endpoint"] = endpoint
        if events is not None:
            payload["events"] = list(events)
        if status is not None:
            payload["status"] = status
        body = await self._request("PUT", f"webhook/{_segment(webhook_id)}", json=payload)
        inner = body.get("webhook", body) if isinstance(body, dict) else body
        return self._parse(Webhook, inner, "webhook")

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._request("DELETE", f"webhook/{_segment(webhook_id)}")
