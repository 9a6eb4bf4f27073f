"""The state of a fake Slack workspace and the Web API methods that act on it.

Shapes follow `../shared/fixtures/slack/web/` (the documented responses): channels as in
`conversations.create.ok.json`, bot messages as in `chat.postMessage.ok.json`, threads as in
`conversations.replies.ok.json`, errors as `{"ok": false, "error": code}`. Everything is guarded by one
lock because the HTTP server thread and the test thread both touch it.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T123ABC456"
BOT_USER_ID = "U0LAN0Z89"
BOT_ID = "B123ABC456"
HUMAN_USER_ID = "U061F7AUR"
_CHANNEL_NAME_RE = re.compile(r"^[a-z0-9_-]+$")
_MAX_CHANNEL_NAME = 80
_DEFAULT_PAGE = 100
_MAX_PAGE = 1000


class SlackError(Exception):
    """A Web API error answered as HTTP 200 `{"ok": false, "error": code}`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Channel:
    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)
    topic: str = ""
    purpose: str = ""

    def as_api(self, viewer: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "pending_shared": [],
            "is_pending_ext_shared": False,
            "is_member": viewer in self.members,
            "is_private": self.is_private,
            "is_mpim": False,
            "last_read": "0000000000.000000",
            "latest": None,
            "unread_count": 0,
            "unread_count_display": 0,
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
            "priority": 0,
            "num_members": len(self.members),
        }


@dataclass(frozen=True)
class Call:
    """One Web API call as the fake received it, for assertions."""

    method: str
    args: dict[str, Any]
    status: int
    response: dict[str, Any]


