"""Registry routes about a live agent: its presence, and queueing an event for it.

``POST …/events`` is how operators, tests and ``oblivion trigger`` reach an agent; the body is
checked against the protocol's model for the event type, so an agent never receives a frame it
could not parse.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oblivion_agent.protocol import EVENT_TYPES, make_event
from oblivion_nexus.api.deps import AdminDep, SessionDep
from oblivion_nexus.api.errors import InvalidRequest
from oblivion_nexus.api.gateway import delivery_hub
from oblivion_nexus.services import registry
from oblivion_nexus.services.gateway.hub import DeliveryHub
from oblivion_nexus.services.registry.entries import RegistryNotFound
from oblivion_nexus.services.registry.schemas import NAME_PATTERN

router = APIRouter(prefix="/internal/v1", tags=["agents"], dependencies=[AdminDep])

Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=253)]


async def _hub(request: Request) -> DeliveryHub:
    return delivery_hub(request)  # async: a plain def dependency would run in FastAPI's thread pool


HubDep = Annotated[DeliveryHub, Depends(_hub)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class PresenceView(_Body):
    connected: bool = Field(description="Whether at least one connection of the agent is open.")
    connections: int = Field(description="How many connections are open, over every Nexus replica.")
    last_seen: datetime | None = Field(alias="lastSeen", description="When the agent was last heard from.")
    pending_events: int = Field(alias="pendingEvents", description="Events queued and not yet acked.")


class EventRequest(_Body):
    type: str = Field(
        description="One of TASK_ASSIGNED, CONTEXT_UPDATE, WAKE_UP, TOOL_RESULT, TASK_CANCELLED."
    )
    data: dict[str, Any] = Field(description="The event's data, as the protocol defines it for the type.")


class EventQueued(_Body):
    id: str = Field(description="The event id the agent will ack.")


async def _require_agent(session: SessionDep, wg: str, agent: str) -> None:
    if await registry.get_agent_status(session, wg, agent) is None:
        raise RegistryNotFound(f"agent {wg}/{agent} is not registered")


@router.get("/workgroups/{wg}/agents/{agent}/presence", response_model=PresenceView)
async def get_presence(wg: Name, agent: Name, session: SessionDep, hub: HubDep) -> PresenceView:
    await _require_agent(session, wg, agent)
    report = await hub.presence(wg, agent)
    return PresenceView(
        connected=report.connected,
        connections=report.connections,
        last_seen=report.last_seen,
        pending_events=report.pending_events,
    )


@router.post(
    "/workgroups/{wg}/agents/{agent}/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventQueued
)
async def post_event(
    wg: Name, agent: Name, body: EventRequest, session: SessionDep, hub: HubDep
) -> EventQueued:
    """Queue an event in the agent's durable inbox; it is delivered when (or while) the agent is connected."""
    if body.type not in {str(t) for t in EVENT_TYPES}:
        allowed = ", ".join(sorted(str(t) for t in EVENT_TYPES))
        raise InvalidRequest(
            f"unknown event type {body.type!r}",
            detail=[{"loc": ["body", "type"], "msg": f"must be one of {allowed}", "type": "enum"}],
        )
    try:
        frame = make_event(body.type, body.data)
    except ValidationError as e:
        problems = [
            {
                "loc": ["body", "data", *[str(p) for p in err["loc"][2:]]],
                "msg": err["msg"],
                "type": err["type"],
            }
            for err in e.errors()
        ]
        raise InvalidRequest(f"{body.type} data does not match the protocol", detail=problems) from None
    await _require_agent(session, wg, agent)
    return EventQueued(id=await hub.enqueue(wg, agent, frame))
