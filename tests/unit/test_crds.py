"""The four CustomResourceDefinitions: valid, structural, self-explaining, and validating what they say.

Objects are admitted through `crd_admission.CrdAdmission`, which repeats the API server's steps
(strict decoding, defaulting, schema validation, CEL rules) from the CRD files themselves.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml

from oblivion_operator.crds import CRD_FILE_NAMES
from tests.unit.crd_admission import CrdAdmission, Rejected, load_admissions
from tests.unit.crd_schema import REPO_ROOT, crd_files, schema_nodes, structural_problems

KINDS = {
    "Workgroup": ("workgroups", "Cluster", "wg"),
    "Project": ("projects", "Namespaced", "proj"),
    "Agent": ("agents", "Namespaced", "agt"),
    "ToolCredential": ("toolcredentials", "Namespaced", "tc"),
}
STATUS_FIELDS = {
    "Workgroup": {"namespace", "collection", "slackChannelId"},
    "Project": {"slackChannelId", "phase", "collection"},
    "Agent": {"readyReplicas", "connected", "lastSeen", "secretName"},
    "ToolCredential": {"synced", "fingerprint", "lastSynced"},
}
MINIMAL: dict[str, dict[str, Any]] = {
    "Workgroup": {"metadata": {"name": "squad-web"}, "spec": {}},
    "Project": {
        "metadata": {"name": "checkout", "namespace": "wg-squad-web"},
        "spec": {"clickup": {"listId": "901200000001"}},
    },
    "Agent": {
        "metadata": {"name": "web-bot", "namespace": "wg-squad-web"},
        "spec": {"model": {"name": "gpt-4o"}},
    },
    "ToolCredential": {
        "metadata": {"name": "status", "namespace": "wg-squad-web"},
        "spec": {
            "type": "http",
            "secretRef": {"name": "status-api"},
            "allowedActions": ["GET /status"],
            "http": {"baseUrl": "https://status.example.com/api"},
        },
    },
}


@pytest.fixture(scope="module")
def admissions() -> dict[str, CrdAdmission]:
    return load_admissions()


def resource(admissions: dict[str, CrdAdmission], kind: str, **spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(MINIMAL[kind])
    obj["spec"].update(spec)
    return {"apiVersion": admissions[kind].api_version, "kind": kind, **obj}


def refusal(admission: CrdAdmission, obj: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    with pytest.raises(Rejected) as caught:
        admission.admit(obj, old)
    return str(caught.value)


@pytest.mark.parametrize("path", crd_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("kube_version", ["1.30.0", kubernetes_validate.latest_version()])
def test_each_crd_is_a_valid_apiextensions_v1_object(path: Path, kube_version: str) -> None:
    crd = yaml.safe_load(path.read_text())
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    kubernetes_validate.validate(crd, kube_version, strict=True)


@pytest.mark.parametrize("path", crd_files(), ids=lambda p: p.name)
def test_each_crd_schema_is_structural_and_every_field_is_described(path: Path) -> None:
    schema = yaml.safe_load(path.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert structural_problems(schema) == []


def test_the_four_kinds_are_named_scoped_and_served_as_the_platform_documents(
    admissions: dict[str, CrdAdmission],
) -> None:
    assert set(admissions) == set(KINDS)
    assert sorted(path.name for path in (REPO_ROOT / "crds").iterdir()) == sorted(CRD_FILE_NAMES)
    for kind, (plural, scope, short_name) in KINDS.items():
        crd = admissions[kind].crd
        assert crd["metadata"]["name"] == f"{plural}.oblivion.dev"
        assert Path(REPO_ROOT / "crds" / f"{plural}.oblivion.dev.yaml").is_file()
        assert crd["spec"]["group"] == "oblivion.dev"
        assert crd["spec"]["scope"] == scope
        assert crd["spec"]["names"]["shortNames"] == [short_name]
        assert crd["spec"]["names"]["categories"] == ["oblivion"]
        [served] = crd["spec"]["versions"]
        assert (served["name"], served["served"], served["storage"]) == ("v1alpha1", True, True)
        assert served["subresources"]["status"] == {}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_status_has_ready_conditions_observed_generation_and_the_kinds_own_fields(
    admissions: dict[str, CrdAdmission], kind: str
) -> None:
    status = admissions[kind].schema["properties"]["status"]["properties"]
    assert set(status) == {"conditions", "observedGeneration"} | STATUS_FIELDS[kind]
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["properties"]) == {
        "type",
        "status",
        "reason",
        "message",
        "observedGeneration",
        "lastTransitionTime",
    }
    assert item["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert "Ready" in conditions["description"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_printer_columns_show_ready_and_age_and_point_at_real_fields(
    admissions: dict[str, CrdAdmission], kind: str
) -> None:
    admission = admissions[kind]
    columns = admission.crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns[0]["name"] == "Ready"
    assert columns[0]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    known = {path for path, _ in schema_nodes(admission.schema)}
    for column in columns[1:-1]:
        assert column["jsonPath"].removeprefix(".") in known, column


def test_every_cel_rule_compiles_and_tells_the_user_what_to_fix(admissions: dict[str, CrdAdmission]) -> None:
    env = celpy.Environment()
    rules = [
        rule
        for admission in admissions.values()
        for _, node in schema_nodes(admission.schema)
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 8
    for rule in rules:
        env.compile(rule["rule"])
        assert rule["message"].strip(), rule


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
    admissions: dict[str, CrdAdmission], kind: str, path: tuple[str, ...], value: object
) -> None:
    stored: Any = admissions[kind].admit(resource(admissions, kind))
    for key in path:
        stored = stored[key]
    assert stored == value


def test_a_workgroup_name_longer_than_60_characters_is_refused(admissions: dict[str, CrdAdmission]) -> None:
    workgroup = resource(admissions, "Workgroup")
    workgroup["metadata"]["name"] = "a" * 61
    assert "workgroup names must be DNS labels of at most 60 characters" in refusal(
        admissions["Workgroup"], workgroup
    )
    workgroup["metadata"]["name"] = "a" * 60
    admissions["Workgroup"].admit(workgroup)


def test_a_workgroup_namespace_cannot_be_changed_once_the_workgroup_exists(
    admissions: dict[str, CrdAdmission],
) -> None:
    workgroups = admissions["Workgroup"]
    implicit = resource(admissions, "Workgroup")  # squad-web lives in wg-squad-web
    explicit = resource(admissions, "Workgroup", namespace="team-web")
    message = "spec.namespace cannot be changed once the workgroup exists"
    assert message in refusal(workgroups, explicit, implicit)
    assert message in refusal(workgroups, implicit, explicit)
    assert message in refusal(workgroups, resource(admissions, "Workgroup", namespace="team-web-2"), explicit)
    workgroups.admit(explicit, explicit)
    workgroups.admit(resource(admissions, "Workgroup", namespace="wg-squad-web"), implicit)
    workgroups.admit(explicit)  # a create has no old object to compare with


def test_an_agent_name_with_a_dot_is_refused(admissions: dict[str, CrdAdmission]) -> None:
    agent = resource(admissions, "Agent")
    agent["metadata"]["name"] = "web.bot"
    assert "agent names must be DNS labels" in refusal(admissions["Agent"], agent)


def test_a_slack_channel_name_may_have_80_characters_but_not_81(admissions: dict[str, CrdAdmission]) -> None:
    project = resource(admissions, "Project", slack={"channelName": "p" * 80})
    admissions["Project"].admit(project)
    project["spec"]["slack"]["channelName"] = "p" * 81
    assert "spec.slack.channelName: Too long" in refusal(admissions["Project"], project)


def test_an_unknown_field_inside_a_list_entry_is_refused_by_name(admissions: dict[str, CrdAdmission]) -> None:
    agent = resource(admissions, "Agent", tools=[{"credential": "github", "action": ["repos.read"]}])
    assert 'unknown field "spec.tools[0].action"' in refusal(admissions["Agent"], agent)


def test_an_object_without_spec_is_refused(admissions: dict[str, CrdAdmission]) -> None:
    workgroup = resource(admissions, "Workgroup")
    del workgroup["spec"]
    assert "spec: Required value" in refusal(admissions["Workgroup"], workgroup)


def test_a_slack_block_with_neither_channel_name_nor_id_is_refused(
    admissions: dict[str, CrdAdmission],
) -> None:
    project = resource(admissions, "Project", slack={})
    assert "exactly one of slack.channelName or slack.channelId" in refusal(admissions["Project"], project)


def test_a_project_may_end_on_the_day_it_starts(admissions: dict[str, CrdAdmission]) -> None:
    project = resource(admissions, "Project", startDate="2026-12-01", endDate="2026-12-01")
    admissions["Project"].admit(project)


def test_an_impossible_date_is_refused_as_not_a_date(admissions: dict[str, CrdAdmission]) -> None:
    project = resource(admissions, "Project", startDate="2026-13-01")
    assert 'spec.startDate in body must be of type date: "2026-13-01"' in refusal(
        admissions["Project"], project
    )


def test_an_http_block_on_a_github_credential_is_refused(admissions: dict[str, CrdAdmission]) -> None:
    credential = resource(admissions, "ToolCredential", type="github")
    assert "spec.http is only allowed when spec.type is http" in refusal(
        admissions["ToolCredential"], credential
    )


def test_a_resource_quantity_must_look_like_one(admissions: dict[str, CrdAdmission]) -> None:
    agent = resource(admissions, "Agent", resources={"limits": {"cpu": 2, "memory": "1Gi"}})
    admissions["Agent"].admit(agent)
    agent["spec"]["resources"]["limits"]["memory"] = "one gigabyte"
    assert "spec.resources.limits.memory in body should match" in refusal(admissions["Agent"], agent)


def test_two_env_entries_with_the_same_name_are_refused(admissions: dict[str, CrdAdmission]) -> None:
    agent = resource(admissions, "Agent", env=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])
    assert 'spec.env[1]: Duplicate value: {"name": "A"}' in refusal(admissions["Agent"], agent)


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "0.0.0.0/0"])
def test_egress_accepts_ipv4_and_ipv6_networks(admissions: dict[str, CrdAdmission], cidr: str) -> None:
    admissions["Agent"].admit(
        resource(admissions, "Agent", egress=[{"cidr": cidr, "ports": [{"port": 443}]}])
    )


@pytest.mark.parametrize("cidr", ["10.0.0.0", "10.0.0.0/33", "example.com/24"])
def test_egress_refuses_what_is_not_a_network(admissions: dict[str, CrdAdmission], cidr: str) -> None:
    agent = resource(admissions, "Agent", egress=[{"cidr": cidr}])
    assert "spec.egress[0].cidr in body should match" in refusal(admissions["Agent"], agent)


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
    admissions: dict[str, CrdAdmission], kind: str, status: dict[str, Any]
) -> None:
    obj = resource(admissions, kind)
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
    assert admissions[kind].admit(obj)["status"] == obj["status"]
    obj["status"]["conditions"].append(dict(obj["status"]["conditions"][0], status="False"))
    assert 'status.conditions[1]: Duplicate value: {"type": "Ready"}' in refusal(admissions[kind], obj)
