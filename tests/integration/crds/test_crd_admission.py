"""What the four CRDs admit and refuse, decided by the real API server: strict decoding, defaulting,
schema validation, CEL rules (transition rules on updates) and the status subresource.

Creates are dry runs (nothing is stored); an update stores the old object first and sends the new
one as a dry-run PUT, so a transition rule sees both.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.controlplane import ApiError, Cluster
from tests.controlplane.fixtures import TEST_GROUPS

API_VERSION = "oblivion.dev/v1alpha1"
NAMESPACE = "wg-squad-web"
MINIMAL: dict[str, dict[str, Any]] = {
    "Workgroup": {"metadata": {"name": "squad-web"}, "spec": {}},
    "Project": {
        "metadata": {"name": "checkout", "namespace": NAMESPACE},
        "spec": {"clickup": {"listId": "901200000001"}},
    },
    "Agent": {
        "metadata": {"name": "web-bot", "namespace": NAMESPACE},
        "spec": {"model": {"name": "gpt-4o"}},
    },
    "ToolCredential": {
        "metadata": {"name": "status", "namespace": NAMESPACE},
        "spec": {
            "type": "http",
            "secretRef": {"name": "status-api"},
            "allowedActions": ["GET /status"],
            "http": {"baseUrl": "https://status.example.com/api"},
        },
    },
}


@pytest.fixture(scope="module")
def cluster(control_plane: Cluster) -> Cluster:
    """One clean cluster for the module: creates are dry runs, and what a test stores it removes."""
    control_plane.reset(TEST_GROUPS)
    control_plane.create_namespace(NAMESPACE)
    return control_plane


def _remove(cluster: Cluster, obj: dict[str, Any]) -> None:
    resource, meta = f"{API_VERSION}/{obj['kind']}", obj["metadata"]
    cluster.delete(resource, meta["name"], meta.get("namespace"))
    cluster.wait_for_deletion(resource, meta["name"], meta.get("namespace"))


def resource(kind: str, **spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(MINIMAL[kind])
    obj["spec"].update(spec)
    return {"apiVersion": API_VERSION, "kind": kind, **obj}


def admit(cluster: Cluster, obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the server would store for a create of ``obj``, or for an update from ``old`` to it."""
    if old is None:
        return cluster.create(obj, dry_run=True)
    stored = cluster.create(old)
    try:
        return cluster.replace(obj, dry_run=True)
    finally:
        _remove(cluster, stored)


def refusal(cluster: Cluster, obj: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    with pytest.raises(ApiError) as caught:
        admit(cluster, obj, old)
    assert caught.value.status in (400, 422), caught.value
    return caught.value.message


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("Workgroup", ("spec", "retentionPolicy"), "Retain"),
        ("Workgroup", ("spec", "memory", "isolation"), "Shared"),
        ("Project", ("spec", "retentionPolicy"), "Retain"),
        ("Project", ("spec", "archived"), False),
        ("Agent", ("spec", "replicas"), 1),
        ("Agent", ("spec", "rateLimit", "messagesPerMinute"), 10),
        ("Agent", ("spec", "model", "provider"), "openai"),
        ("ToolCredential", ("spec", "secretRef", "key"), "token"),
        ("ToolCredential", ("spec", "http", "headerName"), "Authorization"),
        ("ToolCredential", ("spec", "http", "scheme"), "Bearer"),
    ],
)
def test_omitted_fields_are_stored_with_their_defaults(
    cluster: Cluster, kind: str, path: tuple[str, ...], value: object
) -> None:
    stored: Any = admit(cluster, resource(kind))
    for key in path:
        stored = stored[key]
    assert stored == value


def test_a_workgroup_name_longer_than_60_characters_is_refused(cluster: Cluster) -> None:
    workgroup = resource("Workgroup")
    workgroup["metadata"]["name"] = "a" * 61
    assert "workgroup names must be DNS labels of at most 60 characters" in refusal(cluster, workgroup)
    workgroup["metadata"]["name"] = "a" * 60
    admit(cluster, workgroup)


def test_a_workgroup_namespace_cannot_be_changed_once_the_workgroup_exists(cluster: Cluster) -> None:
    implicit = resource("Workgroup")  # squad-web lives in wg-squad-web
    explicit = resource("Workgroup", namespace="team-web")
    message = "spec.namespace cannot be changed once the workgroup exists"
    assert message in refusal(cluster, explicit, implicit)
    assert message in refusal(cluster, implicit, explicit)
    assert message in refusal(cluster, resource("Workgroup", namespace="team-web-2"), explicit)
    admit(cluster, explicit, explicit)
    admit(cluster, resource("Workgroup", namespace="wg-squad-web"), implicit)
    admit(cluster, explicit)  # a create has no old object to compare with


def test_an_agent_name_with_a_dot_is_refused(cluster: Cluster) -> None:
    agent = resource("Agent")
    agent["metadata"]["name"] = "web.bot"
    assert "agent names must be DNS labels" in refusal(cluster, agent)


def test_a_slack_channel_name_may_have_80_characters_but_not_81(cluster: Cluster) -> None:
    project = resource("Project", slack={"channelName": "p" * 80})
    admit(cluster, project)
    project["spec"]["slack"]["channelName"] = "p" * 81
    assert "spec.slack.channelName: Too long" in refusal(cluster, project)


def test_an_unknown_field_inside_a_list_entry_is_refused_by_name(cluster: Cluster) -> None:
    agent = resource("Agent", tools=[{"credential": "github", "action": ["repos.read"]}])
    assert 'unknown field "spec.tools[0].action"' in refusal(cluster, agent)


def test_an_object_without_spec_is_refused(cluster: Cluster) -> None:
    workgroup = resource("Workgroup")
    del workgroup["spec"]
    assert "spec: Required value" in refusal(cluster, workgroup)


def test_a_slack_block_with_neither_channel_name_nor_id_is_refused(cluster: Cluster) -> None:
    project = resource("Project", slack={})
    assert "exactly one of slack.channelName or slack.channelId" in refusal(cluster, project)


def test_a_project_may_end_on_the_day_it_starts(cluster: Cluster) -> None:
    admit(cluster, resource("Project", startDate="2026-12-01", endDate="2026-12-01"))


def test_an_impossible_date_is_refused_as_not_a_date(cluster: Cluster) -> None:
    project = resource("Project", startDate="2026-13-01")
    assert 'spec.startDate in body must be of type date: "2026-13-01"' in refusal(cluster, project)


def test_an_http_block_on_a_github_credential_is_refused(cluster: Cluster) -> None:
    credential = resource("ToolCredential", type="github")
    assert "spec.http is only allowed when spec.type is http" in refusal(cluster, credential)


def test_a_resource_quantity_must_look_like_one(cluster: Cluster) -> None:
    agent = resource("Agent", resources={"limits": {"cpu": 2, "memory": "1Gi"}})
    admit(cluster, agent)
    agent["spec"]["resources"]["limits"]["memory"] = "one gigabyte"
    assert "spec.resources.limits.memory in body should match" in refusal(cluster, agent)


def test_two_env_entries_with_the_same_name_are_refused(cluster: Cluster) -> None:
    agent = resource("Agent", env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])
    assert 'spec.env[1]: Duplicate value: map[string]interface {}{"name":"A"}' in refusal(cluster, agent)


def test_an_agent_may_be_granted_builtin_tools_next_to_credentials(cluster: Cluster) -> None:
    tools = [
        {"credential": "github", "actions": ["issues.*"]},
        {"builtin": "clickup", "actions": ["tasks.get", "comments.*"]},
        {"builtin": "slack"},
    ]
    assert admit(cluster, resource("Agent", tools=tools))["spec"]["tools"] == tools


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ([{"credential": "github", "builtin": "clickup"}], "names exactly one of credential and builtin"),
        ([{"actions": ["tasks.get"]}], "names exactly one of credential and builtin"),
        ([{"builtin": "slack", "actions": ["tasks.get"]}], "actions of a built-in must be its own"),
        ([{"builtin": "clickup", "actions": ["issues.create"]}], "actions of a built-in must be its own"),
        ([{"builtin": "clickup"}, {"builtin": "clickup"}], "each built-in tool may be granted by one"),
        ([{"credential": "github"}, {"credential": "github"}], "each ToolCredential may be named by one"),
    ],
)
def test_a_tools_entry_names_one_credential_or_one_builtin_with_its_own_actions(
    cluster: Cluster, tools: list[dict[str, Any]], message: str
) -> None:
    assert message in refusal(cluster, resource("Agent", tools=tools))


