"""Workgroup → namespace, NetworkPolicies, quota, Qdrant collection, Slack channel, tenant in Nexus."""

from __future__ import annotations

from typing import Any

from oblivion_operator.clients.kube import resource_path
from oblivion_operator.clients.qdrant import collection_name
from oblivion_operator.models import WorkgroupSpec, parse_spec
from oblivion_operator.reconcile.context import OperatorContext
from oblivion_operator.render import (
    owner_reference,
    render_namespace,
    render_resource_quota,
    render_workgroup_network_policies,
)
from oblivion_operator.status import EXTRA_CONDITIONS


async def reconcile_workgroup(ctx: OperatorContext, body: Any, logger: Any) -> dict[str, Any]:
    spec = parse_spec(WorkgroupSpec, body.get("spec"))
    name = body["metadata"]["name"]
    status = body.get("status") or {}
    owner = owner_reference(body)
    namespace = spec.namespace_for(name)

    _, created = await ctx.kube.apply(render_namespace(name, spec, owner))
    if created:
        logger.info(f"Created namespace {namespace}")
    for policy in render_workgroup_network_policies(namespace, ctx.nexus_endpoint, owner):
        _, created = await ctx.kube.apply(policy)
        if created:
            logger.info(f"Created NetworkPolicy {namespace}/{policy['metadata']['name']}")
    hard = spec.quota_hard
    if hard:
        await ctx.kube.apply(render_resource_quota(namespace, hard, owner))
    elif await ctx.kube.delete(resource_path("v1", "ResourceQuota", namespace, "oblivion-quota")):
        logger.info(f"Removed ResourceQuota {namespace}/oblivion-quota (spec.quota was removed)")

    collection = collection_name(name)
    if await ctx.qdrant.ensure_collection(collection, ctx.settings.embedding_size):
        if status.get("collection"):
            logger.warning(f"Qdrant collection {collection} had been dropped; created it again (empty)")
        else:
            logger.info(f"Created Qdrant collection {collection}")

    channel_id, channel_condition = await ctx.reconcile_channel(spec.slack, name, status, logger)
    await ctx.nexus.put_workgroup(name, _registration(name, spec, namespace, channel_id, collection))
    return {
        "namespace": namespace,
        "collection": collection,
        "slackChannelId": channel_id,
        EXTRA_CONDITIONS: [channel_condition],
    }


def _registration(
    name: str, spec: WorkgroupSpec, namespace: str, channel_id: str | None, collection: str
) -> dict[str, Any]:
    """The tenant as Nexus's registry takes it; without ``summaryModel`` Nexus clears the one it had."""
    body: dict[str, Any] = {
        "displayName": spec.display_name or name,
        "namespace": namespace,
        "slackChannelId": channel_id,
        "collection": collection,
    }
    model = spec.memory.summary_model
    if model is not None:
        body["summaryModel"] = model.model_dump(by_alias=True, exclude_none=True)
    return body


async def delete_workgroup(ctx: OperatorContext, body: Any, logger: Any) -> None:
    """Unregister the tenant; under ``Delete`` also drop its collection and archive its channel.

    The namespace and everything in it go with the Workgroup through owner references.
    """
    name = body["metadata"]["name"]
    status = body.get("status") or {}
    retention = (body.get("spec") or {}).get("retentionPolicy", "Retain")
    if retention == "Delete":
        collection = status.get("collection") or collection_name(name)
        if await ctx.qdrant.exists(collection):
            await ctx.qdrant.drop_collection(collection)
            logger.info(f"Dropped Qdrant collection {collection}")
        await ctx.archive_recorded_channel(status.get("slackChannelId"), logger)
    await ctx.nexus.delete_workgroup(name)
    logger.info(f"Unregistered workgroup {name} from Nexus (retention {retention})")
