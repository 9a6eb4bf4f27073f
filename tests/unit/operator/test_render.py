"""Rendering: the desired children of each kind are valid Kubernetes objects with the promised shape."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest

from oblivion_operator.models import AgentSpec, WorkgroupSpec, parse_spec
from oblivion_operator.render import (
    NexusEndpoint,
    owner_reference,
    render_agent_deployment,
    render_agent_network_policy,
    render_agent_secret,
    render_agent_service_account,
    render_namespace,
    render_resource_quota,
    render_workgroup_network_policies,
)

K8S_VERSION = "1.30"
NEXUS = NexusEndpoint(namespace="oblivion", pod_labels={"app.kubernetes.io/component": "nexus"}, port=8080)
WG_BODY = {
    "apiVersion": "oblivion.dev/v1alpha1",
    "kind": "Workgroup",
    "metadata": {"name": "squad", "uid": "u-1"},
}
AGENT_BODY = {
    "apiVersion": "oblivion.dev/v1alpha1",
    "kind": "Agent",
    "metadata": {"name": "backend-bot", "namespace": "wg-squad", "uid": "u-2"},
}


def _valid(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def _agent(spec: dict[str, Any] | None = None) -> AgentSpec:
    return parse_spec(AgentSpec, spec or {})


def _deployment(spec: AgentSpec) -> dict[str, Any]:
    return render_agent_deployment(
        "backend-bot",
        "wg-squad",
        "squad",
        spec,
        default_image="registry.local/agent:1",
        nexus_url="http://nexus.oblivion:8080",
        credentials_revision="rev1",
        owner=owner_reference(AGENT_BODY),
    )


def test_owner_reference_makes_the_custom_resource_the_controller() -> None:
    assert owner_reference(AGENT_BODY) == {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "Agent",
        "name": "backend-bot",
        "uid": "u-2",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_workgroup_namespace_is_labelled_and_owned() -> None:
    ns = render_namespace("squad", parse_spec(WorkgroupSpec, {}), owner_reference(WG_BODY))
    _valid(ns)
    assert ns["metadata"]["name"] == "wg-squad"
    assert ns["metadata"]["labels"]["oblivion.dev/workgroup"] == "squad"
    assert ns["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_workgroup_policies_deny_by_default_and_allow_dns_and_nexus_only() -> None:
    policies = render_workgroup_network_policies("wg-squad", NEXUS, owner_reference(WG_BODY))
    for policy in policies:
        _valid(policy)
    deny, dns, nexus = (p["spec"] for p in policies)
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    target = nexus["egress"][0]["to"][0]
    assert target["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "oblivion"}
    assert target["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "nexus"}
    assert nexus["egress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_resource_quota_carries_the_hard_limits() -> None:
    quota = render_resource_quota("wg-squad", {"pods": "20"}, owner_reference(WG_BODY))
    _valid(quota)
    assert quota["spec"]["hard"] == {"pods": "20"}


def test_agent_secret_holds_base64_credentials_and_the_rotation_marker() -> None:
    secret = render_agent_secret(
        "backend-bot", "wg-squad", "squad", "cid", "s3cret", "r2", owner_reference(AGENT_BODY)
    )
    _valid(secret)
    assert base64.b64decode(secret["data"]["client-secret"]) == b"s3cret"
    assert secret["metadata"]["annotations"]["oblivion.dev/rotated-for"] == "r2"


def test_service_account_does_not_automount_a_token() -> None:
    sa = render_agent_service_account("backend-bot", "wg-squad", "squad", owner_reference(AGENT_BODY))
    _valid(sa)
    assert sa["automountServiceAccountToken"] is False


def test_agent_pod_is_locked_down() -> None:
    deployment = _deployment(_agent())
    _valid(deployment)
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"]["memory"] == "128Mi"
    assert container["image"] == "registry.local/agent:1"


def test_agent_credentials_come_from_the_secret_never_inline() -> None:
    env = {e["name"]: e for e in _deployment(_agent())["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OBLIVION_NEXUS_URL"]["value"] == "http://nexus.oblivion:8080"
    for name, key in (("OBLIVION_CLIENT_ID", "client-id"), ("OBLIVION_CLIENT_SECRET", "client-secret")):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "agent-backend-bot-credentials", "key": key}


def test_agent_spec_image_replicas_env_and_model_are_used() -> None:
    spec = _agent(
        {
            "image": "ghcr.io/acme/bot:2",
            "replicas": 2,
            "env": [{"name": "LOG_LEVEL", "value": "debug"}],
            "model": {"provider": "openai", "name": "gpt-4o-mini"},
            "resources": {"requests": {"cpu": "1"}},
            "instructions": "Answer in English.",
            "description": "Fixes backend bugs",
            "displayName": "Backend Bot",
        }
    )
    deployment = _deployment(spec)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "ghcr.io/acme/bot:2"
    assert env["LOG_LEVEL"] == "debug"
    assert env["OBLIVION_MODEL_NAME"] == "gpt-4o-mini"
    assert env["OBLIVION_AGENT_INSTRUCTIONS"] == "Answer in English."
    assert env["OBLIVION_AGENT_DESCRIPTION"] == "Fixes backend bugs"
    assert env["OBLIVION_AGENT_DISPLAY_NAME"] == "Backend Bot"
    assert container["resources"] == {"requests": {"cpu": "1"}}


def test_rotation_changes_the_pod_template_so_pods_roll() -> None:
    first = _deployment(_agent())["spec"]["template"]["metadata"]["annotations"]
    second = render_agent_deployment(
        "backend-bot",
        "wg-squad",
        "squad",
        _agent(),
        default_image="i",
        nexus_url="u",
        credentials_revision="rev2",
        owner=owner_reference(AGENT_BODY),
    )["spec"]["template"]["metadata"]["annotations"]
    assert first != second


@pytest.mark.parametrize("egress", [[], [{"cidr": "140.82.112.0/20", "ports": [{"port": 443}]}]])
def test_agent_network_policy_allows_no_ingress_and_only_declared_egress(
    egress: list[dict[str, Any]],
) -> None:
    policy = render_agent_network_policy(
        "backend-bot", "wg-squad", "squad", _agent({"egress": egress}), NEXUS, owner_reference(AGENT_BODY)
    )
    _valid(policy)
    spec = policy["spec"]
    assert spec["ingress"] == []
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert len(spec["egress"]) == 2 + len(egress)  # DNS, Nexus, then the declared ones
    if egress:
        assert spec["egress"][2] == {
            "to": [{"ipBlock": {"cidr": "140.82.112.0/20"}}],
            "ports": [{"protocol": "TCP", "port": 443}],
        }
