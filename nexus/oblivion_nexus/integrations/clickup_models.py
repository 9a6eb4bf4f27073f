"""What ClickUp API v2 sends back, as typed models, and its rich text as plain text.

ClickUp's payloads are large and drift over time, so the models keep only the fields the flow uses
and ignore the rest. ClickUp is inconsistent about id types (a comment id is a string on GET and a
number on create; user and team ids are numbers), so every id is normalised to a string.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

logger = logging.getLogger(__name__)


def _id_as_string(value: Any) -> Any:
    if isinstance(value, bool):
        return value  # let pydantic refuse it: a boolean is never an id
    if isinstance(value, int):
        return str(value)
    return value


def _ms_as_int(value: Any) -> Any:
    # ClickUp sends timestamps as strings of unix milliseconds ("1567780450202"), sometimes numbers.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


ClickUpId = Annotated[str, BeforeValidator(_id_as_string)]
UnixMillis = Annotated[int, BeforeValidator(_ms_as_int)]


class ClickUpModel(BaseModel):
    """Tolerant of fields ClickUp adds; immutable once parsed."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class User(ClickUpModel):
    id: ClickUpId
    username: str | None = None
    email: str | None = None
    initials: str | None = None
    profile_picture: str | None = Field(default=None, alias="profilePicture")

    @property
    def display_name(self) -> str:
        return self.username or self.email or f"user {self.id}"


class Status(ClickUpModel):
    status: str
    type: str | None = None
    color: str | None = None


class Tag(ClickUpModel):
    name: str


class Location(ClickUpModel):
    id: ClickUpId
    name: str | None = None


class Task(ClickUpModel):
    id: ClickUpId
    custom_id: str | None = None
    name: str
    text_content: str | None = None
    description: str | None = None
    status: Status | None = None
    date_created: UnixMillis | None = None
    date_updated: UnixMillis | None = None
    archived: bool = False
    creator: User | None = None
    assignees: list[User] = Field(default_factory=list)
    watchers: list[User] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    parent: ClickUpId | None = None
    team_id: ClickUpId | None = None
    url: str | None = None
    home_list: Location | None = Field(default=None, alias="list")
    folder: Location | None = None
    space: Location | None = None

    @property
    def plain_description(self) -> str:
        """The description as plain text (``text_content`` is ClickUp's own rendering of it)."""
        return self.text_content if self.text_content is not None else (self.description or "")


class TaskPage(ClickUpModel):
    tasks: list[Task]
    last_page: bool | None = None


class Comment(ClickUpModel):
    id: ClickUpId
    comment: list[dict[str, Any]] = Field(default_factory=list)
    comment_text: str | None = None
    user: User | None = None
    resolved: bool = False
    date: UnixMillis | None = None

    @property
    def plain_text(self) -> str:
        """The comment as plain text, from its rich-text items when present."""
        if self.comment:
            return comment_items_text(self.comment)
        return (self.comment_text or "").strip()


class CommentPage(ClickUpModel):
    comments: list[Comment]


class CreatedComment(ClickUpModel):
    id: ClickUpId
    hist_id: ClickUpId | None = None
    date: UnixMillis | None = None


class WebhookHealth(ClickUpModel):
    status: str = "active"
    fail_count: int = 0


class Webhook(ClickUpModel):
    """A team webhook. ``secret`` signs its deliveries; hidden from repr and logs by ``SecretStr``."""

    id: ClickUpId
    userid: ClickUpId | None = None
    team_id: ClickUpId | None = None
    endpoint: str
    client_id: str | None = None
    events: list[str] = Field(default_factory=list)
    task_id: ClickUpId | None = None
    list_id: ClickUpId | None = None
    folder_id: ClickUpId | None = None
    space_id: ClickUpId | None = None
    health: WebhookHealth = Field(default_factory=WebhookHealth)
    secret: SecretStr | None = None

    @property
    def is_suspended(self) -> bool:
        return self.health.status == "suspended"


def _emoticon_text(emoticon: Any) -> str:
    code = emoticon.get("code") if isinstance(emoticon, dict) else None
    if not isinstance(code, str):
        return ""
    try:
        return "".join(chr(int(part, 16)) for part in code.split("-") if part)
    except (ValueError, OverflowError):
        return ""


def _comment_item_text(item: Any) -> str:
    if not isinstance(item, dict):
        return ""
    text = item.get("text")
    if item.get("type") == "tag":
        # How a tag reads back is undocumented; prefer its text, then the username, then the id.
        if isinstance(text, str) and text:
            return text
        user = item.get("user")
        name = (user.get("username") or user.get("id")) if isinstance(user, dict) else None
        return f"@{name}" if name not in (None, "") else ""
    if item.get("type") == "emoticon":
        return _emoticon_text(item.get("emoticon"))
    return text if isinstance(text, str) else ""


def comment_items_text(items: Sequence[Any]) -> str:
    """ClickUp rich-text comment items (``[{"text": …, "attributes": …}, …]``) as plain text."""
    return "".join(_comment_item_text(item) for item in items).strip()


def quill_ops_text(value: str | None) -> str:
    """A description as ClickUp sends it in webhooks — a JSON string of Quill ``ops`` — as plain text.

    Anything that is not such a document is already text and comes back unchanged.
    """
    if not value:
        return ""
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
        return value
    ops = document.get("ops") if isinstance(document, dict) else None
    if not isinstance(ops, list):
        return value
    parts: list[str] = []
    for op in ops:
        insert = op.get("insert") if isinstance(op, dict) else None
        if isinstance(insert, str):
            parts.append(insert)
    return "".join(parts).strip()
