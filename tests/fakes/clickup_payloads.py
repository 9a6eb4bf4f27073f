"""ClickUp-shaped JSON, built the way ClickUp builds it (see ../shared/fixtures/clickup/).

The fake ClickUp server and tests share these builders so every task, comment and webhook delivery
has the documented keys, nesting and types: ids of users as numbers, timestamps as strings of unix
milliseconds, a description change as a JSON string of Quill ops, and so on.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

_history_ids = itertools.count(2800763136717140857)

DEFAULT_USER: dict[str, Any] = {
    "id": 183,
    "username": "John",
    "email": "john@example.com",
    "color": "#7b68ee",
    "initials": "J",
    "profilePicture": None,
}

STATUS_TYPES = {"to do": "open", "complete": "closed", "closed": "closed"}
STATUS_COLORS = {"to do": "#f9d900", "in progress": "#7C4DFF", "review": "#ff7800", "complete": "#6bc950"}


def now_ms() -> int:
    return int(time.time() * 1000)


def next_history_id() -> str:
    return str(next(_history_ids))


def user(user_id: int, username: str, email: str | None = None) -> dict[str, Any]:
    initials = "".join(part[0] for part in username.split()[:2]).upper() or "?"
    return {
        "id": user_id,
        "username": username,
        "email": email or f"{username.split()[0].lower()}@example.com",
        "color": "#7b68ee",
        "initials": initials,
        "profilePicture": None,
    }


def status(name: str, orderindex: int = 0) -> dict[str, Any]:
    return {
        "status": name,
        "color": STATUS_COLORS.get(name, "#d3d3d3"),
        "orderindex": orderindex,
        "type": STATUS_TYPES.get(name, "custom"),
    }


def task(
    *,
    task_id: str,
    name: str,
    description: str,
    list_id: str,
    team_id: str,
    status_name: str = "to do",
    creator: dict[str, Any] | None = None,
    assignees: list[dict[str, Any]] | None = None,
    tags: list[str] | None = None,
    date_ms: int | None = None,
) -> dict[str, Any]:
    """A task as Get Task returns it (the subset of keys the fixture has that a fake can fill)."""
    stamp = str(date_ms or now_ms())
    return {
        "id": task_id,
        "custom_id": None,
        "custom_item_id": 0,
        "name": name,
        "text_content": description,
        "description": description,
        "status": {"id": f"p{list_id}_{status_name.replace(' ', '_')}", **status(status_name)},
        "orderindex": "1.00000000000000000000000000000000",
        "date_created": stamp,
        "date_updated": stamp,
        "date_closed": None,
        "date_done": None,
        "archived": False,
        "creator": creator or dict(DEFAULT_USER),
        "assignees": assignees or [],
        "group_assignees": [],
        "watchers": [],
        "checklists": [],
        "tags": [{"name": t, "tag_fg": "#EA80FC", "tag_bg": "#EA80FC", "creator": 183} for t in tags or []],
        "parent": None,
        "top_level_parent": None,
        "priority": None,
        "due_date": None,
        "start_date": None,
        "points": None,
        "time_estimate": None,
        "time_spent": 0,
        "custom_fields": [],
        "dependencies": [],
        "linked_tasks": [],
        "locations": [],
        "team_id": team_id,
        "url": f"https://app.clickup.com/t/{task_id}",
        "permission_level": "create",
        "list": {"id": list_id, "name": f"List {list_id}", "access": True},
        "project": {"id": "6992470", "name": "Folder", "hidden": False, "access": True},
        "folder": {"id": "6992470", "name": "Folder", "hidden": False, "access": True},
        "space": {"id": team_id},
        "attachments": [],
    }


def comment(comment_id: str, text: str, author: dict[str, Any], date_ms: int) -> dict[str, Any]:
    """A comment as Get Task Comments returns it."""
    return {
        "id": comment_id,
        "comment": [{"text": text}],
        "comment_text": text,
        "user": author,
        "resolved": False,
        "assignee": None,
        "assigned_by": None,
        "reactions": [],
        "date": str(date_ms),
        "reply_count": "0",
    }


def _history_item(field: str, list_id: str, author: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": extra.pop("history_id", None) or next_history_id(),
        "type": 1,
        "date": str(now_ms()),
        "field": field,
        "parent_id": list_id,
        "data": extra.pop("data", {}),
        "source": None,
        "user": author,
        **extra,
    }


def status_history_item(
    list_id: str, before: str | None, after: str, author: dict[str, Any], history_id: str | None = None
) -> dict[str, Any]:
    before_status = (
        {"status": None, "color": "#000000", "type": "removed", "orderindex": -1}
        if before is None
        else status(before)
    )
    return _history_item(
        "status",
        list_id,
        author,
        history_id=history_id,
        data={"status_type": STATUS_TYPES.get(after, "custom")},
        before=before_status,
        after=status(after),
    )


def creation_history_items(list_id: str, status_name: str, author: dict[str, Any]) -> list[dict[str, Any]]:
    """The two items of a ``taskCreated`` delivery: the initial status, then the creation itself."""
    return [
        status_history_item(list_id, None, status_name, author),
        _history_item("task_creation", list_id, author, before=None, after=None),
    ]


def description_history_item(list_id: str, text: str, author: dict[str, Any]) -> dict[str, Any]:
    ops = {"ops": [{"insert": text}, {"insert": "\n", "attributes": {"block-id": "block-fake"}}]}
    return _history_item("content", list_id, author, before=None, after=json.dumps(ops))


def assignee_history_item(list_id: str, assignee: dict[str, Any], author: dict[str, Any]) -> dict[str, Any]:
    # ClickUp's assignee_add item has an ``after`` user and no ``before`` key at all.
    return _history_item("assignee_add", list_id, author, after=assignee)


def comment_history_item(
    list_id: str, task_id: str, comment_id: str, text: str, author: dict[str, Any]
) -> dict[str, Any]:
    date = str(now_ms())
    body = {
        "id": comment_id,
        "date": date,
        "parent": task_id,
        "type": 1,
        "comment": [
            {"text": text, "attributes": {}},
            {"text": "\n", "attributes": {"block-id": "block-fake"}},
        ],
        "text_content": text + "\n",
        "user": author,
        "reactions": [],
        "emails": [],
    }
    return _history_item("comment", list_id, author, before=None, after=comment_id, comment=body)


def webhook_payload(
    event: str, *, task_id: str, webhook_id: str, history_items: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The body ClickUp POSTs to a webhook endpoint; ``taskDeleted`` carries no history at all."""
    if event == "taskDeleted" or history_items is None:
        return {"event": event, "task_id": task_id, "webhook_id": webhook_id}
    return {"event": event, "history_items": history_items, "task_id": task_id, "webhook_id": webhook_id}


def compact_json(payload: Any) -> bytes:
    """JSON the way ClickUp signs it: no whitespace between tokens."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook(team_id: str, endpoint: str, events: list[str], list_id: Any, secret: str) -> dict[str, Any]:
    """A team webhook as Create Webhook returns it (ids of user and team as numbers, like ClickUp)."""
    return {
        "id": str(uuid.uuid4()),
        "userid": 183,
        "team_id": int(team_id) if team_id.isdigit() else team_id,
        "endpoint": endpoint,
        "client_id": "FAKECLIENTID",
        "events": events,
        "task_id": None,
        "list_id": list_id,
        "folder_id": None,
        "space_id": None,
        "health": {"status": "active", "fail_count": 0},
        "secret": secret,
    }
