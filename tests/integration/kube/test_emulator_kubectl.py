"""Real kubectl against the emulator: apply the repo's CRDs and examples, get them back by short name."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import httpx
import pytest
import yaml

from tests.kube import KubeApi
from tests.tools.k8s_binaries import K8sBinariesError, kubectl_path

REPO = pathlib.Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
WEB_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
        },
    },
}


def kubectl(kube_api: KubeApi, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        binary = kubectl_path()
    except K8sBinariesError as e:
        pytest.fail(str(e), pytrace=False)
    return subprocess.run(
        [str(binary), "--kubeconfig", str(kube_api.kubeconfig_path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _example_namespaces() -> set[str]:
    namespaces = set()
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and (doc.get("metadata") or {}).get("namespace"):
                namespaces.add(doc["metadata"]["namespace"])
    return namespaces


def test_kubectl_applies_the_crds_and_examples_and_lists_them_by_short_name(kube_api: KubeApi) -> None:
    assert EXAMPLES, "examples/*.yaml are missing"
    assert "created" in ok(kubectl(kube_api, "apply", "-f", str(REPO / "crds")))
    for namespace in _example_namespaces():  # the operator makes these from the Workgroup
        kube_api.create_namespace(namespace)
    ok(kubectl(kube_api, "apply", "-f", str(REPO / "examples")))

    listed: dict[str, Any] = json.loads(ok(kubectl(kube_api, "get", "wg,proj,agt,tc", "-A", "-o", "json")))
    kinds = {item["kind"] for item in listed["items"]}
    assert kinds == {"Workgroup", "Project", "Agent", "ToolCredential"}
    table = ok(kubectl(kube_api, "get", "wg,proj,agt,tc", "-A"))
    assert "workgroup.oblivion.dev/" in table
    assert "agent.oblivion.dev/" in table
    assert "oblivion.dev/" in ok(kubectl(kube_api, "get", "oblivion", "-A"))

    again = ok(kubectl(kube_api, "apply", "-f", str(REPO / "examples")))
    assert "created" not in again
    assert "unchanged" in again


SCRATCH = """
apiVersion: v1
kind: Namespace
metadata: {name: scratch}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: scratch}
data: {a: "1"}
"""


def test_kubectl_sees_its_writes_and_the_server_errors(kube_api: KubeApi) -> None:
    ok(kubectl(kube_api, "apply", "-f", "-", stdin=SCRATCH))
    ok(kubectl(kube_api, "label", "configmap", "settings", "-n", "scratch", "tier=web"))
    names = ok(kubectl(kube_api, "get", "cm", "-n", "scratch", "-l", "tier=web", "-o", "name"))
    assert names.split() == ["configmap/settings"]
    duplicate = kubectl(kube_api, "create", "-f", "-", stdin=SCRATCH)
    assert duplicate.returncode != 0
    assert "AlreadyExists" in duplicate.stderr
    missing = kubectl(kube_api, "get", "cm", "nothing", "-n", "scratch")
    assert 'configmaps "nothing" not found' in missing.stderr
    ok(kubectl(kube_api, "delete", "namespace", "scratch", "--wait=false"))
    kube_api.wait_for_deletion("namespaces", "scratch")


def test_kubectl_scales_agents_and_deployments_through_the_scale_subresource(kube_api: KubeApi) -> None:
    kube_api.register_crds()
    agent = next(d for d in yaml.safe_load_all((REPO / "examples" / "agent.yaml").read_text()) if d)
    namespace, name = agent["metadata"]["namespace"], agent["metadata"]["name"]
    kube_api.create_namespace(namespace)
    kube_api.create(agent)
    ok(kubectl(kube_api, "scale", "agent", name, "-n", namespace, "--replicas=3"))
    assert kube_api.get("agents", name, namespace)["spec"]["replicas"] == 3
    kube_api.create(WEB_DEPLOYMENT)
    ok(kubectl(kube_api, "scale", "deployment", "web", "--replicas=0"))
    assert kube_api.get("deployments.apps", "web", "default")["spec"]["replicas"] == 0


def test_the_emulator_runs_as_a_process_for_end_to_end_tests(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "tests.kube", "--kubeconfig", str(kubeconfig), "--crds"]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "listening on http://127.0.0.1:" in line
            url = line.rsplit(" ", 1)[1].strip()
            assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == url
            crds = httpx.get(url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions").json()
            assert len(crds["items"]) == 4
        finally:
            process.terminate()
        assert process.wait(10) == 0


def test_kubectl_get_shows_the_crd_printer_columns(kube_api: KubeApi) -> None:
    kube_api.register_crds()
    workgroup = yaml.safe_load((REPO / "examples" / "workgroup.yaml").read_text())
    name = workgroup["metadata"]["name"]
    kube_api.create(workgroup)
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "Reconciled",
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    kube_api.patch(
        "workgroups",
        name,
        {"status": {"namespace": f"wg-{name}", "conditions": [condition]}},
        subresource="status",
    )
    ok(kubectl(kube_api, "wait", "--for=condition=Ready", f"wg/{name}", "--timeout=10s"))
    header, row = ok(kubectl(kube_api, "get", "wg", name)).splitlines()
    cells = dict(zip(header.split(), row.split(), strict=False))
    assert cells["NAME"] == name
    assert cells["READY"] == "True"
    assert cells["NAMESPACE"] == f"wg-{name}"


def test_kubectl_create_commands_send_protobuf_the_emulator_decodes(kube_api: KubeApi) -> None:
    ok(kubectl(kube_api, "create", "namespace", "wg-proto"))
    ok(
        kubectl(
            kube_api, "create", "secret", "generic", "github", "-n", "wg-proto", "--from-literal=token=s3cr3t"
        )
    )
    ok(kubectl(kube_api, "create", "configmap", "settings", "-n", "wg-proto", "--from-literal=level=debug"))
    ok(kubectl(kube_api, "create", "serviceaccount", "bot", "-n", "wg-proto"))
    assert kube_api.get("namespaces", "wg-proto")["status"]["phase"] == "Active"
    assert kube_api.get("secrets", "github", "wg-proto")["data"] == {"token": "czNjcjN0"}
    assert kube_api.get("configmaps", "settings", "wg-proto")["data"] == {"level": "debug"}
    assert kube_api.find("serviceaccounts", "bot", "wg-proto") is not None
    refused = kubectl(kube_api, "create", "deployment", "web", "-n", "wg-proto", "--image=nginx")
    assert refused.returncode != 0
    assert "send JSON" in refused.stderr
