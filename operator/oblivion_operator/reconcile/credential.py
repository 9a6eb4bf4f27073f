"""ToolCredential → the referenced Secret's value pushed to Nexus's encrypted store.

The value is read, sent once per sync and dropped; status carries only Nexus's fingerprint. A change
of the Secret (rotation, External Secrets refresh) re-syncs through the Secret watch in ``handlers``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from oblivion_operator.clients.kube import resource_path
from oblivion_operator.models import GitHubToolConfig, ToolCredentialSpec, parse_spec
from oblivion_operator.reconcile.context import Blocked, OperatorContext
from oblivion_operator.status import now_rfc3339


async def reconcile_credential(ctx: OperatorContext, body: Any, logger: Any) -> dict[str, Any]:
    spec = parse_spec(ToolCredentialSpec, body.get("spec"))
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    status = body.get("status") or {}
    workgroup = await ctx.workgroup_of(namespace)

    ref = spec.secret_ref
    secret = await ctx.kube.get(resource_path("v1", "Secret", namespace, ref.name))
    if secret is None:
        raise Blocked("SecretNotFound", f"Secret {namespace}/{ref.name} does not exist")
    encoded = (secret.get("data") or {}).get(ref.key)
    if encoded is None:
        raise Blocked("SecretNotFound", f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
    try:
        value = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Blocked("SecretNotFound", f"key {ref.key!r} of Secret {ref.name} is not UTF-8 text") from None

    answer = await ctx.nexus.put_credential(workgroup, name, credential_payload(spec, value))
    fingerprint = str(answer.get("fingerprint") or "")
    if fingerprint != status.get("fingerprint"):
        logger.info(f"Synced credential {name} to Nexus (fingerprint {fingerprint})")
    return {"synced": True, "fingerprint": fingerprint, "lastSynced": now_rfc3339()}


def credential_payload(spec: ToolCredentialSpec, value: str) -> dict[str, Any]:
    """What Nexus's registry stores of a ToolCredential: the value (sealed there), grants, config."""
    config: dict[str, Any] = {}
    if spec.http is not None:
        config = {
            "baseUrl": spec.http.base_url,
            "headerName": spec.http.header_name or "Authorization",
            "scheme": spec.http.scheme if spec.http.scheme is not None else "Bearer",
        }
    elif spec.type == "github":
        config = {"baseUrl": (spec.github or GitHubToolConfig()).base_url}
    approval = None
    if spec.approval is not None:
        approval = {
            "actions": list(spec.approval.actions),
            "approvers": list(spec.approval.approvers),
            "timeoutSeconds": spec.approval.timeout_seconds,
        }
    return {
        "type": spec.type,
        "value": value,
        "allowedActions": list(spec.allowed_actions),
        "agents": list(spec.agents),
        "config": config,
        "approval": approval,
    }


async def delete_credential(ctx: OperatorContext, body: Any, logger: Any) -> None:
    name = body["metadata"]["name"]
    workgroup = await ctx.workgroup_or_none(body["metadata"]["namespace"])
    if workgroup:
        await ctx.nexus.delete_credential(workgroup, name)
        logger.info(f"Removed credential {name} from Nexus")
