"""Slack channels of workgroups and projects: create or adopt, check for drift, archive.

Channel creation is get-or-create by name: ``name_taken`` means the channel exists (perhaps made by an
earlier run that crashed before recording it), so it is looked up with ``conversations.list`` and
adopted. Rate limiting (HTTP 429) becomes an error carrying Slack's ``Retry-After`` so the handler
retries exactly then.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from oblivion_operator.errors import ExternalError, NotFound

logger = logging.getLogger(__name__)
SYSTEM = "Slack"
DEFAULT_RETRY_AFTER = 30.0  # Slack's documented example; used when a 429 comes without the header


@dataclasses.dataclass(frozen=True)
class Channel:
    id: str
    name: str
    is_archived: bool
    is_member: bool = True
    is_private: bool = False


def _channel(data: Any) -> Channel:
    return Channel(
        id=data["id"],
        name=data.get("name", ""),
        is_archived=bool(data.get("is_archived")),
        is_member=bool(data.get("is_member", True)),
        is_private=bool(data.get("is_private")),
    )


class SlackChannels:
    def __init__(self, token: str, base_url: str = "https://slack.com/api/") -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self._client = AsyncWebClient(token=token, base_url=base_url)

    async def aclose(self) -> None:
        session = getattr(self._client, "session", None)
        if session is not None:
            await session.close()

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            response = await self._client.api_call(method, params=params)
        except SlackApiError as e:
            status = e.response.status_code
            error = e.response.get("error") if isinstance(e.response.data, dict) else None
            if status == 429:
                retry_after = _retry_after(e.response.headers)
                raise ExternalError(
                    SYSTEM, f"{method} rate-limited", status=429, code="ratelimited", retry_after=retry_after
                ) from e
            if error == "channel_not_found":
                raise NotFound(SYSTEM, f"{method}: channel_not_found", code=error) from e
            raise ExternalError(
                SYSTEM,
                f"{method} failed: {error or status}",
                status=status,
                code=error,
                retryable=status >= 500 or error in ("internal_error", "fatal_error", "service_unavailable"),
            ) from e
        except (SlackClientError, OSError, TimeoutError) as e:
            raise ExternalError(SYSTEM, f"{method} failed: {type(e).__name__}: {e}") from e
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def ensure_channel(self, name: str) -> Channel:
        """Create channel ``name``, or adopt the existing one (unarchiving it) when the name is taken."""
        try:
            data = await self._call("conversations.create", name=name, is_private=False)
            return _channel(data["channel"])
        except ExternalError as e:
            if e.code != "name_taken":
                raise
        found = await self.find_by_name(name)
        if found is None:
            raise ExternalError(
                SYSTEM, f"channel #{name} is taken but not visible to the bot", code="name_taken"
            )
        if found.is_archived:
            await self.unarchive(found.id)
            found = dataclasses.replace(found, is_archived=False)
        return found

    async def find_by_name(self, name: str) -> Channel | None:
        cursor = ""
        while True:
            params: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "exclude_archived": False,
                "limit": 200,
            }
            if cursor:
                params["cursor"] = cursor
            page = await self._call("conversations.list", **params)
            for item in page.get("channels", []):
                if item.get("name") == name or item.get("name_normalized") == name:
                    return _channel(item)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return None

    async def info(self, channel_id: str) -> Channel:
        """The channel's current state; ``NotFound`` when it no longer exists."""
        data = await self._call("conversations.info", channel=channel_id)
        return _channel(data["channel"])

    async def archive(self, channel_id: str) -> None:
        try:
            await self._call("conversations.archive", channel=channel_id)
        except NotFound:
            return
        except ExternalError as e:
            if e.code != "already_archived":
                raise

    async def join(self, channel_id: str) -> None:
        """Make the bot a member of a public channel, so Nexus can post in it."""
        await self._call("conversations.join", channel=channel_id)

    async def unarchive(self, channel_id: str) -> None:
        try:
            await self._call("conversations.unarchive", channel=channel_id)
        except ExternalError as e:
            if e.code != "not_archived":
                raise


def _retry_after(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(float(value if not isinstance(value, list) else value[0]), 0.0)
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER
