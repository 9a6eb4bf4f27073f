"""One way to queue an event for an agent: the task flow and the hub both call ``enqueue_event``.

So ``oblivion_events_queued_total`` counts an event once whichever of them queued it, a job retried
with the same event id counts and sends nothing again, and an event the flow queues reaches the
agent's connection on the hub like one the hub queued itself.
"""

from __future__ import annotations

from oblivion_agent.protocol import FrameType, make_event
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.services.gateway.hub import delivery_lifespan
from oblivion_nexus.services.taskflow.context import FlowContext
from tests.support.gateway import WORKGROUP, RecordingLink
from tests.support.waiting import eventually


def queued_total(metrics: DeliveryMetrics) -> float:
    return metrics.registry.get_sample_value("oblivion_events_queued_total") or 0.0


async def test_an_event_the_task_flow_queues_is_counted_once_and_reaches_the_agent(hub_resources) -> None:
    metrics = DeliveryMetrics()
    async with delivery_lifespan(hub_resources, metrics) as hub:
        link = RecordingLink()
        await hub.open(WORKGROUP, "coder", link)
        # The flow needs only the settings and Redis to queue; the hub's resources are enough.
        flow = FlowContext.create(hub_resources, metrics)
        data = {"task_id": "t1", "kind": "comment", "author": "ann", "text": "hi", "source": "clickup"}

        assert await flow.send_event(WORKGROUP, "coder", FrameType.CONTEXT_UPDATE, "ctx-t1-1", data)
        await eventually(lambda: len(link.sent) == 1, what="the flow's event on the hub's connection")
        assert '"ctx-t1-1"' in link.sent[0]
        assert queued_total(metrics) == 1

        # A retried job queues the same deterministic id: already in the inbox, not counted again.
        assert not await flow.send_event(WORKGROUP, "coder", FrameType.CONTEXT_UPDATE, "ctx-t1-1", data)
        assert queued_total(metrics) == 1

        # The hub's own path counts on the same counter.
        await hub.enqueue(WORKGROUP, "coder", make_event(FrameType.WAKE_UP, {"reason": "test"}))
        await eventually(lambda: len(link.sent) == 2, what="the hub's event on the connection")
        assert queued_total(metrics) == 2
        assert metrics.registry.get_sample_value("oblivion_events_delivered_total") == 2
