"""``oblivion_events_queued_total`` counts every event queued in a process that serves the API and
runs the worker (``oblivion dev``): the worker's task-flow events and the API's own, once each."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx

from oblivion_agent.protocol import FrameType
from oblivion_nexus.observability import DeliveryMetrics
from oblivion_nexus.worker import running_worker
from tests.support.nexus import migrate_database, nexus_settings, running_nexus


def queued_total(exposition: str) -> float:
    found = re.search(r"^oblivion_events_queued_total ([0-9.e+]+)$", exposition, re.MULTILINE)
    assert found, exposition
    return float(found.group(1))


async def test_events_the_worker_and_the_api_queue_in_one_process_are_both_counted(
    nexus_env: dict[str, str],
) -> None:
    settings = nexus_settings(nexus_env)
    await asyncio.to_thread(migrate_database, settings.database.url)
    metrics = DeliveryMetrics()
    workgroup = f"wg-{uuid.uuid4().hex[:8]}"
    async with (
        running_nexus(settings, delivery_metrics=metrics) as nexus,
        running_worker(settings, metrics) as flow,
        httpx.AsyncClient(base_url=nexus.url, headers=nexus.admin_headers()) as admin,
    ):
        assert (await admin.put(f"/internal/v1/workgroups/{workgroup}", json={})).status_code == 201
        agent = {"clientId": f"{workgroup}-bot", "clientSecret": uuid.uuid4().hex}
        assert (
            await admin.put(f"/internal/v1/workgroups/{workgroup}/agents/bot", json=agent)
        ).status_code == 201

        data = {"task_id": "t1", "kind": "comment", "author": "ann", "text": "hi", "source": "clickup"}
        assert await flow.send_event(workgroup, "bot", FrameType.CONTEXT_UPDATE, "ctx-1", data)
        # The same deterministic id again is a duplicate the inbox already holds: not counted.
        assert not await flow.send_event(workgroup, "bot", FrameType.CONTEXT_UPDATE, "ctx-1", data)
        assert queued_total((await admin.get("/metrics")).text) == 1

        posted = await admin.post(
            f"/internal/v1/workgroups/{workgroup}/agents/bot/events",
            json={"type": "WAKE_UP", "data": {"reason": "metrics test"}},
        )
        assert posted.status_code == 202, posted.text
        assert queued_total((await admin.get("/metrics")).text) == 2
