"""Slack's side of the Events API: envelopes shaped like ../shared/fixtures/slack/events, signed and
delivered the way Slack delivers them.

Slack signs each attempt anew (``X-Slack-Request-Timestamp``, ``X-Slack-Signature``), counts a
delivery as failed without a 2xx within 3 s, and retries up to three times with
``X-Slack-Retry-Num``/``X-Slack-Retry-Reason``, unless the answer carried ``X-Slack-No-Retry: 1``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from oblivion_nexus.services.taskflow.signatures import sign_slack_body

TEAM_ID = "T123ABC456"
APP_ID = "A123ABC456"
HUMAN_USER = "U061F7AUR"
_DELIVERY_TIMEOUT = 3.0  # Slack waits 3 s for a 2xx
_MAX_RETRIES = 3
_event_ids = itertools.count(1)
_ts_counter = itertools.count(1)


def next_ts() -> str:
    """A message timestamp that is unique in this process, in Slack's ``seconds.micros`` form."""
    return f"{int(time.time())}.{next(_ts_counter):06d}"


def message_event(
    channel: str,
    text: str,
    *,
    user: str = HUMAN_USER,
    ts: str | None = None,
    thread_ts: str | None = None,
    bot_id: str | None = None,
    subtype: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A channel ``message`` event (a thread reply when ``thread_ts`` is given)."""
    stamp = ts or next_ts()
    event: dict[str, Any] = {
        "user": user,
        "type": "message",
        "ts": stamp,
        "text": text,
        "team": TEAM_ID,
        "channel": channel,
        "event_ts": stamp,
        "channel_type": "channel",
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = user
    if bot_id is not None:
        event["bot_id"] = bot_id
    if subtype is not None:
        event["subtype"] = subtype
    if blocks is not None:
        event["blocks"] = blocks
    return event


def message_changed_event(
    channel: str, ts: str, text: str, *, user: str = HUMAN_USER, thread_ts: str | None = None
) -> dict[str, Any]:
    """A ``message_changed`` event: the message ``ts`` edited to ``text`` (Slack's shape: the edit's own
    ``ts``, the edited message nested under ``message``)."""
    edited = next_ts()
    message: dict[str, Any] = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "edited": {"user": user, "ts": edited},
    }
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": channel,
        "ts": edited,
        "event_ts": edited,
        "message": message,
    }


def message_deleted_event(channel: str, ts: str, *, previous_text: str = "") -> dict[str, Any]:
    """A ``message_deleted`` event for the message ``ts``."""
    stamp = next_ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": channel,
        "ts": stamp,
        "event_ts": stamp,
        "deleted_ts": ts,
        "previous_message": {"type": "message", "user": HUMAN_USER, "text": previous_text, "ts": ts},
    }


def app_mention_event(
    channel: str, text: str, *, user: str = HUMAN_USER, thread_ts: str | None = None
) -> dict[str, Any]:
    stamp = next_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": stamp,
        "channel": channel,
        "event_ts": stamp,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def event_callback(
    event: dict[str, Any], *, bot_user_id: str = "U0LAN0Z89", event_id: str | None = None
) -> dict[str, Any]:
    """The ``event_callback`` envelope around ``event``, as Slack wraps it."""
    return {
        "token": "verification_token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):09d}FAKE",
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": TEAM_ID, "user_id": bot_user_id, "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-eyJldCI6Im1lc3NhZ2UifQ-{TEAM_ID}",
    }


def url_verification(
    challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
) -> dict[str, Any]:
    return {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}


def signed_headers(body: bytes, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign_slack_body(body, stamp, signing_secret),
    }


@dataclass
class Attempt:
    status: int | None
    retry_num: int | None
    retry_reason: str | None
    response_body: bytes = b""
    no_retry: bool = False
    error: str | None = None  # Slack's retry reason for a delivery that got no answer


@dataclass
class SlackDelivery:
    body: bytes
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        last = self.attempts[-1].status if self.attempts else None
        return last is not None and 200 <= last < 300

    @property
    def response_body(self) -> bytes:
        return self.attempts[-1].response_body if self.attempts else b""


class SlackEventSender:
    """Delivers payloads to one Request URL like Slack does, retrying failed deliveries."""

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        http: httpx.AsyncClient | None = None,
        retry_delays: tuple[float, ...] = (0.0, 0.0, 0.0),
        timeout: float = _DELIVERY_TIMEOUT,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self._http = http
        self._retry_delays = retry_delays
        self._timeout = timeout

    async def attempt(
        self,
        payload: dict[str, Any] | bytes,
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
    ) -> Attempt:
        """One signed POST; ``retry_num``/``retry_reason`` add Slack's retry headers."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = signed_headers(body, self.signing_secret, timestamp)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_error"
        client = self._http or httpx.AsyncClient()
        try:
            response = await client.post(self.url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            return Attempt(None, retry_num, retry_reason, error="http_timeout")
        except httpx.HTTPError:
            return Attempt(None, retry_num, retry_reason, error="connection_failed")
        finally:
            if self._http is None:
                await client.aclose()
        no_retry = response.headers.get("x-slack-no-retry") == "1"
        return Attempt(response.status_code, retry_num, retry_reason, response.content, no_retry)

    async def send(self, payload: dict[str, Any] | bytes) -> SlackDelivery:
        """Deliver, then retry up to three times while the endpoint fails (as Slack does)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        delivery = SlackDelivery(body)
        reason: str | None = None
        for retry in range(_MAX_RETRIES + 1):
            if retry:
                await asyncio.sleep(self._retry_delays[min(retry, len(self._retry_delays)) - 1])
            result = await self.attempt(body, retry_num=retry or None, retry_reason=reason)
            delivery.attempts.append(result)
            if result.status is not None and 200 <= result.status < 300:
                break
            if result.no_retry:
                break
            reason = result.error or "http_error"
        return delivery


def button_click(
    signing_secret: str, *, user: str, channel: str, action_id: str, value: str
) -> tuple[bytes, dict[str, str]]:
    """The form body and signed headers Slack posts to the interactivity URL when ``user`` clicks a
    Block Kit button (``action_id``, carrying ``value``) on a message in ``channel``."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": user, "username": user.lower()},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1.0"},
        "actions": [{"action_id": action_id, "type": "button", "value": value, "block_id": "decision"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return body, {**signed_headers(body, signing_secret), "Content-Type": "application/x-www-form-urlencoded"}


async def send_slack_event(
    url: str, payload: dict[str, Any] | bytes, signing_secret: str, *, http: httpx.AsyncClient | None = None
) -> SlackDelivery:
    """Deliver one payload to ``url`` like Slack (signed, retried on failure)."""
    return await SlackEventSender(url, signing_secret, http=http).send(payload)


class SlackWorkspaceView(Protocol):
    """What the relay reads from a fake Slack (``tests.fakes.slack.FakeSlack`` has it)."""

    @property
    def channels(self) -> list[dict[str, Any]]: ...

    def messages(self, channel_id: str) -> list[dict[str, Any]]: ...


_RELAYED_KEYS = ("user", "bot_id", "subtype", "text", "thread_ts", "parent_user_id", "blocks", "username")


class SlackEventRelay:
    """Turns messages that appear in a fake Slack into ``message`` events at a Request URL.

    Real Slack sends an event for every message in a channel the app is in — including the app's own
    posts, which is exactly the echo a mirror must ignore. Call :meth:`deliver_new` to send what
    appeared since the last call (messages posted through the Web API or by ``post_as_user``).
    """

    def __init__(self, workspace: SlackWorkspaceView, sender: SlackEventSender) -> None:
        self.workspace = workspace
        self.sender = sender
        self._seen: set[tuple[str, str]] = set()

    def mark_all_seen(self) -> None:
        for channel in self.workspace.channels:
            self._seen.update((channel["id"], m["ts"]) for m in self.workspace.messages(channel["id"]))

    async def deliver_new(self) -> list[SlackDelivery]:
        deliveries = []
        for channel in self.workspace.channels:
            for message in self.workspace.messages(channel["id"]):
                key = (channel["id"], message["ts"])
                if key in self._seen:
                    continue
                self._seen.add(key)
                event = {k: message[k] for k in _RELAYED_KEYS if message.get(k) is not None}
                event.update(
                    type="message",
                    channel=channel["id"],
                    ts=message["ts"],
                    event_ts=message["ts"],
                    channel_type="channel",
                )
                deliveries.append(await self.sender.send(event_callback(event)))
        return deliveries
