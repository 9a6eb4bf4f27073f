"""`kubectl apply -f examples/` against the real control plane with the operator running yields every
child and external resource: namespace, policies, quota, collection, channels, Deployment,
registrations."""

from __future__ import annotations

import datetime
import json
import subprocess
from typing import Any

import pytest
import yaml

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.fakes.slack import FakeSlack
from tests.support.operator import EXAMPLES, NexusAdmin, ready, start_operator
from tests.tools.k8s_binaries import K8sBinariesError, kubectl_path

WG, NS = "squad-backend", "wg-squad-backend"


def _kubectl(cluster: Cluster, *args: str) -> str:
    try:
        binary = kubectl_path()
    except K8sBinariesError as e:
        pytest.fail(f"kubectl is needed for this test: {e}", pytrace=False)
    result = subprocess.run(
        [str(binary), "--kubeconfig", str(cluster.kubeconfig_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _example(name: str) -> dict[str, Any]:
    docs = list(yaml.safe_load_all((EXAMPLES / name).read_text()))
    return next(d for d in docs if d and d["kind"] != "Secret")


def test_kubectl_apply_of_the_examples_builds_the_whole_team(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings) as operator:
        _kubectl(cluster, "apply", "-f", str(EXAMPLES / "workgroup.yaml"))
        workgroup = cluster.wait_for_object("workgroups", WG, condition=ready, timeout=30)
        _kubectl(cluster, "apply", "-f", str(EXAMPLES))
        project = cluster.wait_for_object("projects", "auth-refactor", NS, condition=ready, timeout=30)
        agent = cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        credential = cluster.wait_for_object("toolcredentials", "github", NS, condition=ready, timeout=30)

        # Workgroup: namespace, isolation, quota, memory, channel, tenant
        namespace = cluster.get("namespaces", NS)
        assert namespace["metadata"]["labels"]["oblivion.dev/workgroup"] == WG
        policies = {p["metadata"]["name"] for p in cluster.list("networkpolicies.networking.k8s.io", NS)}
        assert {
            "oblivion-default-deny",
            "oblivion-allow-dns",
            "oblivion-allow-nexus",
            "agent-backend-bot",
        } <= policies
        quota = cluster.get("resourcequotas", "oblivion-quota", NS)
        assert quota["spec"]["hard"] == {
            k: str(v) for k, v in _example("workgroup.yaml")["spec"]["quota"]["hard"].items()
        }
        assert operator.call(operator.ctx.qdrant.exists("tenant_squad-backend"))
        channel = slack.channel_named("squad-backend")
        assert channel is not None
        assert workgroup["status"]["slackChannelId"] == channel["id"]
        assert workgroup["status"]["namespace"] == NS
        assert workgroup["status"]["collection"] == "tenant_squad-backend"
        tenant = nexus_admin.get(f"workgroups/{WG}")
        assert tenant is not None
        assert tenant["slackChannelId"] == channel["id"]

        # Project: channel and mapping
        project_channel = slack.channel_named("proj-auth-refactor")
        assert project_channel is not None
        assert project["status"]["slackChannelId"] == project_channel["id"]
        end = datetime.date.fromisoformat(_example("project.yaml")["spec"]["endDate"])
        assert project["status"]["phase"] == (
            "Active" if end >= datetime.datetime.now(datetime.UTC).date() else "Archived"
        )
        mapping = nexus_admin.get(f"workgroups/{WG}/projects/auth-refactor")
        assert mapping is not None
        assert mapping["clickupListId"] == "901201234567"
        assert mapping["slackChannelId"] == project_channel["id"]

        # Agent: children and registration
        assert cluster.get("deployments.apps", "agent-backend-bot", NS)["spec"]["replicas"] == 1
        assert cluster.find("serviceaccounts", "agent-backend-bot", NS) is not None
        assert agent["status"]["secretName"] == "agent-backend-bot-credentials"
        registered = nexus_admin.get(f"workgroups/{WG}/agents/backend-bot")
        assert registered is not None
        assert sorted(registered["aliases"]) == ["ai-backend", "backend-bot"]

        # ToolCredential: synced, fingerprint only
        stored = nexus_admin.get(f"workgroups/{WG}/credentials/github")
        assert stored is not None
        assert credential["status"]["synced"] is True
        assert credential["status"]["fingerprint"] == stored["fingerprint"]
        assert "ghp_REPLACE_ME" not in json.dumps(credential) + json.dumps(stored)

        # every child carries an owner reference
        for resource, name in (
            ("deployments.apps", "agent-backend-bot"),
            ("secrets", "agent-backend-bot-credentials"),
            ("networkpolicies.networking.k8s.io", "oblivion-default-deny"),
            ("resourcequotas", "oblivion-quota"),
        ):
            assert cluster.get(resource, name, NS)["metadata"]["ownerReferences"], resource
        assert namespace["metadata"]["ownerReferences"][0]["uid"] == workgroup["metadata"]["uid"]

        listed = json.loads(_kubectl(cluster, "get", "wg,proj,agt,tc", "-A", "-o", "json"))
        assert {item["kind"] for item in listed["items"]} == {
            "Workgroup",
            "Project",
            "Agent",
            "ToolCredential",
        }
        table = _kubectl(cluster, "get", "wg,proj,agt,tc", "-A")
        for name in ("squad-backend", "auth-refactor", "backend-bot", "github"):
            assert name in table
        ready_path = 'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}'
        assert _kubectl(cluster, "get", "wg,proj,agt,tc", "-A", "-o", ready_path).split() == ["True"] * 4


def test_examples_reconcile_again_after_a_restart_without_creating_anything_twice(
    cluster: Cluster, operator_settings: OperatorSettings, slack: FakeSlack, nexus_admin: NexusAdmin
) -> None:
    with start_operator(cluster, operator_settings):
        cluster.apply_file(EXAMPLES / "workgroup.yaml")
        cluster.wait_for_object("workgroups", WG, condition=ready, timeout=30)
        for name in ("project.yaml", "agent.yaml"):
            cluster.apply_file(EXAMPLES / name)
        cluster.wait_for_object("agents", "backend-bot", NS, condition=ready, timeout=30)
        cluster.wait_for_object("projects", "auth-refactor", NS, condition=ready, timeout=30)
    channels_before = sorted(c["name"] for c in slack.channels)
    creates_before = len(slack.calls_to("conversations.create"))
    secret_before = cluster.get("secrets", "agent-backend-bot-credentials", NS)["data"]

    with start_operator(cluster, operator_settings):
        cluster.patch("workgroups", WG, {"spec": {"displayName": "Squad Backend (renamed)"}})
        cluster.wait_for(
            lambda: (
                (nexus_admin.get(f"workgroups/{WG}") or {}).get("displayName") == "Squad Backend (renamed)"
            ),
            timeout=30,
            message="the renamed workgroup reaches Nexus",
        )
    assert sorted(c["name"] for c in slack.channels) == channels_before
    assert len(slack.calls_to("conversations.create")) == creates_before
    assert cluster.get("secrets", "agent-backend-bot-credentials", NS)["data"] == secret_before
