"""The wire contract between Nexus and agents (subprotocol ``oblivion.v1``).

Every WebSocket message is one JSON object ``{type, id, ts, data}``. Nexus imports these models to
build and check frames; agents in other languages read the JSON Schema printed by
``oblivion agent protocol-schema``. Unknown fields are ignored on read so that either side can add
fields without breaking the other. The schema also documents the body and answer of the one REST
route every agent uses besides its task's (``POST /v1/memory/search``: ``MemorySearchRequest``,
``MemorySearchResponse``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SUBPROTOCOL = "oblivion.v1"
# Nexus sends HEARTBEAT this often; a peer silent for two intervals is considered dead.
HEARTBEAT_INTERVAL_SECONDS = 30.0

# WebSocket close codes (4000-4999 are free for applications, RFC 6455 §7.4.2).
CLOSE_UNAUTHORIZED = 4401  # bad, expired or forged token
CLOSE_FORBIDDEN = 4403  # the agent is disabled, deleted or unknown
CLOSE_TOO_MANY_CONNECTIONS = 4429  # the agent already has as many connections as it may
CLOSE_POLICY_VIOLATION = 1008  # repeated malformed frames
CLOSE_GOING_AWAY = 1001  # server shutting down; reconnect elsewhere


class FrameType(StrEnum):
    # Nexus → agent
    TASK_ASSIGNED = "TASK_ASSIGNED"
    CONTEXT_UPDATE = "CONTEXT_UPDATE"
    WAKE_UP = "WAKE_UP"
    TOOL_RESULT = "TOOL_RESULT"
    TASK_CANCELLED = "TASK_CANCELLED"
    HEARTBEAT = "HEARTBEAT"
    ERROR = "ERROR"
    # agent → Nexus (HEARTBEAT goes both ways)
    REGISTER = "REGISTER"
    ACK = "ACK"


# Event types that go through the durable inbox and must be acked by the agent.
EVENT_TYPES: frozenset[FrameType] = frozenset(
    {
        FrameType.TASK_ASSIGNED,
        FrameType.CONTEXT_UPDATE,
        FrameType.WAKE_UP,
        FrameType.TOOL_RESULT,
        FrameType.TASK_CANCELLED,
    }
)


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TaskAssigned(_Data):
    """A task was assigned to the agent; it should start working on it."""

    task_id: str = Field(description="ClickUp task id.")
    project: str = Field(description="Project name in the agent's workgroup.")
    title: str = Field(description="Task name as in ClickUp.")
    description: str = Field(default="", description="Task description (plain text).")
    url: str | None = Field(default=None, description="Link to the task in ClickUp.")
    thread_url: str | None = Field(default=None, description="Link to the task's Slack thread.")
    assigned_by: str | None = Field(default=None, description="Who created or assigned the task.")
    traceparent: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        description="W3C trace context of the task's trace, when Nexus traces: send it as the "
        "`traceparent` header on calls to Nexus about this task, and Nexus's spans join the trace.",
    )
    tracestate: str | None = Field(
        default=None, max_length=512, description="W3C `tracestate` that goes with `traceparent`, if any."
    )


class ContextUpdate(_Data):
    """Something changed on a task the agent works on: a reply, a comment, an edited description."""

    task_id: str = Field(description="ClickUp task id.")
    kind: str = Field(description="What changed: `slack_reply`, `clickup_comment`, `description`, `status`.")
    author: str | None = Field(default=None, description="Who wrote it, as shown to people.")
    text: str = Field(default="", description="The new text, if any.")
    source: Literal["slack", "clickup", "nexus"] = Field(default="nexus", description="Where it happened.")


class WakeUp(_Data):
    """The agent was mentioned or should look at something again."""

    task_id: str | None = Field(default=None, description="Task the mention is about, if any.")
    reason: str = Field(default="", description="Why the agent is woken.")
    text: str = Field(default="", description="The message that woke it.")
    author: str | None = Field(default=None, description="Who woke it.")


class ToolResult(_Data):
    """The result of a tool intent the agent sent earlier."""

    request_id: str = Field(description="The id of the tool request this answers.")
    ok: bool = Field(description="Whether the tool call succeeded.")
    result: Any = Field(default=None, description="The tool's result when ok.")
    error: str | None = Field(default=None, description="What went wrong when not ok.")


class TaskCancelled(_Data):
    """A person stopped the agent's work on a task: the agent stops what it is doing and says so."""

    task_id: str = Field(description="ClickUp task id.")
    reason: str = Field(
        default="", description="Why: `stop_word` (a stop word in the thread), `closed` (a closed status)."
    )
    author: str | None = Field(default=None, description="Who stopped it, as shown to people.")
    text: str = Field(default="", description="The message or status that stopped it, if any.")


