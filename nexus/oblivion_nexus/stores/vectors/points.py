"""What the Memory Bank stores: one point per chunk of a Slack message or ClickUp text.

A point's id derives from its source (Slack team, channel and ts; a ClickUp task or comment id) and
the chunk number, so a redelivered event or a re-run backfill overwrites the same point instead of
adding a duplicate, and an edit replaces the text in place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Fixed forever: changing it would give every existing point a new id and duplicate the memory.
_POINT_NAMESPACE = uuid.UUID("6f1c1c52-3d0e-4f57-9a55-0b6b7b0f3a11")


class MemoryKind(StrEnum):
    MESSAGE = "message"
    COMMENT = "comment"
    DESCRIPTION = "description"
    SUMMARY = "summary"


class MemorySource(StrEnum):
    SLACK = "slack"
    CLICKUP = "clickup"


def slack_source_id(team_id: str, channel_id: str, ts: str) -> str:
    """A Slack message is unique by workspace, channel and ``ts``."""
    return f"slack:{team_id}:{channel_id}:{ts}"


def clickup_task_source_id(task_id: str) -> str:
    """A ClickUp task's name and description, remembered as one text."""
    return f"clickup:task:{task_id}"


def clickup_comment_source_id(comment_id: str) -> str:
    return f"clickup:comment:{comment_id}"


def point_id(source_id: str, chunk: int) -> str:
    """The id of chunk ``chunk`` of the text from ``source_id`` (a UUID, as Qdrant requires)."""
    if chunk < 0:
        raise ValueError("chunk numbers start at 0")
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{source_id}#{chunk}"))


@dataclass(frozen=True, slots=True)
class MemoryPoint:
    """One chunk as stored: its text and the payload searches filter and answer with."""

    source_id: str
    chunk: int
    project_id: str
    text: str
    kind: MemoryKind
    source: MemorySource
    timestamp: float
    author: str | None = None
    task_id: str | None = None
    thread_ts: str | None = None
    link: str | None = None

    @property
    def id(self) -> str:
        return point_id(self.source_id, self.chunk)

    def payload(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "chunk": self.chunk,
            "project_id": self.project_id,
            "text": self.text,
            "kind": self.kind.value,
            "source": self.source.value,
            "timestamp": self.timestamp,
            "author": self.author,
            "task_id": self.task_id,
            "thread_ts": self.thread_ts,
            "link": self.link,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> MemoryPoint:
        return cls(
            source_id=str(payload["source_id"]),
            chunk=int(payload["chunk"]),
            project_id=str(payload["project_id"]),
            text=str(payload["text"]),
            kind=MemoryKind(payload["kind"]),
            source=MemorySource(payload["source"]),
            timestamp=float(payload["timestamp"]),
            author=payload.get("author"),
            task_id=payload.get("task_id"),
            thread_ts=payload.get("thread_ts"),
            link=payload.get("link"),
        )


@dataclass(frozen=True, slots=True)
class MemoryHit:
    point: MemoryPoint
    score: float

    @property
    def id(self) -> str:
        return self.point.id
