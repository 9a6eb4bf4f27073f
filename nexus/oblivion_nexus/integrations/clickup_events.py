"""Inbound ClickUp webhook deliveries, parsed and keyed for de-duplication.

ClickUp sends little in a webhook (the worker fetches the task), sends two events for one change
(``taskUpdated`` and ``taskStatusUpdated`` share a history item id), and retries a delivery up to five
times. :attr:`ClickUpWebhookEvent.dedupe_key` is what makes all of that land exactly once.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pydantic import Field, ValidationError

from oblivion_nexus.integrations.clickup_models import (
    ClickUpId,
    ClickUpModel,
    UnixMillis,
    User,
    comment_items_text,
    quill_ops_text,
)
from oblivion_nexus.integrations.errors import MalformedPayload

logger = logging.getLogger(__name__)

# The history item that *is* each event; the others ride along (a creation also carries its first
# status, which ClickUp sends again, same id, as taskStatusUpdated — that one must not win the key).
_PRIMARY_FIELD = {
    "taskCreated": "task_creation",
    "taskStatusUpdated": "status",
    "taskCommentPosted": "comment",
    "taskCommentUpdated": "comment",
    "taskAssigneeUpdated": "assignee_add",
}


class WebhookComment(ClickUpModel):
    id: ClickUpId
    parent: ClickUpId | None = None
    date: UnixMillis | None = None
    comment: list[dict[str, Any]] = Field(default_factory=list)
    text_content: str | None = None
    user: User | None = None

    @property
    def plain_text(self) -> str:
        if self.comment:
            return comment_items_text(self.comment)
        return (self.text_content or "").strip()


class HistoryItem(ClickUpModel):
    id: ClickUpId
    type: int | None = None
    date: UnixMillis | None = None
    field: str | None = None
    parent_id: ClickUpId | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    user: User | None = None
    before: Any = None
    after: Any = None
    comment: WebhookComment | None = None


class ClickUpWebhookEvent(ClickUpModel):
    """One delivery to ``POST /webhooks/clickup``."""

    event: str = Field(min_length=1)
    task_id: ClickUpId = Field(min_length=1)
    webhook_id: ClickUpId = Field(min_length=1)
    history_items: list[HistoryItem] = Field(default_factory=list)

    @property
    def primary_item(self) -> HistoryItem | None:
        """The history item describing this event's change (None for ``taskDeleted``)."""
        wanted = _PRIMARY_FIELD.get(self.event)
        for item in self.history_items:
            if wanted is not None and item.field == wanted:
                return item
        return self.history_items[0] if self.history_items else None

    @property
    def dedupe_key(self) -> str:
        """``{webhook_id}:{history_item_id}``, ClickUp's documented idempotency key.

        ``taskDeleted`` carries no history, so its key is built from the event and the task.
        """
        item = self.primary_item
        if item is None:
            return f"{self.webhook_id}:{self.event}:{self.task_id}"
        return f"{self.webhook_id}:{item.id}"

    @property
    def list_id(self) -> str | None:
        """The task's list, which ClickUp puts in each history item's ``parent_id``."""
        item = self.primary_item
        return item.parent_id if item is not None else None

    @property
    def actor(self) -> User | None:
        item = self.primary_item
        return item.user if item is not None else None

    @property
    def comment(self) -> WebhookComment | None:
        for item in self.history_items:
            if item.field == "comment" and item.comment is not None:
                return item.comment
        return None

    @property
    def description_text(self) -> str | None:
        """The new description as plain text, when this delivery changes it; else None."""
        for item in self.history_items:
            if item.field == "content":
                return quill_ops_text(item.after if isinstance(item.after, str) else None)
        return None

    @property
    def status_change(self) -> tuple[str | None, str] | None:
        """``(before, after)`` status names when this delivery changes the status; else None."""
        for item in self.history_items:
            if item.field == "status" and isinstance(item.after, dict):
                after = item.after.get("status")
                before = item.before.get("status") if isinstance(item.before, dict) else None
                if isinstance(after, str):
                    return (before if isinstance(before, str) else None, after)
        return None

    @property
    def assignee_added(self) -> User | None:
        for item in self.history_items:
            if item.field == "assignee_add" and isinstance(item.after, dict):
                try:
                    return User.model_validate(item.after)
                except ValidationError:
                    return None
        return None


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


_WEBHOOK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def peek_webhook_id(raw_body: bytes | str) -> str | None:
    """The ``webhook_id`` of an unverified delivery, to choose the secret that verifies it.

    Nothing else of the body is trusted or used before the signature is checked; a body without a
    usable id gives None (verify with the fallback secret, which will then refuse it).
    """
    try:
        document = json.loads(raw_body)
    except (ValueError, RecursionError):
        return None
    webhook_id = document.get("webhook_id") if isinstance(document, dict) else None
    # ClickUp's webhook ids are UUIDs; anything else (NUL, control characters, kilobytes) is no id
    # Nexus made, and must not reach a database lookup unverified.
    if isinstance(webhook_id, str) and _WEBHOOK_ID.fullmatch(webhook_id):
        return webhook_id
    return None


def parse_clickup_webhook(raw_body: bytes | str) -> ClickUpWebhookEvent:
    """Parse the raw body of a ClickUp delivery; :class:`MalformedPayload` says what is wrong."""
    try:
        document = json.loads(raw_body)
    except (ValueError, RecursionError) as e:
        raise MalformedPayload("clickup", "body is not JSON") from e
    if not isinstance(document, dict):
        raise MalformedPayload("clickup", "body is not a JSON object")
    try:
        return ClickUpWebhookEvent.model_validate(document)
    except ValidationError as e:
        raise MalformedPayload("clickup", _first_error(e)) from e
    except RecursionError as e:
        raise MalformedPayload("clickup", "body is nested too deeply") from e
