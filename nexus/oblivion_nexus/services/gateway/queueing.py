"""The one way an event is queued for an agent, so every path counts it the same.

The gateway (an API replica) and the task flow (the worker, or ``oblivion dev``, which runs both in
one process) both queue events; ``oblivion_events_queued_total`` must count each queued event once
whichever path queued it, and not count a re-sent one the inbox already holds.
"""

from __future__ import annotations

from oblivion_agent.protocol import EventFrame
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.stores.inbox import InboxStore, Queued


async def enqueue_event(
    inbox: InboxStore, workgroup: str, agent: str, frame: EventFrame, metrics: DeliveryMetrics | None
) -> Queued:
    """Queue ``frame`` durably in the agent's inbox and count it (unless it was already queued)."""
    queued = await inbox.enqueue(workgroup, agent, frame.id, frame.model_dump_json())
    if queued is not Queued.ALREADY and metrics is not None:
        metrics.queued.inc()
    return queued
