"""Agent → credentials Secret, ServiceAccount, Deployment, NetworkPolicy and its registration in Nexus.

The OAuth2 client credentials are generated once and kept in the Secret; a later reconcile reads them
back (so a restart never changes them) and regenerates them only when the ``oblivion.dev/rotate-
credentials`` annotation takes a new value. They are never logged, evented or put in status.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from oblivion_operator.clients.kube import resource_path
from oblivion_operator.errors import NotFound
from oblivion_operator.models import ROTATE_ANNOTATION, AgentSpec, parse_spec
from oblivion_operator.reconcile.context import OperatorContext
from oblivion_operator.render import (
    ROTATED_FOR,
    agent_child_name,
    agent_secret_name,
    owner_reference,
    render_agent_deployment,
    render_agent_network_policy,
    render_agent_secret,
    render_agent_service_account,
)


async def _credentials(
    ctx: OperatorContext, body: Any, workgroup: str, owner: dict[str, Any], logger: Any
) -> tuple[str, str]:
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    wanted = (body["metadata"].get("annotations") or {}).get(ROTATE_ANNOTATION, "")
    live = await ctx.kube.get(resource_path("v1", "Secret", namespace, agent_secret_name(name)))
    if live is not None:
        data = live.get("data") or {}
        rotated_for = (live["metadata"].get("annotations") or {}).get(ROTATED_FOR, "")
        if rotated_for == wanted and data.get("client-id") and data.get("client-secret"):
            return base64.b64decode(data["client-id"]).decode(), base64.b64decode(
                data["client-secret"]
            ).decode()
    client_id = f"{workgroup}.{name}.{secrets.token_hex(4)}"
    client_secret = secrets.token_urlsafe(32)
    secret = render_agent_secret(name, namespace, workgroup, client_id, client_secret, wanted, owner)
    await ctx.kube.apply(secret)
    if live is None:
        logger.info(f"Generated OAuth2 client credentials in Secret {agent_secret_name(name)}")
    else:
        logger.info(f"Rotated OAuth2 client credentials in Secret {agent_secret_name(name)}")
    return client_id, client_secret


def _model_registration(spec: AgentSpec) -> dict[str, Any] | None:
    """The model Nexus's gateway lets the agent call (None: no model, every call refused)."""
    model = spec.model
    if not model.name:
        return None
    return {
        "provider": model.provider or "openai",
        "name": model.name,
        "endpoint": model.endpoint,
        "credential": model.credential,
    }


async def reconcile_agent(ctx: OperatorContext, body: Any, logger: Any) -> dict[str, Any]:
    spec = parse_spec(AgentSpec, body.get("spec"))
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    workgroup = await ctx.workgroup_of(namespace)
    owner = owner_reference(body)

    client_id, client_secret = await _credentials(ctx, body, workgroup, owner, logger)
    await ctx.kube.apply(render_agent_service_account(name, namespace, workgroup, owner))
    await ctx.kube.apply(
        render_agent_network_policy(name, namespace, workgroup, spec, ctx.nexus_endpoint, owner)
    )
    deployment = render_agent_deployment(
        name,
        namespace,
        workgroup,
        spec,
        default_image=ctx.settings.agent_image,
        nexus_url=ctx.settings.agent_nexus_url,
        credentials_revision=hashlib.sha256(client_id.encode()).hexdigest()[:16],
        owner=owner,
    )
    live, created = await ctx.kube.apply(deployment)
    if created and status.get("secretName"):
        logger.warning(f"Deployment {agent_child_name(name)} had been deleted; created it again")
    elif created:
        logger.info(f"Created Deployment {agent_child_name(name)}")

    await ctx.nexus.put_agent(
        workgroup,
        name,
        {
            "displayName": spec.display_name or name,
            "clientId": client_id,
            "clientSecret": client_secret,
            "aliases": list(spec.aliases),
            "projects": list(spec.projects),
            "clickupUserId": spec.clickup.user_id,
            "rateLimitPerMinute": spec.rate_limit.messages_per_minute,
            "iconUrl": spec.slack.icon_url,
            "iconEmoji": spec.slack.icon_emoji,
            "tools": [tool.registration() for tool in spec.tools],
            "model": _model_registration(spec),
            "budget": {
                "tokensPerTask": spec.budget.tokens_per_task,
                "tokensPerDay": spec.budget.tokens_per_day,
            },
        },
    )
    return {
        "secretName": agent_secret_name(name),
        "readyReplicas": int((live.get("status") or {}).get("readyReplicas") or 0),
    }


async def refresh_agent_presence(ctx: OperatorContext, body: Any) -> dict[str, Any]:
    """``connected``/``lastSeen`` from Nexus presence, today's model ``usage`` from Nexus's gateway and
    ``readyReplicas`` from the Deployment."""
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    fields: dict[str, Any] = {}
    deployment = await ctx.kube.get(resource_path("apps/v1", "Deployment", namespace, agent_child_name(name)))
    if deployment is not None:
        fields["readyReplicas"] = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    workgroup = await ctx.workgroup_or_none(namespace)
    if workgroup is None:
        return fields
    try:
        presence = await ctx.nexus.get_presence(workgroup, name)
    except NotFound:
        presence = {"connected": False}
    fields["connected"] = bool(presence.get("connected"))
    if presence.get("lastSeen"):
        fields["lastSeen"] = presence["lastSeen"]
    try:
        usage = await ctx.nexus.get_usage(workgroup, name)
    except NotFound:
        return fields
    fields["usage"] = {
        "day": usage.get("day"),
        "calls": int(usage.get("calls") or 0),
        "tokensToday": int(usage.get("totalTokens") or 0),
        "costUsdToday": str(usage.get("costUsd") or "0"),
    }
    return fields


async def delete_agent(ctx: OperatorContext, body: Any, logger: Any) -> None:
    """Unregister from Nexus; the Secret, Deployment and the rest go through owner references."""
    name = body["metadata"]["name"]
    workgroup = await ctx.workgroup_or_none(body["metadata"]["namespace"])
    if workgroup:
        await ctx.nexus.delete_agent(workgroup, name)
        logger.info(f"Unregistered agent {name} from Nexus")