def _cursor(offset: int) -> str:
    return base64.b64encode(f"next:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("next:"))
    except ValueError as e:
        raise SlackError("invalid_cursor") from e


def _page(items: list[Any], args: Mapping[str, Any]) -> tuple[list[Any], dict[str, str]]:
    limit = min(int(args.get("limit") or _DEFAULT_PAGE), _MAX_PAGE) or _DEFAULT_PAGE
    start = _offset(args.get("cursor"))
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, {"next_cursor": _cursor(start + limit) if more else ""}


# Real channel ids are unique across workspaces, and Nexus refuses a channel a second project claims.
# Fake workspaces of one test run share one database, so they draw ids from one sequence, starting at
# a random point so that separate processes (e2e fakes) do not collide either.
_CHANNEL_NUMBERS = itertools.count(1 + secrets.randbelow(50_000_000))


class SlackWorkspace:
    """Channels, messages and users of one workspace, plus the rate-limit plan and call record."""

    def __init__(self, *, bot_token: str = "xoxb-test-token", require_membership: bool = True) -> None:
        self.bot_token = bot_token
        self.require_membership = require_membership
        self.lock = threading.RLock()
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}  # subteam id (S…) -> member user ids
        self.ephemerals: list[dict[str, Any]] = []  # what chat.postEphemeral showed to whom
        self.calls: list[Call] = []
        self._rate_limits: dict[str, list[float]] = {}
        self._ids = _CHANNEL_NUMBERS
        self._last_ts = 0.0
        self.add_user(BOT_USER_ID, "oblivion", is_bot=True)
        self.add_user(HUMAN_USER_ID, "spengler")

    # Arranging state behind the operator's back

    def add_user(self, user_id: str, name: str, *, is_bot: bool = False) -> dict[str, Any]:
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "deleted": False,
            "real_name": name.title(),
            "is_bot": is_bot,
            "is_admin": False,
            "is_owner": False,
            "tz": "Europe/Amsterdam",
            "profile": {"real_name": name.title(), "display_name": name, "email": f"{name}@example.com"},
        }
        with self.lock:
            self.users[user_id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        creator: str = HUMAN_USER_ID,
        members: set[str] | None = None,
        is_private: bool = False,
    ) -> Channel:
        with self.lock:
            channel = Channel(
                id=f"C{next(self._ids):08d}X",
                name=name,
                created=int(time.time()),
                creator=creator,
                is_private=is_private,
                members=set(members or {creator}),
            )
            self.channels[channel.id] = channel
            self.messages[channel.id] = []
            return channel

    def delete_channel(self, channel_id: str) -> None:
        with self.lock:
            self.channels.pop(channel_id, None)
            self.messages.pop(channel_id, None)

    def plan_rate_limit(self, method: str, times: int, retry_after: float) -> None:
        with self.lock:
            self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def take_rate_limit(self, method: str) -> float | None:
        with self.lock:
            planned = self._rate_limits.get(method)
            return planned.pop(0) if planned else None

    def next_ts(self) -> str:
        with self.lock:
            self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
            return f"{self._last_ts:.6f}"

    def post(self, channel_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """Store a message (and update its thread's parent); returns the stored message."""
        with self.lock:
            message = {"type": "message", **message, "ts": self.next_ts()}
            thread_ts = message.get("thread_ts")
            parent = self._find(channel_id, thread_ts) if thread_ts else None
            if parent is None:
                message.pop("thread_ts", None)
            else:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
                author = message.get("user") or message.get("bot_id", "")
                parent["reply_users"] = sorted({*parent.get("reply_users", []), author})
                message["parent_user_id"] = parent.get("user", BOT_USER_ID)
            self.messages[channel_id].append(message)
            return message

    def _find(self, channel_id: str, ts: str | None) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)

    # Web API methods

    def _channel(self, args: Mapping[str, Any]) -> Channel:
        channel = self.channels.get(str(args.get("channel") or ""))
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def auth_test(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://oblivion-test.slack.com/",
            "team": "Oblivion Test",
            "user": "oblivion",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def conversations_create(self, args: Mapping[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > _MAX_CHANNEL_NAME:
            raise SlackError("invalid_name_maxlength")
        if not _CHANNEL_NAME_RE.match(name):
            raise SlackError("invalid_name")
        if any(c.name == name for c in self.channels.values()):
            raise SlackError("name_taken")
        private = str(args.get("is_private", "false")).lower() == "true"
        channel = self.add_channel(name, creator=BOT_USER_ID, members={BOT_USER_ID}, is_private=private)
        return {"channel": channel.as_api(BOT_USER_ID)}

    def conversations_info(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel(args).as_api(BOT_USER_ID)}

    def conversations_archive(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.is_archived:
            raise SlackError("already_archived")
        channel.is_archived = True
        return {}

    def conversations_unarchive(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not channel.is_archived:
            raise SlackError("not_archived")
        channel.is_archived = False
        return {}

    def conversations_join(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.is_archived:
            raise SlackError("is_archived")
        response: dict[str, Any] = {}
        if BOT_USER_ID in channel.members:
            response["warning"] = "already_in_channel"
            response["response_metadata"] = {"warnings": ["already_in_channel"]}
        channel.members.add(BOT_USER_ID)
        return {"channel": channel.as_api(BOT_USER_ID), **response}

    def conversations_list(self, args: Mapping[str, Any]) -> dict[str, Any]:
        exclude_archived = str(args.get("exclude_archived", "false")).lower() == "true"
        types = set(str(args.get("types") or "public_channel").split(","))
        channels = [
            c
            for c in self.channels.values()
            if not (exclude_archived and c.is_archived)
            and (("private_channel" in types) if c.is_private else ("public_channel" in types))
        ]
        page, metadata = _page([c.as_api(BOT_USER_ID) for c in channels], args)
        return {"channels": page, "response_metadata": metadata}

    def chat_post_message(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel.is_archived:
            raise SlackError("is_archived")
        if self.require_membership and BOT_USER_ID not in channel.members:
            raise SlackError("not_in_channel")
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise SlackError("no_text")
        message: dict[str, Any] = {
            "subtype": "bot_message",
            "text": args.get("text") or "",
            "bot_id": BOT_ID,
            "user": BOT_USER_ID,
            "username": args.get("username") or "oblivion",
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if args.get(key):
                message[key] = args[key]
        icons = {k: args[k] for k in ("icon_emoji", "icon_url") if args.get(k)}
        if icons:
            message["icons"] = icons
        stored = self.post(channel.id, message)
        return {"channel": channel.id, "ts": stored["ts"], "message": copy.deepcopy(stored)}

    def chat_update(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel.id, str(args.get("ts") or ""))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != BOT_USER_ID:
            raise SlackError("cant_update_message")
        for key in ("text", "blocks", "attachments"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def conversations_replies(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        parent = self._find(channel.id, str(args.get("ts") or ""))
        if parent is None:
            raise SlackError("thread_not_found")
        thread = [
            m
            for m in self.messages[channel.id]
            if m["ts"] == parent["ts"] or m.get("thread_ts") == parent["ts"]
        ]
        page, metadata = _page(copy.deepcopy(thread), args)
        return {"messages": page, "has_more": bool(metadata["next_cursor"]), "response_metadata": metadata}

    def conversations_history(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        top = [m for m in reversed(self.messages[channel.id]) if m.get("thread_ts") in (None, m["ts"])]
        page, metadata = _page(copy.deepcopy(top), args)
        return {"messages": page, "has_more": bool(metadata["next_cursor"]), "response_metadata": metadata}

    def chat_get_permalink(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("message_ts") or "")
        if self._find(channel.id, ts) is None:
            raise SlackError("message_not_found")
        link = f"https://oblivion-test.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
        return {"channel": channel.id, "permalink": link}

    def chat_post_ephemeral(self, args: Mapping[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = str(args.get("user") or "")
        if not user:
            raise SlackError("user_not_found")
        if not (args.get("text") or args.get("blocks")):
            raise SlackError("no_text")
        note = {
            "channel": channel.id,
            "user": user,
            "text": args.get("text") or "",
            "thread_ts": args.get("thread_ts"),
        }
        self.ephemerals.append(note)
        return {"message_ts": self.next_ts()}

    def usergroups_users_list(self, args: Mapping[str, Any]) -> dict[str, Any]:
        members = self.usergroups.get(str(args.get("usergroup") or ""))
        if members is None:
            raise SlackError("no_such_subteam")
        return {"users": list(members)}

    def users_info(self, args: Mapping[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def method(self, name: str) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
        return {
            "auth.test": self.auth_test,
            "conversations.create": self.conversations_create,
            "conversations.info": self.conversations_info,
            "conversations.archive": self.conversations_archive,
            "conversations.unarchive": self.conversations_unarchive,
            "conversations.join": self.conversations_join,
            "conversations.list": self.conversations_list,
            "conversations.replies": self.conversations_replies,
            "conversations.history": self.conversations_history,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
            "chat.getPermalink": self.chat_get_permalink,
        }.get(name)
