"""Project → Slack channel (created, adopted, archived when over), its mapping in Nexus and, when its
workgroup's memory is ``PerProject``, a Qdrant collection of its own.

Deleting a Project under ``retentionPolicy: Delete`` drops its Memory Bank points through Nexus
before unregistering it (under ``Shared`` isolation they live in the workgroup's collection, which
stays). Nexus answers 503 while the worker holding the embedded engine (or Qdrant) does not answer:
the deletion then waits and retries with backoff, saying why in an Event, so the points are never
kept silently. It does not wait forever for a Nexus that is gone: after
``OBLIVION_NEXUS_CLEANUP_TIMEOUT_SECONDS`` from the deletion it lets the Project go without
unregistering it either, and says what it left and how to remove it. The registration is kept on
purpose: Nexus can only find a project's points through it, so unregistering alone would strand them.
"""

from __future__ import annotations

import datetime
from typing import Any

from oblivion_operator.clients.kube import resource_path
from oblivion_operator.clients.nexus import SYSTEM as NEXUS
from oblivion_operator.clients.qdrant import project_collection_name
from oblivion_operator.errors import ExternalError
from oblivion_operator.models import API_VERSION, ProjectSpec, parse_spec
from oblivion_operator.reconcile.context import Blocked, OperatorContext
from oblivion_operator.status import EXTRA_CONDITIONS


async def reconcile_project(ctx: OperatorContext, body: Any, logger: Any) -> dict[str, Any]:
    spec = parse_spec(ProjectSpec, body.get("spec"))
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    workgroup = await ctx.workgroup_of(namespace)
    over = spec.is_over(datetime.datetime.now(datetime.UTC))

    channel_id, channel_condition = await ctx.reconcile_channel(
        spec.slack, f"proj-{name}", status, logger, archived=over
    )
    isolation = await _memory_isolation(ctx, workgroup)
    collection = None
    if isolation == "PerProject":
        # an archived project keeps its collection: its memory stays searchable
        collection = project_collection_name(workgroup, name)
        if await ctx.qdrant.ensure_collection(collection, ctx.settings.embedding_size):
            if status.get("collection") == collection:
                logger.warning(f"Qdrant collection {collection} had been dropped; created it again (empty)")
            else:
                logger.info(f"Created Qdrant collection {collection}")
    # Nexus writes the project's memory to the collection registered here (made before it is named).
    await ctx.nexus.put_project(
        workgroup,
        name,
        {
            "displayName": spec.display_name or name,
            "clickupListId": spec.clickup.list_id,
            "slackChannelId": channel_id,
            "statusMap": dict(spec.clickup.status_map),
            "archived": over,
            "memoryIsolation": isolation,
            "collection": collection,
        },
    )
    phase = "Archived" if over else "Active"
    if status.get("phase") != phase:
        logger.info(f"Project {namespace}/{name} is {phase}")
    return {
        "slackChannelId": channel_id,
        "phase": phase,
        "collection": collection,  # None removes a collection recorded before a switch to Shared
        EXTRA_CONDITIONS: [channel_condition],
    }


async def _memory_isolation(ctx: OperatorContext, workgroup: str) -> str:
    """The workgroup's ``spec.memory.isolation``; its own reconcile reports a spec that is invalid."""
    body = await ctx.kube.get(resource_path(API_VERSION, "Workgroup", None, workgroup))
    if body is None:
        raise Blocked(
            "WorkgroupNotFound",
            f"the namespace is labelled for workgroup {workgroup}, but that Workgroup does not exist",
        )
    memory = (body.get("spec") or {}).get("memory") or {}
    return str(memory.get("isolation") or "Shared")


async def delete_project(ctx: OperatorContext, body: Any, logger: Any) -> None:
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    retention = (body.get("spec") or {}).get("retentionPolicy", "Retain")
    if retention == "Delete":
        collection = status.get("collection")  # recorded only for a PerProject workgroup
        if collection and await ctx.qdrant.exists(collection):
            await ctx.qdrant.drop_collection(collection)
            logger.info(f"Dropped Qdrant collection {collection}")
        await ctx.archive_recorded_channel(status.get("slackChannelId"), logger)
    workgroup: str | None = None
    dropped = False
    try:
        workgroup = await ctx.workgroup_or_none(namespace)  # asks Nexus whose namespace it is
        if not workgroup:
            return
        if retention == "Delete":
            await ctx.nexus.drop_project_memory(workgroup, name)
            dropped = True
            logger.info(f"Dropped the Memory Bank points of project {name} in Nexus")
        await ctx.nexus.delete_project(workgroup, name)
    except ExternalError as e:
        waited = _deleting_for(body)
        timeout = ctx.settings.nexus_cleanup_timeout_seconds
        what = "drop its memory and unregister it" if retention == "Delete" else "unregister it"
        if waited < timeout:
            raise ExternalError(
                NEXUS,
                f"{e.message}; the Project is deleted once Nexus can {what} (retrying; the operator "
                f"gives up after {timeout:g} s)",
                status=e.status,
                code=e.code,
                retryable=True,
                retry_after=e.retry_after,
            ) from e
        route = f"/internal/v1/workgroups/{workgroup or '<its workgroup>'}/projects/{name}"
        points = retention == "Delete" and not dropped
        left = "its registration and Memory Bank points" if points else "its registration"
        remove = f"DELETE {route}/memory, then DELETE {route}" if points else f"DELETE {route}"
        logger.error(
            f"Gave up on Nexus after {waited:.0f} s ({e.message}): the Project goes, but {left} stay in "
            f"Nexus; remove them once Nexus (and its worker) answer: {remove}"
        )
        return
    logger.info(f"Unregistered project {name} from Nexus (retention {retention})")


def _deleting_for(body: Any) -> float:
    """Seconds since the object was marked for deletion (0 when the mark cannot be read)."""
    stamp = body["metadata"].get("deletionTimestamp")
    try:
        since = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (datetime.datetime.now(datetime.UTC) - since).total_seconds())
