"""Agent: credentials Secret, ServiceAccount, Deployment, NetworkPolicy, Nexus registration, rotation."""

from __future__ import annotations

import base64
from typing import Any

from oblivion_operator.settings import OperatorSettings
from tests.integration.operator.conftest import NexusAdmin, not_ready_because, ready, start_operator
from tests.kube import KubeApi
from tests.secret_logs import SecretRegistry

WG = "agents-wg"
NS = "wg-agents-wg"


def _agent(name: str = "backend-bot", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "displayName": "Backend Bot",
            "aliases": ["ai-backend"],
            "model": {"name": "gpt-4o-mini"},
            **spec,
        },
    }


def _workgroup_namespace(cluster: KubeApi, nexus_admin: NexusAdmin) -> None:
    cluster.create_namespace(NS, labels={"oblivion.dev/workgroup": WG})
    nexus_admin.client.put(f"workgroups/{WG}", json={"displayName": WG, "namespace": NS}).raise_for_status()


def _credentials(cluster: KubeApi, name: str = "backend-bot") -> tuple[str, str]:
    secret = cluster.get("secrets", f"agent-{name}-credentials", NS)
    return (
        base64.b64decode(secret["data"]["client-id"]).decode(),
        base64.b64decode(secret["data"]["client-secret"]).decode(),
    )


def test_agent_gets_its_children_and_registration(
    cluster: KubeApi,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    with start_operator(cluster, operator_settings):
        cluster.create(_agent())
        agent = cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=20)
        client_id, client_secret = _credentials(cluster)
        secret_registry.add(client_secret)

        deployment = cluster.get("deployments.apps", "agent-backend-bot", NS)
        assert deployment["metadata"]["ownerReferences"][0]["uid"] == agent["metadata"]["uid"]
        assert (
            cluster.get("serviceaccounts", "agent-backend-bot", NS)["automountServiceAccountToken"] is False
        )
        assert (
            cluster.get("networkpolicies.networking.k8s.io", "agent-backend-bot", NS)["spec"]["ingress"] == []
        )
        registered = nexus_admin.get(f"workgroups/{WG}/agents/backend-bot")
        assert registered is not None
        assert registered["clientId"] == client_id
        assert "clientSecret" not in registered
        assert agent["status"]["secretName"] == "agent-backend-bot-credentials"
        assert agent["status"]["observedGeneration"] == agent["metadata"]["generation"]
        assert client_secret not in str(agent["status"])


def test_agent_outside_a_workgroup_namespace_is_not_ready(
    cluster: KubeApi, operator_settings: OperatorSettings
) -> None:
    with start_operator(cluster, operator_settings):
        cluster.create({**_agent(), "metadata": {"name": "stray", "namespace": "default"}})
        agent = cluster.wait_for_object(
            "agents", "stray", "default", condition=not_ready_because("NotInWorkgroup")
        )
        assert "belongs to no Workgroup" in agent["status"]["conditions"][0]["message"]
        assert cluster.find("deployments.apps", "agent-stray", "default") is None
