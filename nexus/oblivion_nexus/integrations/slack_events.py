"""Inbound Slack Events API deliveries, parsed and keyed for de-duplication.

Slack POSTs three kinds of body: the ``url_verification`` handshake, ``event_callback`` envelopes
around one event, and ``app_rate_limited`` notices. Slack retries a delivery up to three times, so
the outer ``event_id`` is the de-duplication key. Whether a message is Nexus's own (and must never be
mirrored back) is decided from ``bot_id`` and ``user``, not only from ``subtype``: modern app bots
post without a subtype.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from oblivion_nexus.integrations.errors import MalformedPayload
from oblivion_nexus.integrations.slack import SlackMessage, SlackModel

logger = logging.getLogger(__name__)


class SlackEvent(SlackModel):
    """The inner ``event``, tolerant of every event type.

    Message-like events (``message``, ``app_mention``) fill the message fields; other events keep
    their own shapes (``channel_created`` has a channel *object*), reachable as extra attributes.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1)
    subtype: str | None = None
    user: str | dict[str, Any] | None = None
    channel: str | dict[str, Any] | None = None
    bot_id: str | None = None
    text: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    event_ts: str | None = None
    channel_type: str | None = None
    hidden: bool = False
    # message_changed nests the edited message here; message_replied nests the thread's parent.
    message: dict[str, Any] | None = None

    @property
    def is_message(self) -> bool:
        return self.type in ("message", "app_mention")

    @property
    def channel_id(self) -> str | None:
        if isinstance(self.channel, dict):
            value = self.channel.get("id")
            return value if isinstance(value, str) else None
        return self.channel

    @property
    def user_id(self) -> str | None:
        return self.user if isinstance(self.user, str) else None

    @property
    def nested_message(self) -> SlackMessage | None:
        if self.message is None:
            return None
        try:
            return SlackMessage.model_validate(self.message)
        except ValidationError:
            return None

    @property
    def effective(self) -> SlackMessage:
        """The message a person sees: the edited one for ``message_changed``, else the event itself."""
        nested = self.nested_message
        if self.subtype == "message_changed" and nested is not None:
            return nested
        extra = self.model_extra or {}
        blocks = extra.get("blocks")
        return SlackMessage(
            type=self.type,
            subtype=self.subtype,
            user=self.user_id,
            bot_id=self.bot_id,
            username=extra.get("username") if isinstance(extra.get("username"), str) else None,
            text=self.text or "",
            ts=self.ts,
            thread_ts=self.thread_ts,
            parent_user_id=extra.get("parent_user_id")
            if isinstance(extra.get("parent_user_id"), str)
            else None,
            blocks=[b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else [],
        )

    @property
    def is_thread_reply(self) -> bool:
        """Slack's documented test: a reply has ``thread_ts`` and it differs from ``ts``."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    def is_authored_by(self, user_id: str | None, bot_id: str | None) -> bool:
        """Whether this message (or, for an edit, the edited message) was posted by that bot."""
        candidates = [(self.user_id, self.bot_id)]
        nested = self.nested_message
        if self.subtype == "message_changed" and nested is not None:
            candidates.append((nested.user, nested.bot_id))
        return any(
            (user_id is not None and author == user_id) or (bot_id is not None and bot == bot_id)
            for author, bot in candidates
        )

    @property
    def is_from_a_bot(self) -> bool:
        return self.bot_id is not None or self.subtype == "bot_message"


class SlackAuthorization(SlackModel):
    team_id: str | None = None
    user_id: str | None = None
    enterprise_id: str | None = None
    is_bot: bool = False


class SlackUrlVerification(SlackModel):
    type: Literal["url_verification"]
    challenge: str = Field(min_length=1, max_length=1024)
    token: str | None = None


class SlackAppRateLimited(SlackModel):
    type: Literal["app_rate_limited"]
    team_id: str | None = None
    api_app_id: str | None = None
    minute_rate_limited: int | None = None


class SlackEventCallback(SlackModel):
    type: Literal["event_callback"]
    event_id: str = Field(min_length=1)
    event_time: int | None = None
    team_id: str | None = None
    api_app_id: str | None = None
    event: SlackEvent
    authorizations: list[SlackAuthorization] = Field(default_factory=list)

    @property
    def dedupe_key(self) -> str:
        return self.event_id


class SlackRetry(SlackModel):
    """Slack's retry headers: which attempt this is (1-3) and why the previous one failed."""

    number: int
    reason: str


def slack_retry(headers: Mapping[str, str]) -> SlackRetry | None:
    """The retry a delivery announces in ``X-Slack-Retry-Num``/``-Reason``, or None for a first try.

    ``headers`` must look names up case-insensitively (as Starlette's and httpx's headers do).
    """
    number = headers.get("x-slack-retry-num", "").strip()
    if not number.isascii() or not number.isdigit() or len(number) > 3:
        return None
    return SlackRetry(number=int(number), reason=headers.get("x-slack-retry-reason", "unknown_error")[:64])


SlackPayload = Annotated[
    SlackUrlVerification | SlackEventCallback | SlackAppRateLimited, Field(discriminator="type")
]
_PAYLOAD = TypeAdapter[SlackUrlVerification | SlackEventCallback | SlackAppRateLimited](SlackPayload)
_KNOWN_TYPES = ("url_verification", "event_callback", "app_rate_limited")


def parse_slack_payload(
    raw_body: bytes | str,
) -> SlackUrlVerification | SlackEventCallback | SlackAppRateLimited:
    """Parse the raw body of a Slack Events API delivery; :class:`MalformedPayload` says what is wrong."""
    try:
        document: Any = json.loads(raw_body)
    except (ValueError, RecursionError) as e:
        raise MalformedPayload("slack", "body is not JSON") from e
    if not isinstance(document, dict):
        raise MalformedPayload("slack", "body is not a JSON object")
    kind = document.get("type")
    if kind not in _KNOWN_TYPES:
        raise MalformedPayload("slack", f"unsupported payload type {str(kind)[:40]!r}")
    try:
        return _PAYLOAD.validate_python(document)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "body"
        raise MalformedPayload("slack", f"{where}: {first['msg']}") from e
    except RecursionError as e:
        raise MalformedPayload("slack", "body is nested too deeply") from e
