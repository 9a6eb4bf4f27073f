"""A Project deleted under ``retentionPolicy: Delete`` takes its Memory Bank points with it (under
``Shared`` isolation they live in the workgroup's collection, which stays); under ``Retain`` they
stay. While Nexus cannot drop them the deletion waits, saying why; a Nexus that never answers is
given up on after ``nexus_cleanup_timeout_seconds``, leaving the project registered with its points."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from oblivion_nexus.services.memory.bank import MemoryText
from oblivion_nexus.services.memory.runtime import memory_handover
from oblivion_nexus.stores.vectors import MemoryKind, MemorySource
from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.support.nexus import nexus_process, nexus_settings
from tests.support.operator import NexusAdmin, ready, start_operator
from tests.support.waiting import eventually_sync

WG, NS = "mem-wg", "wg-mem-wg"


def _start_workgroup(cluster: Cluster) -> None:
    cluster.create(
        {
            "apiVersion": "oblivion.dev/v1alpha1",
            "kind": "Workgroup",
            "metadata": {"name": WG},
            "spec": {"slack": {"channelName": WG}},
        }
    )
    cluster.wait_for_object("workgroups", WG, condition=ready, timeout=30)


def _project(name: str, list_id: int, retention: str) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"clickup": {"listId": str(list_id)}, "retentionPolicy": retention},
    }


def _remember(nexus_env: dict[str, str], project: str, text: str) -> None:
    """Queue ``text`` as a message of ``project``, as the task flow does for a Slack message."""

    async def queue() -> None:
        async with memory_handover(nexus_settings(nexus_env)) as handover:
            memory = MemoryText(
                source_id=f"slack:T1:C{project}:{uuid.uuid4().hex}",
                project_id=project,
                text=text,
                kind=MemoryKind.MESSAGE,
                source=MemorySource.SLACK,
                timestamp=time.time(),
                author="Jane Doe",
            )
            await handover.remember(WG, memory, version=memory.timestamp)

    asyncio.run(queue())


def _points(nexus_admin: NexusAdmin) -> dict[str, int]:
    status = nexus_admin.get(f"workgroups/{WG}/memory") or {}
    return {name: int(p["points"]) for name, p in status.get("projects", {}).items()}


def test_deleting_under_delete_drops_the_projects_points_and_under_retain_keeps_them(
    cluster: Cluster, operator_settings: OperatorSettings, operator_nexus: Any, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("forgotten", 93300000001, "Delete"))
        cluster.create(_project("remembered", 93300000002, "Retain"))
        cluster.create(_project("neighbour", 93300000003, "Delete"))
        for name in ("forgotten", "remembered", "neighbour"):
            cluster.wait_for_object("projects", name, NS, condition=ready, timeout=30)
            _remember(operator_nexus.env, name, f"The {name} project ships on Thursdays")
        eventually_sync(
            lambda: _points(nexus_admin) == {"forgotten": 1, "remembered": 1, "neighbour": 1},
            timeout=60,
            what="each project's message stored in the workgroup's collection",
        )
        cluster.delete("projects", "forgotten", NS)
        cluster.delete("projects", "remembered", NS)
        cluster.wait_for_deletion("projects", "forgotten", NS, timeout=30)
        cluster.wait_for_deletion("projects", "remembered", NS, timeout=30)
        assert _points(nexus_admin) == {"neighbour": 1}

    # Registered again under the same names, one starts empty and the other finds its memory.
    for name, list_id in (("forgotten", "93300000011"), ("remembered", "93300000012")):
        response = nexus_admin.client.put(f"workgroups/{WG}/projects/{name}", json={"clickupListId": list_id})
        assert response.status_code in (200, 201), response.text
    assert _points(nexus_admin) == {"forgotten": 0, "remembered": 1, "neighbour": 1}


def test_a_deletion_waits_while_nexus_cannot_drop_the_points_and_gives_up_after_the_timeout(
    cluster: Cluster, operator_settings: OperatorSettings, operator_nexus: Any, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings):
        _start_workgroup(cluster)
        cluster.create(_project("stuck", 93300000021, "Delete"))
        cluster.wait_for_object("projects", "stuck", NS, condition=ready, timeout=30)
        _remember(operator_nexus.env, "stuck", "The stuck project keeps its notes")
        eventually_sync(lambda: _points(nexus_admin).get("stuck") == 1, timeout=60, what="the point stored")

    # A Nexus on the same database whose Redis prefix no worker serves: its memory routes answer 503.
    workerless = {
        **operator_nexus.env,
        "OBLIVION_REDIS_PREFIX": f"{operator_nexus.env['OBLIVION_REDIS_PREFIX']}-workerless",
        "OBLIVION_MEMORY_SEARCH_TIMEOUT_SECONDS": "1",
    }
    with nexus_process(workerless, migrate=False) as nexus:
        settings = operator_settings.model_copy(
            update={"nexus_url": nexus.url, "nexus_cleanup_timeout_seconds": 8.0}
        )
        with start_operator(cluster, settings):
            cluster.delete("projects", "stuck", NS)

            def said(text: str) -> bool:
                events = cluster.list("events", NS)
                return any(
                    e["involvedObject"].get("name") == "stuck" and text in e["message"] for e in events
                )

            cluster.wait_for(
                lambda: said("the Project is deleted once Nexus can drop its memory and unregister it"),
                timeout=20,
                message="the held deletion explained in an Event",
            )
            assert cluster.find("projects", "stuck", NS) is not None
            assert _points(nexus_admin).get("stuck") == 1
            cluster.wait_for_deletion("projects", "stuck", NS, timeout=40)
            assert said("its registration and Memory Bank points stay in Nexus")
            assert said(f"DELETE /internal/v1/workgroups/{WG}/projects/stuck/memory")

    # Left registered with its points, so an administrator can still remove both once Nexus answers.
    assert _points(nexus_admin).get("stuck") == 1
    assert nexus_admin.client.delete(f"workgroups/{WG}/projects/stuck/memory").status_code == 200
    assert nexus_admin.client.delete(f"workgroups/{WG}/projects/stuck").status_code in (200, 204)
    assert "stuck" not in _points(nexus_admin)
