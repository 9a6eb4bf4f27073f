"""ToolCredential: the Secret's value reaches Nexus, status shows only the fingerprint, rotation re-syncs."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from oblivion_operator.settings import OperatorSettings
from tests.controlplane import Cluster
from tests.secret_logs import SecretRegistry
from tests.support.operator import NexusAdmin, not_ready_because, ready, start_operator

WG, NS = "tc-wg", "wg-tc-wg"


def _credential(name: str = "github", secret: str = "github-token", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "oblivion.dev/v1alpha1",
        "kind": "ToolCredential",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": "github",
            "secretRef": {"name": secret, "key": "token"},
            "allowedActions": ["repos.read"],
            "agents": ["backend-bot"],
            **spec,
        },
    }


def _secret(value: str, name: str = "github-token") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": {"token": base64.b64encode(value.encode()).decode()},
    }


def _workgroup_namespace(cluster: Cluster, nexus_admin: NexusAdmin) -> None:
    cluster.create_namespace(NS, labels={"oblivion.dev/workgroup": WG})
    nexus_admin.client.put(f"workgroups/{WG}", json={"displayName": WG, "namespace": NS}).raise_for_status()


def _token(secret_registry: SecretRegistry) -> str:
    value = "ghp_" + secrets.token_urlsafe(24)
    secret_registry.add(value)
    return value


def test_credential_is_synced_and_rotation_changes_the_fingerprint(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    first, second = _token(secret_registry), _token(secret_registry)
    cluster.create(_secret(first))
    with start_operator(cluster, operator_settings):
        cluster.create(_credential())
        synced = cluster.wait_for_object("toolcredentials", "github", NS, condition=ready, timeout=30)
        fingerprint = synced["status"]["fingerprint"]
        assert fingerprint == nexus_admin.get(f"workgroups/{WG}/credentials/github")["fingerprint"]
        assert synced["status"]["synced"] is True
        assert synced["status"]["lastSynced"]

        cluster.patch(
            "secrets", "github-token", {"data": {"token": base64.b64encode(second.encode()).decode()}}, NS
        )
        rotated = cluster.wait_for_object(
            "toolcredentials",
            "github",
            NS,
            condition=lambda tc: tc["status"]["fingerprint"] != fingerprint,
            timeout=30,
        )
    assert (
        rotated["status"]["fingerprint"]
        == nexus_admin.get(f"workgroups/{WG}/credentials/github")["fingerprint"]
    )
    text = json.dumps(rotated)
    assert first not in text
    assert second not in text


def test_missing_secret_is_reported_then_synced_once_it_appears(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    with start_operator(cluster, operator_settings):
        cluster.create(_credential(secret="later"))
        waiting = cluster.wait_for_object(
            "toolcredentials", "github", NS, condition=not_ready_because("SecretNotFound")
        )
        assert waiting["status"]["synced"] is False
        assert "Secret wg-tc-wg/later does not exist" in waiting["status"]["conditions"][0]["message"]

        cluster.create(_secret(_token(secret_registry), name="later"))
        cluster.wait_for_object("toolcredentials", "github", NS, condition=ready, timeout=30)
    assert nexus_admin.get(f"workgroups/{WG}/credentials/github") is not None


def test_missing_key_names_the_key(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    cluster.create(_secret(_token(secret_registry)))
    with start_operator(cluster, operator_settings):
        cluster.create(_credential(secretRef={"name": "github-token", "key": "password"}))
        waiting = cluster.wait_for_object(
            "toolcredentials", "github", NS, condition=not_ready_because("SecretNotFound")
        )
    assert "has no key 'password'" in waiting["status"]["conditions"][0]["message"]


def test_http_credential_sends_its_config_and_deletion_removes_it(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    cluster.create(_secret(_token(secret_registry), name="api-key"))
    http = {"baseUrl": "https://api.example.com", "headerName": "X-Api-Key", "scheme": ""}
    with start_operator(cluster, operator_settings):
        cluster.create(_credential(name="billing-api", secret="api-key", type="http", http=http))
        cluster.wait_for_object("toolcredentials", "billing-api", NS, condition=ready, timeout=30)
        stored = nexus_admin.get(f"workgroups/{WG}/credentials/billing-api")
        assert stored is not None
        assert stored["config"]["baseUrl"] == "https://api.example.com"
        cluster.delete("toolcredentials", "billing-api", NS)
        cluster.wait_for_deletion("toolcredentials", "billing-api", NS, timeout=30)
    assert nexus_admin.get(f"workgroups/{WG}/credentials/billing-api") is None


def test_github_enterprise_url_and_approval_rule_reach_nexus(
    cluster: Cluster,
    operator_settings: OperatorSettings,
    nexus_admin: NexusAdmin,
    secret_registry: SecretRegistry,
) -> None:
    _workgroup_namespace(cluster, nexus_admin)
    cluster.create(_secret(_token(secret_registry)))
    approval = {"actions": ["pulls.merge", "DELETE /*"], "approvers": ["UA8RXUSPL", "S0614TZR7"]}
    ghes = {"baseUrl": "https://github.example.com/api/v3"}
    with start_operator(cluster, operator_settings):
        cluster.create(_credential(github=ghes, approval=approval))
        cluster.create(_credential(name="public", allowedActions=["issues.*"]))
        for name in ("github", "public"):
            cluster.wait_for_object("toolcredentials", name, NS, condition=ready, timeout=30)
    stored = nexus_admin.get(f"workgroups/{WG}/credentials/github")
    assert stored is not None
    assert stored["config"] == {"baseUrl": "https://github.example.com/api/v3"}
    assert stored["approval"] == {**approval, "timeoutSeconds": 3600}, "the CRD's default timeout is sent"
    public = nexus_admin.get(f"workgroups/{WG}/credentials/public")
    assert public is not None
    assert public["config"] == {"baseUrl": "https://api.github.com"}
    assert public["approval"] is None
