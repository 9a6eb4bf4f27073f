"""The four CustomResourceDefinitions as files: valid, structural, self-explaining, named as documented.

What they admit and refuse is decided by the real API server in ``tests/integration/crds/``, which
also proves that every CEL rule compiles (the server refuses a CRD whose rule does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from oblivion_operator.crds import CRD_FILE_NAMES
from tests.support.crd_schema import REPO_ROOT, crd_files, schema_nodes, structural_problems

KINDS = {
    "Workgroup": ("workgroups", "Cluster", "wg"),
    "Project": ("projects", "Namespaced", "proj"),
    "Agent": ("agents", "Namespaced", "agt"),
    "ToolCredential": ("toolcredentials", "Namespaced", "tc"),
}
STATUS_FIELDS = {
    "Workgroup": {"namespace", "collection", "slackChannelId"},
    "Project": {"slackChannelId", "phase", "collection"},
    "Agent": {"readyReplicas", "connected", "lastSeen", "secretName", "usage"},
    "ToolCredential": {"synced", "fingerprint", "lastSynced"},
}


@pytest.fixture(scope="module")
def crds() -> dict[str, dict[str, Any]]:
    """Each CRD file by the kind it defines."""
    by_kind = {}
    for path in crd_files():
        crd = yaml.safe_load(path.read_text())
        by_kind[crd["spec"]["names"]["kind"]] = crd
    return by_kind


def schema_of(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


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
    crds: dict[str, dict[str, Any]],
) -> None:
    assert set(crds) == set(KINDS)
    assert sorted(path.name for path in (REPO_ROOT / "crds").iterdir()) == sorted(CRD_FILE_NAMES)
    for kind, (plural, scope, short_name) in KINDS.items():
        crd = crds[kind]
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
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    status = schema_of(crds[kind])["properties"]["status"]["properties"]
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
    crds: dict[str, dict[str, Any]], kind: str
) -> None:
    columns = crds[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert columns[0]["name"] == "Ready"
    assert columns[0]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    known = {path for path, _ in schema_nodes(schema_of(crds[kind]))}
    for column in columns[1:-1]:
        assert column["jsonPath"].removeprefix(".") in known, column


def test_every_cel_rule_tells_the_user_what_to_fix(crds: dict[str, dict[str, Any]]) -> None:
    rules = [
        rule
        for crd in crds.values()
        for _, node in schema_nodes(schema_of(crd))
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 8
    for rule in rules:
        assert rule["rule"].strip(), rule
        assert rule["message"].strip(), rule
