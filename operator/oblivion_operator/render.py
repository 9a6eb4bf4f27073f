"""Pure rendering: validated specs in, desired Kubernetes objects out. No I/O, no clock, no randomness.

Every object carries the same ``managed-by`` label and an owner reference to the custom resource it
belongs to, so ``kubectl get -l`` finds them and Kubernetes' garbage collector removes them with it.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from oblivion_operator.models import WORKGROUP_LABEL, AgentSpec, WorkgroupSpec

MANAGED_BY = {"app.kubernetes.io/managed-by": "oblivion-operator"}
AGENT_LABEL = "oblivion.dev/agent"
CREDENTIALS_REVISION = "oblivion.dev/credentials-revision"
ROTATED_FOR = "oblivion.dev/rotated-for"
Obj = dict[str, Any]

# Agents are small I/O-bound processes; these defaults fit a WebSocket client plus an LLM client.
DEFAULT_AGENT_RESOURCES: Obj = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}
# The uid of the distroless "nonroot" user; any non-zero uid satisfies runAsNonRoot.
AGENT_UID = 65532


@dataclasses.dataclass(frozen=True)
class NexusEndpoint:
    """Where Nexus pods run, so NetworkPolicies can allow exactly that egress."""

    namespace: str
    pod_labels: dict[str, str]
    port: int


def owner_reference(body: Any) -> Obj:
    """The controller owner reference pointing at a custom resource ``body``."""
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(name: str, namespace: str | None, owner: Obj, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}, "ownerReferences": [owner]}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def render_namespace(workgroup: str, spec: WorkgroupSpec, owner: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": _meta(spec.namespace_for(workgroup), None, owner, {WORKGROUP_LABEL: workgroup}),
    }


def _dns_egress() -> Obj:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def _nexus_egress(nexus: NexusEndpoint) -> Obj:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": nexus.namespace}},
                "podSelector": {"matchLabels": dict(nexus.pod_labels)},
            }
        ],
        "ports": [{"protocol": "TCP", "port": nexus.port}],
    }


def render_workgroup_network_policies(namespace: str, nexus: NexusEndpoint, owner: Obj) -> list[Obj]:
    """Default-deny for every pod of the namespace, then allowances for DNS and Nexus only."""

    def policy(name: str, spec: Obj) -> Obj:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(name, namespace, owner),
            "spec": spec,
        }

    return [
        policy("oblivion-default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            "oblivion-allow-dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [_dns_egress()]}
        ),
        policy(
            "oblivion-allow-nexus",
            {"podSelector": {}, "policyTypes": ["Egress"], "egress": [_nexus_egress(nexus)]},
        ),
    ]


def render_resource_quota(namespace: str, hard: dict[str, str], owner: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("oblivion-quota", namespace, owner),
        "spec": {"hard": dict(hard)},
    }


def agent_child_name(agent: str) -> str:
    return f"agent-{agent}"


def agent_secret_name(agent: str) -> str:
    return f"agent-{agent}-credentials"


def _agent_labels(agent: str, workgroup: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "oblivion-agent",
        "app.kubernetes.io/instance": agent,
        AGENT_LABEL: agent,
        WORKGROUP_LABEL: workgroup,
    }


def render_agent_secret(
    agent: str,
    namespace: str,
    workgroup: str,
    client_id: str,
    client_secret: str,
    rotated_for: str,
    owner: Obj,
) -> Obj:
    """The Secret holding an agent's OAuth2 client credentials (``data``, base64 as the API stores it)."""

    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    meta = _meta(agent_secret_name(agent), namespace, owner, _agent_labels(agent, workgroup))
    meta["annotations"] = {ROTATED_FOR: rotated_for}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": meta,
        "data": {"client-id": b64(client_id), "client-secret": b64(client_secret)},
    }


def render_agent_service_account(agent: str, namespace: str, workgroup: str, owner: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(agent_child_name(agent), namespace, owner, _agent_labels(agent, workgroup)),
        "automountServiceAccountToken": False,
    }


def _agent_env(agent: str, workgroup: str, spec: AgentSpec, nexus_url: str) -> list[Obj]:
    secret = agent_secret_name(agent)
    env: list[Obj] = [
        {"name": "OBLIVION_NEXUS_URL", "value": nexus_url},
        {"name": "OBLIVION_CLIENT_ID", "valueFrom": {"secretKeyRef": {"name": secret, "key": "client-id"}}},
        {
            "name": "OBLIVION_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "client-secret"}},
        },
        {"name": "OBLIVION_AGENT_NAME", "value": agent},
        {"name": "OBLIVION_WORKGROUP", "value": workgroup},
    ]
    for key, value in (
        ("OBLIVION_MODEL_PROVIDER", spec.model.provider),
        ("OBLIVION_MODEL_NAME", spec.model.name),
        ("OBLIVION_MODEL_ENDPOINT", spec.model.endpoint),
        ("OBLIVION_AGENT_INSTRUCTIONS", spec.instructions),
        # The default agent's purpose, and the name its own messages carry in a thread.
        ("OBLIVION_AGENT_DESCRIPTION", spec.description),
        ("OBLIVION_AGENT_DISPLAY_NAME", spec.display_name),
    ):
        if value:
            env.append({"name": key, "value": value})
    return env + [dict(item) for item in spec.env]


def render_agent_deployment(
    agent: str,
    namespace: str,
    workgroup: str,
    spec: AgentSpec,
    *,
    default_image: str,
    nexus_url: str,
    credentials_revision: str,
    owner: Obj,
) -> Obj:
    """The agent runtime Deployment: locked-down pod, credentials from the agent's Secret.

    ``credentials_revision`` (an opaque value that changes when credentials rotate) is put on the pod
    template so a rotation rolls the pods.
    """
    labels = _agent_labels(agent, workgroup)
    selector = {"app.kubernetes.io/name": "oblivion-agent", AGENT_LABEL: agent}
    container: Obj = {
        "name": "agent",
        "image": spec.image or default_image,
        "env": _agent_env(agent, workgroup, spec, nexus_url),
        "resources": spec.resources or DEFAULT_AGENT_RESOURCES,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108  # an emptyDir, not host /tmp
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(agent_child_name(agent), namespace, owner, labels),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": {CREDENTIALS_REVISION: credentials_revision}},
                "spec": {
                    "serviceAccountName": agent_child_name(agent),
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": AGENT_UID,
                        "runAsGroup": AGENT_UID,
                        "fsGroup": AGENT_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def render_agent_network_policy(
    agent: str, namespace: str, workgroup: str, spec: AgentSpec, nexus: NexusEndpoint, owner: Obj
) -> Obj:
    """No ingress; egress to DNS, Nexus and the CIDRs/ports the Agent declares, nothing else."""
    egress = [_dns_egress(), _nexus_egress(nexus)]
    for rule in spec.egress:
        entry: Obj = {"to": [{"ipBlock": {"cidr": rule.cidr}}]}
        if rule.ports:
            entry["ports"] = [{"protocol": p.protocol, "port": p.port} for p in rule.ports]
        egress.append(entry)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(agent_child_name(agent), namespace, owner, _agent_labels(agent, workgroup)),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "oblivion-agent", AGENT_LABEL: agent}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }
