"""Typed async client of the Slack Web API methods the task flow uses.

Nexus posts a task's root message and the agents' updates, reads a whole thread back for an agent's
context, links to messages, and needs its own identity (``auth.test``) to recognise — and never
mirror — its own messages. Slack answers most failures with HTTP 200 and ``ok: false``; those become
:class:`SlackApiError`, a 429 becomes :class:`SlackRateLimited` with Slack's ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from oblivion_nexus.integrations.errors import IntegrationError

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# Slack documents 1,000 as the maximum page of conversations.replies and recommends ≤ 200.
_REPLIES_PAGE_LIMIT = 200
# A 429 without Retry-After is unusual; a minute covers every Web API rate-limit tier.
_DEFAULT_RETRY_AFTER_SECONDS = 60.0
# A longer wait is a broken header, not a plan: never park a job for longer.
_MAX_RETRY_AFTER_SECONDS = 3600.0


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return _DEFAULT_RETRY_AFTER_SECONDS
    if not math.isfinite(seconds):
        return _DEFAULT_RETRY_AFTER_SECONDS
    return min(max(0.0, seconds), _MAX_RETRY_AFTER_SECONDS)


class SlackError(IntegrationError):
    """Base of every Slack failure."""


class SlackApiError(SlackError):
    """Slack answered ``ok: false``: ``error`` is Slack's code (``channel_not_found``, ``invalid_auth``…)."""

    def __init__(self, method: str, error: str, *, status: int = 200) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error
        self.status = status

    def __repr__(self) -> str:
        return f"SlackApiError(method={self.method!r}, error={self.error!r})"


class SlackRateLimited(SlackError):
    """Slack rate-limited ``method``; try again after ``retry_after`` seconds."""

    def __init__(self, method: str, retry_after: float) -> None:
        super().__init__(f"Slack {method} rate limited; retry after {retry_after:.0f} s")
        self.method = method
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"SlackRateLimited(method={self.method!r}, retry_after={self.retry_after})"


class SlackUnavailable(SlackError):
    """Slack could not be reached, or answered with a server error."""

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"Slack {method} unavailable: {reason}")
        self.method = method
        self.reason = reason


class SlackModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackIdentity(SlackModel):
    """Who Nexus is in the workspace, from ``auth.test``."""

    user_id: str
    bot_id: str | None = None
    team_id: str | None = None
    team: str | None = None
    url: str | None = None


class SlackMessage(SlackModel):
    """A message as ``conversations.replies`` and the Events API carry it."""

    type: str | None = None
    subtype: str | None = None
    user: str | None = None
    bot_id: str | None = None
    username: str | None = None
    text: str = ""
    ts: str | None = None
    thread_ts: str | None = None
    parent_user_id: str | None = None
    reply_count: int | None = None
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    # Message metadata (``event_type`` + ``event_payload``) that Nexus attaches to what it posts.
    metadata: dict[str, Any] | None = None

    @property
    def is_thread_reply(self) -> bool:
        """Slack's documented test: a reply has ``thread_ts`` and it differs from ``ts``."""
        return self.thread_ts is not None and self.thread_ts != self.ts


class PostedMessage(SlackModel):
    channel: str
    ts: str
    message: SlackMessage | None = None


