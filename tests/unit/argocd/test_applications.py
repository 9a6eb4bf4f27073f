"""The Argo CD Applications and the example workgroup folder they sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "deploy" / "argocd"
FOLDER = ARGOCD / "workgroups" / "squad-backend"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _wave(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def test_the_chart_application_syncs_before_the_workgroup_application() -> None:
    chart = _docs(ARGOCD / "application-oblivion.yaml")[0]
    workgroup = _docs(ARGOCD / "application-workgroup.yaml")[0]
    assert chart["spec"]["source"]["path"] == "charts/oblivion"
    assert (REPO / chart["spec"]["source"]["path"] / "Chart.yaml").exists()
    for values in chart["spec"]["source"]["helm"]["valueFiles"]:
        assert (REPO / "charts" / "oblivion" / values).exists(), values
    assert (REPO / workgroup["spec"]["source"]["path"]).is_dir()
    assert _wave(chart) < _wave(workgroup)


def test_the_chart_application_never_rotates_generated_keys() -> None:
    chart = _docs(ARGOCD / "application-oblivion.yaml")[0]
    ignored = chart["spec"]["ignoreDifferences"]
    assert {"group": "", "kind": "Secret", "name": "oblivion-secrets", "jsonPointers": ["/data"]} in ignored
    assert "RespectIgnoreDifferences=true" in chart["spec"]["syncPolicy"]["syncOptions"]


def test_in_the_workgroup_folder_the_workgroup_comes_first_and_agents_last() -> None:
    objs = [o for p in sorted(FOLDER.glob("*.yaml")) for o in _docs(p)]
    waves = {o["kind"]: _wave(o) for o in objs}
    assert waves["Workgroup"] < waves["Project"] < waves["Agent"]
    assert waves["Workgroup"] < waves["ToolCredential"] < waves["Agent"]
    assert waves["ExternalSecret"] <= waves["ToolCredential"]


def test_the_workgroup_folder_holds_valid_custom_resources() -> None:
    schemas = {}
    for crd_path in (REPO / "crds").glob("*.yaml"):
        crd = yaml.safe_load(crd_path.read_text())
        version = next(v for v in crd["spec"]["versions"] if v["storage"])
        schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    checked = set()
    for path in sorted(FOLDER.glob("*.yaml")):
        for obj in _docs(path):
            if obj["apiVersion"].startswith("oblivion.dev/"):
                jsonschema.validate(obj["spec"], schemas[obj["kind"]]["properties"]["spec"])
                checked.add(obj["kind"])
    assert checked == {"Workgroup", "Project", "Agent", "ToolCredential"}


def test_the_root_application_syncs_both_applications() -> None:
    import fnmatch

    root = _docs(ARGOCD / "root.yaml")[0]
    assert root["spec"]["source"]["path"] == "deploy/argocd"
    pattern = root["spec"]["source"]["directory"]["include"]
    included = sorted(p.name for p in ARGOCD.glob("*.yaml") if fnmatch.fnmatch(p.name, pattern))
    assert included == ["application-oblivion.yaml", "application-workgroup.yaml"]