def test_an_unknown_builtin_is_refused(cluster: Cluster) -> None:
    refused = refusal(cluster, resource("Agent", tools=[{"builtin": "jira"}]))
    assert "spec.tools[0].builtin" in refused
    assert "Unsupported value" in refused


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "0.0.0.0/0"])
def test_egress_accepts_ipv4_and_ipv6_networks(cluster: Cluster, cidr: str) -> None:
    admit(cluster, resource("Agent", egress=[{"cidr": cidr, "ports": [{"port": 443}]}]))


@pytest.mark.parametrize("cidr", ["10.0.0.0", "10.0.0.0/33", "example.com/24"])
def test_egress_refuses_what_is_not_a_network(cluster: Cluster, cidr: str) -> None:
    agent = resource("Agent", egress=[{"cidr": cidr}])
    assert "spec.egress[0].cidr in body should match" in refusal(cluster, agent)


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (
            "Workgroup",
            {"namespace": "wg-squad-web", "collection": "tenant_squad-web", "slackChannelId": "C024BE91L"},
        ),
        ("Project", {"slackChannelId": "C024BE91L", "phase": "Active"}),
        (
            "Agent",
            {
                "readyReplicas": 1,
                "connected": True,
                "lastSeen": "2026-11-25T20:15:00Z",
                "secretName": "web-bot-client",
            },
        ),
        (
            "ToolCredential",
            {"synced": True, "fingerprint": "hmac-sha256:9f2c4e1a0b3d", "lastSynced": "2026-11-25T20:15:00Z"},
        ),
    ],
)
def test_the_status_the_operator_writes_is_accepted(
    cluster: Cluster, request: pytest.FixtureRequest, kind: str, status: dict[str, Any]
) -> None:
    obj = resource(kind)
    stored = cluster.create(obj)
    request.addfinalizer(lambda: _remove(cluster, stored))
    assert "status" not in stored  # the main resource ignores status; only /status writes it
    obj["status"] = {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Reconciled",
                "message": "all external resources are in place",
                "observedGeneration": 3,
                "lastTransitionTime": "2026-11-25T20:15:00Z",
            }
        ],
        **status,
    }
    assert cluster.replace(obj, subresource="status")["status"] == obj["status"]
    obj["status"]["conditions"].append(dict(obj["status"]["conditions"][0], status="False"))
    with pytest.raises(ApiError) as caught:
        cluster.replace(obj, subresource="status", dry_run=True)
    assert (
        'status.conditions[1]: Duplicate value: map[string]interface {}{"type":"Ready"}'
        in caught.value.message
    )


def test_a_workgroups_summary_model_defaults_to_openai_and_needs_an_endpoint_when_compatible(
    cluster: Cluster,
) -> None:
    stored = admit(cluster, resource("Workgroup", memory={"summaryModel": {"name": "gpt-4o-mini"}}))
    assert stored["spec"]["memory"]["summaryModel"] == {"provider": "openai", "name": "gpt-4o-mini"}
    compatible = {"provider": "openai-compatible", "name": "llama-3.1-8b"}
    message = refusal(cluster, resource("Workgroup", memory={"summaryModel": compatible}))
    assert "summaryModel.endpoint is required when summaryModel.provider is openai-compatible" in message
    anthropic = {"provider": "anthropic", "name": "claude-sonnet-4"}
    assert "spec.memory.summaryModel.provider" in refusal(
        cluster, resource("Workgroup", memory={"summaryModel": anthropic})
    )