class SlackClient:
    """One bot token's view of the Web API. Create once (app lifespan), share, close at shutdown."""

    def __init__(
        self,
        token: SecretStr | str,
        *,
        base_url: str = DEFAULT_SLACK_API_URL,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._identity: SlackIdentity | None = None
        self._identity_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SlackClient(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> SlackClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        http_get: bool = False,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        url = self._base_url + method
        try:
            if http_get:
                response = await self._http.get(url, params=dict(params or {}), headers=headers)
            else:
                response = await self._http.post(url, json=dict(json or {}), headers=headers)
        except httpx.HTTPError as e:
            raise SlackUnavailable(method, type(e).__name__) from e
        if response.status_code == 429:
            raise SlackRateLimited(method, _retry_after(response))
        if response.status_code >= 500:
            raise SlackUnavailable(method, f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as e:
            raise SlackApiError(method, f"non_json_response_http_{response.status_code}") from e
        if not isinstance(body, dict):
            raise SlackApiError(method, "unexpected_response_shape", status=response.status_code)
        if body.get("ok") is not True:
            raise SlackApiError(
                method, str(body.get("error") or "unknown_error"), status=response.status_code
            )
        return body

    def _parse(self, method: str, model: type[_M], body: Any) -> _M:
        try:
            return model.model_validate(body)
        except ValidationError as e:
            raise SlackApiError(method, "unexpected_response_shape") from e

    async def auth_test(self) -> SlackIdentity:
        """Ask Slack who this token is (always a request; see :meth:`identity` for the cached form)."""
        identity = self._parse("auth.test", SlackIdentity, await self._call("auth.test"))
        self._identity = identity
        return identity

    async def identity(self) -> SlackIdentity:
        """The bot's user id and bot id, asked once and then remembered."""
        if self._identity is not None:
            return self._identity
        async with self._identity_lock:
            return self._identity or await self.auth_test()

    async def post_message(
        self,
        channel: str,
        text: str,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
        username: str | None = None,
        icon_url: str | None = None,
        icon_emoji: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PostedMessage:
        """Post in ``channel`` (in the thread of ``thread_ts`` if given), optionally as another name."""
        payload: dict[str, Any] = {"channel": channel, "text": text}
        optional = {
            "blocks": list(blocks) if blocks is not None else None,
            "thread_ts": thread_ts,
            "username": username,
            "icon_url": icon_url,
            "icon_emoji": icon_emoji,
            "metadata": dict(metadata) if metadata is not None else None,
        }
        payload.update({key: value for key, value in optional.items() if value is not None})
        body = await self._call("chat.postMessage", json=payload)
        return self._parse("chat.postMessage", PostedMessage, body)

    async def update_message(
        self, channel: str, ts: str, text: str, *, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """Replace the text (and blocks) of a message the bot posted."""
        payload: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            payload["blocks"] = list(blocks)
        await self._call("chat.update", json=payload)

    async def post_ephemeral(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> None:
        """A message only ``user`` sees, in ``channel`` (or its thread)."""
        payload: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        await self._call("chat.postEphemeral", json=payload)

    async def usergroup_members(self, usergroup: str) -> list[str]:
        """The user ids in a user group (``S…``)."""
        body = await self._call("usergroups.users.list", params={"usergroup": usergroup}, http_get=True)
        users = body.get("users")
        return [str(u) for u in users] if isinstance(users, list) else []

    async def iter_replies(
        self, channel: str, ts: str, *, limit: int = _REPLIES_PAGE_LIMIT
    ) -> AsyncIterator[SlackMessage]:
        """Every message of the thread whose parent is ``ts`` (the parent first), across pages.

        Each message is yielded once even if Slack repeats the parent at the top of later pages.
        """
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"channel": channel, "ts": ts, "limit": limit}
            params["include_all_metadata"] = "true"
            if cursor:
                params["cursor"] = cursor
            body = await self._call("conversations.replies", params=params, http_get=True)
            messages = body.get("messages")
            if not isinstance(messages, list):
                raise SlackApiError("conversations.replies", "unexpected_response_shape")
            for raw in messages:
                message = self._parse("conversations.replies", SlackMessage, raw)
                if message.ts is not None:
                    if message.ts in seen:
                        continue
                    seen.add(message.ts)
                yield message
            metadata = body.get("response_metadata")
            cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
            if not cursor or not isinstance(cursor, str):
                return

    async def replies(self, channel: str, ts: str) -> list[SlackMessage]:
        """The whole thread as a list (see :meth:`iter_replies`)."""
        return [message async for message in self.iter_replies(channel, ts)]

    async def history(
        self, channel: str, *, oldest: str | None = None, limit: int = 200
    ) -> list[SlackMessage]:
        """The newest top-level messages of ``channel`` (one page, newest first), with their metadata."""
        params: dict[str, Any] = {"channel": channel, "limit": limit, "include_all_metadata": "true"}
        if oldest is not None:
            params["oldest"] = oldest
        body = await self._call("conversations.history", params=params, http_get=True)
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise SlackApiError("conversations.history", "unexpected_response_shape")
        return [self._parse("conversations.history", SlackMessage, raw) for raw in messages]

    async def history_page(
        self, channel: str, *, cursor: str | None = None, limit: int = 200
    ) -> tuple[list[SlackMessage], str | None]:
        """One page of ``channel``'s top-level messages, newest first, and the cursor of the next
        page (None after the last)."""
        params: dict[str, Any] = {"channel": channel, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = await self._call("conversations.history", params=params, http_get=True)
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise SlackApiError("conversations.history", "unexpected_response_shape")
        metadata = body.get("response_metadata")
        following = metadata.get("next_cursor") if isinstance(metadata, dict) else None
        parsed = [self._parse("conversations.history", SlackMessage, raw) for raw in messages]
        return parsed, following if isinstance(following, str) and following else None

    async def user_name(self, user_id: str) -> str:
        """How people see a user (display name, else real name, else the id), from ``users.info``."""
        body = await self._call("users.info", params={"user": user_id}, http_get=True)
        user = body.get("user")
        if not isinstance(user, dict):
            raise SlackApiError("users.info", "unexpected_response_shape")
        raw_profile = user.get("profile")
        profile: dict[str, Any] = raw_profile if isinstance(raw_profile, dict) else {}
        for candidate in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
            if isinstance(candidate, str) and candidate.strip():
                return candidate.strip()
        name = user.get("name")
        return name if isinstance(name, str) and name else user_id

    async def get_permalink(self, channel: str, message_ts: str) -> str:
        body = await self._call(
            "chat.getPermalink", params={"channel": channel, "message_ts": message_ts}, http_get=True
        )
        permalink = body.get("permalink")
        if not isinstance(permalink, str):
            raise SlackApiError("chat.getPermalink", "unexpected_response_shape")
        return permalink