MemoryKindName = Literal["message", "comment", "description", "summary"]


class MemorySearchRequest(_Data):
    """The body of ``POST /v1/memory/search`` (REST, the agent's bearer token)."""

    query: str = Field(min_length=1, max_length=2000, description="What to look for, as a person asks it.")
    limit: int = Field(default=8, ge=1, le=50, description="How many hits at most, best first.")
    projects: list[str] | None = Field(
        default=None, description="Narrows the search to these of the agent's projects (403 for others)."
    )
    task_id: str | None = Field(default=None, alias="taskId", description="Only what belongs to this task.")
    kinds: list[MemoryKindName] = Field(
        default_factory=list, description="Only these kinds (all when empty)."
    )
    since: datetime | float | None = Field(
        default=None, description="Written at or after (ISO 8601 or Unix s)."
    )
    until: datetime | float | None = Field(
        default=None, description="Written at or before (ISO 8601 or Unix s)."
    )


class MemoryHit(_Data):
    """One remembered chunk: a Slack message, a ClickUp description or comment, or a thread summary."""

    id: str = Field(description="The point's id (stable for a source and chunk).")
    text: str = Field(description="The chunk's text.")
    score: float = Field(description="Relevance; higher is better, comparable within one answer only.")
    kind: MemoryKindName = Field(description="What the text is.")
    source: Literal["slack", "clickup"] = Field(description="Where it was written.")
    project: str = Field(description="The project it belongs to.")
    task_id: str | None = Field(default=None, alias="taskId", description="The ClickUp task it is about.")
    thread_ts: str | None = Field(default=None, alias="threadTs", description="Its Slack thread, if any.")
    author: str | None = Field(default=None, description="Who wrote it, as shown to people.")
    timestamp: float = Field(description="When it was written (Unix seconds).")
    link: str | None = Field(default=None, description="Where a person opens the original.")


class MemorySearchResponse(_Data):
    """The answer of ``POST /v1/memory/search``."""

    hits: list[MemoryHit] = Field(description="Best first.")


class Heartbeat(_Data):
    """Liveness in both directions, every 30 seconds."""


class Error(_Data):
    """Nexus could not accept a frame; the connection stays open."""

    code: str = Field(description="Machine-readable reason, e.g. `malformed_frame`, `unknown_type`.")
    message: str = Field(description="What was wrong, for people.")
    frame_id: str | None = Field(default=None, description="The id of the offending frame, if it had one.")


class Register(_Data):
    """First frame an agent sends after connecting."""

    # Generous for any real agent, small enough that a REGISTER cannot flood presence or the logs.
    capabilities: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=64, description="What the agent can do (at most 64, 64 chars each)."
    )
    runtime_version: str = Field(
        default="", max_length=128, description="Version of the runtime or SDK (at most 128 chars)."
    )


class Ack(_Data):
    """Confirms events were handled; they leave the agent's inbox."""

    # An agent holds at most a few hundred unacked events; frame ids are at most 128 characters.
    ids: list[Annotated[str, Field(max_length=128)]] = Field(
        min_length=1, max_length=1000, description="Ids of the handled event frames (at most 1000)."
    )


def new_frame_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_frame_id, min_length=1, max_length=128, description="Frame id.")
    ts: datetime = Field(default_factory=_now, description="When the frame was made (ISO 8601, UTC).")


class TaskAssignedFrame(_Frame):
    type: Literal[FrameType.TASK_ASSIGNED] = FrameType.TASK_ASSIGNED
    data: TaskAssigned


class ContextUpdateFrame(_Frame):
    type: Literal[FrameType.CONTEXT_UPDATE] = FrameType.CONTEXT_UPDATE
    data: ContextUpdate


class WakeUpFrame(_Frame):
    type: Literal[FrameType.WAKE_UP] = FrameType.WAKE_UP
    data: WakeUp


class ToolResultFrame(_Frame):
    type: Literal[FrameType.TOOL_RESULT] = FrameType.TOOL_RESULT
    data: ToolResult


class TaskCancelledFrame(_Frame):
    type: Literal[FrameType.TASK_CANCELLED] = FrameType.TASK_CANCELLED
    data: TaskCancelled


