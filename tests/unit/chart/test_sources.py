"""The chart reads the repository's own sources: CRDs, the operator's RBAC, documented values."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support.chart import CHART, REPO, objects_of, render_chart

SYNC_HINT = "run `make chart-sync` to refresh the chart's copy"


def test_the_charts_crds_are_byte_identical_to_the_repositorys_crds() -> None:
    source = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    copy = {p.name: p.read_bytes() for p in (CHART / "files" / "crds").glob("*.yaml")}
    assert source, "crds/ holds no CRD"
    assert sorted(copy) == sorted(source), SYNC_HINT
    for name, content in source.items():
        assert copy[name] == content, f"files/crds/{name} differs from crds/{name}: {SYNC_HINT}"


def test_rendered_crds_equal_the_repositorys_crds_apart_from_the_keep_annotation() -> None:
    rendered = {
        o["metadata"]["name"]: o
        for o in objects_of(render_chart(sets=("crds.keep=false",)))
        if o["kind"] == "CustomResourceDefinition"
    }
    for path in (REPO / "crds").glob("*.yaml"):
        source = yaml.safe_load(path.read_text())
        assert rendered[source["metadata"]["name"]] == source, path.name


def test_operator_clusterrole_rules_equal_the_operators_own_declaration() -> None:
    declared_path = REPO / "operator" / "deploy" / "clusterrole.yaml"
    copy_path = CHART / "files" / "operator-clusterrole.yaml"
    rendered = next(o for o in objects_of(render_chart()) if o["kind"] == "ClusterRole")
    if declared_path.exists():
        assert copy_path.read_bytes() == declared_path.read_bytes(), SYNC_HINT
        declared = yaml.safe_load(declared_path.read_text())
    else:  # until the operator declares its rules, the chart's draft is the declaration
        declared = yaml.safe_load(copy_path.read_text())
    assert rendered["rules"] == declared["rules"]


def test_operator_rules_cover_what_it_reconciles() -> None:
    rules: list[dict[str, Any]] = yaml.safe_load((CHART / "files" / "operator-clusterrole.yaml").read_text())[
        "rules"
    ]
    granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    for kind in ("workgroups", "projects", "agents", "toolcredentials"):
        assert ("oblivion.dev", kind) in granted
        assert ("oblivion.dev", f"{kind}/status") in granted
    for needed in [
        ("", "namespaces"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("apps", "deployments"),
        ("networking.k8s.io", "networkpolicies"),
        ("", "resourcequotas"),
    ]:
        assert needed in granted, needed


def test_every_value_key_is_documented_with_a_helm_docs_comment() -> None:
    """Each key has a `# --` comment above it, sits under such a key, or is a parent of checked keys."""
    lines = [line for line in (CHART / "values.yaml").read_text().splitlines() if line.strip()]
    key_line = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][\w.-]*):(?P<rest>.*)$")

    def indent_of(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    undocumented = []
    documented_indent: int | None = None  # the subtree of a documented key needs no more comments
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        m = key_line.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m["key"]))
        if documented_indent is not None and indent > documented_indent:
            continue
        documented_indent = None
        following = next((n for n in lines[i + 1 :] if not n.lstrip().startswith("#")), "")
        is_parent = not m["rest"].strip() and indent_of(following) > indent
        if lines[i - 1].strip().startswith("# --"):
            documented_indent = indent
        elif not is_parent:
            undocumented.append(".".join(k for _, k in stack))
    assert not undocumented, f"values without a `# --` comment: {undocumented}"


def test_the_schema_forbids_unknown_keys_in_every_object() -> None:
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    loose = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and node.get("additionalProperties") is not False
            ):
                loose.append(where)
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for n, child in enumerate(node):
                walk(child, f"{where}/{n}")

    walk(schema, "")
    assert not loose, loose


def test_the_readme_quickstart_starts_with_make_up() -> None:
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = quickstart.split("```sh\n", 1)[1].split("```", 1)[0]
    first = next(line for line in block.splitlines() if line.strip() and not line.startswith("#"))
    assert re.match(r"^(\w+=\S+ )*make up\b", first), first
    deployment = (REPO / "docs" / "deployment.md").read_text()
    for topic in ("Kind", "Production values", "External Secrets", "Argo CD"):
        assert f"## {topic}" in deployment or f"## Secrets and {topic}" in deployment, topic
