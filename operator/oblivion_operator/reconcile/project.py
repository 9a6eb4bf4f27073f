"""Project → Slack channel (created, adopted, archived when over) and its mapping in Nexus."""

from __future__ import annotations

import datetime
from typing import Any

from oblivion_operator.models import ProjectSpec, parse_spec
from oblivion_operator.reconcile.context import OperatorContext
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
    await ctx.nexus.put_project(
        workgroup,
        name,
        {
            "displayName": spec.display_name or name,
            "clickupListId": spec.clickup.list_id,
            "slackChannelId": channel_id,
            "statusMap": dict(spec.clickup.status_map),
            "archived": over,
        },
    )
    phase = "Archived" if over else "Active"
    if status.get("phase") != phase:
        logger.info(f"Project {namespace}/{name} is {phase}")
    return {"slackChannelId": channel_id, "phase": phase, EXTRA_CONDITIONS: [channel_condition]}


async def delete_project(ctx: OperatorContext, body: Any, logger: Any) -> None:
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    retention = (body.get("spec") or {}).get("retentionPolicy", "Retain")
    if retention == "Delete":
        await ctx.archive_recorded_channel(status.get("slackChannelId"), logger)
    workgroup = await ctx.workgroup_or_none(namespace)
    if workgroup:
        await ctx.nexus.delete_project(workgroup, name)
        logger.info(f"Unregistered project {name} from Nexus (retention {retention})")