class HeartbeatFrame(_Frame):
    type: Literal[FrameType.HEARTBEAT] = FrameType.HEARTBEAT
    data: Heartbeat = Field(default_factory=Heartbeat)


class ErrorFrame(_Frame):
    type: Literal[FrameType.ERROR] = FrameType.ERROR
    data: Error


class RegisterFrame(_Frame):
    type: Literal[FrameType.REGISTER] = FrameType.REGISTER
    data: Register = Field(default_factory=Register)


class AckFrame(_Frame):
    type: Literal[FrameType.ACK] = FrameType.ACK
    data: Ack


ServerFrame = Annotated[
    TaskAssignedFrame
    | ContextUpdateFrame
    | WakeUpFrame
    | ToolResultFrame
    | TaskCancelledFrame
    | HeartbeatFrame
    | ErrorFrame,
    Field(discriminator="type"),
]
"""A frame Nexus sends to an agent."""

AgentFrame = Annotated[RegisterFrame | AckFrame | HeartbeatFrame, Field(discriminator="type")]
"""A frame an agent sends to Nexus."""

EventFrame = Annotated[
    TaskAssignedFrame | ContextUpdateFrame | WakeUpFrame | ToolResultFrame | TaskCancelledFrame,
    Field(discriminator="type"),
]
"""A frame that is queued in an agent's durable inbox and acked."""

server_frame_adapter: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)
agent_frame_adapter: TypeAdapter[AgentFrame] = TypeAdapter(AgentFrame)
event_frame_adapter: TypeAdapter[EventFrame] = TypeAdapter(EventFrame)


def parse_server_frame(raw: str | bytes) -> ServerFrame:
    """Parse a frame received from Nexus; raises ``pydantic.ValidationError``."""
    return server_frame_adapter.validate_json(raw)


def parse_agent_frame(raw: str | bytes) -> AgentFrame:
    """Parse a frame received from an agent; raises ``pydantic.ValidationError``."""
    return agent_frame_adapter.validate_json(raw)


def make_event(type_: FrameType | str, data: dict[str, Any], frame_id: str | None = None) -> EventFrame:
    """Build an event frame from a type and a data dict, validating the data for that type."""
    payload: dict[str, Any] = {"type": str(type_), "data": data}
    if frame_id is not None:
        payload["id"] = frame_id
    return event_frame_adapter.validate_python(payload)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both directions of the protocol."""
    server, agent = server_frame_adapter.json_schema(), agent_frame_adapter.json_schema()
    # Each adapter's refs point at "#/$defs/…", so their definitions must live at the root.
    defs = {**server.pop("$defs"), **agent.pop("$defs"), "ServerFrame": server, "AgentFrame": agent}
    for model in (MemorySearchRequest, MemorySearchResponse):
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Oblivion agent protocol ({SUBPROTOCOL})",
        "description": "Frames exchanged over the Nexus agent WebSocket. Unknown fields must be ignored.",
        "$defs": dict(sorted(defs.items())),
        # anyOf, not oneOf: HEARTBEAT is both a server and an agent frame.
        "anyOf": [{"$ref": "#/$defs/ServerFrame"}, {"$ref": "#/$defs/AgentFrame"}],
    }


__all__ = [
    "CLOSE_FORBIDDEN",
    "CLOSE_GOING_AWAY",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_TOO_MANY_CONNECTIONS",
    "CLOSE_UNAUTHORIZED",
    "EVENT_TYPES",
    "HEARTBEAT_INTERVAL_SECONDS",
    "SUBPROTOCOL",
    "Ack",
    "AckFrame",
    "AgentFrame",
    "ContextUpdate",
    "ContextUpdateFrame",
    "Error",
    "ErrorFrame",
    "EventFrame",
    "FrameType",
    "Heartbeat",
    "HeartbeatFrame",
    "MemoryHit",
    "MemoryKindName",
    "MemorySearchRequest",
    "MemorySearchResponse",
    "Register",
    "RegisterFrame",
    "ServerFrame",
    "TaskAssigned",
    "TaskAssignedFrame",
    "TaskCancelled",
    "TaskCancelledFrame",
    "ToolResult",
    "ToolResultFrame",
    "WakeUp",
    "WakeUpFrame",
    "json_schema",
    "make_event",
    "new_frame_id",
    "parse_agent_frame",
    "parse_server_frame",
]
