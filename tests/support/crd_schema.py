"""Reading the CRD files and examples, and walking the CRDs' schemas, for the tests.

Examples are read as kubectl sends them. `structural_problems` checks the rules the API server
enforces for structural schemas when a CRD is created, and that every field is described so
``kubectl explain`` teaches it. What the CRDs admit is tested against the real API server
(``tests/integration/crds/``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


CRD_DIR = REPO_ROOT / "crds"


EXAMPLES_DIR = REPO_ROOT / "examples"


_EXPECT = re.compile(r"^#\s*expect:\s*(?P<text>.+?)\s*$", re.MULTILINE)


class _YamlLikeKubectl(yaml.SafeLoader):
    """kubectl reads YAML with go-yaml, which turns an unquoted date into an RFC 3339 timestamp."""


def _timestamp_as_kubectl_sends_it(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    value = yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return f"{value.isoformat()}T00:00:00Z"


_YamlLikeKubectl.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_kubectl_sends_it)


def load_manifests(path: Path) -> list[dict[str, Any]]:
    """The documents of a YAML file, as kubectl would send them."""
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_YamlLikeKubectl) if doc]


def expected_error(path: Path) -> str:
    """The ``# expect: …`` line of an invalid example: a part of the error the user sees."""
    match = _EXPECT.search(path.read_text(encoding="utf-8"))
    if match is None:
        raise AssertionError(f"{path} has no '# expect: <error text>' line")
    return match.group("text")


def crd_files() -> list[Path]:
    return sorted(CRD_DIR.glob("*.oblivion.dev.yaml"))


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def schema_nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node of a schema with its path (``spec.slack.channelName``, ``spec.env[].name``)."""
    yield path or "<root>", schema
    for key, child in schema.get("properties", {}).items():
        yield from schema_nodes(child, join_path(path, key))
    if isinstance(schema.get("items"), dict):
        yield from schema_nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from schema_nodes(schema["additionalProperties"], f"{path}{{}}")


_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """Why a schema is not structural in the API server's sense, or not self-explaining; [] if fine."""
    problems = []
    for path, node in schema_nodes(schema):
        int_or_string = node.get("x-kubernetes-int-or-string") is True
        if int_or_string:
            if "type" in node or node.get("anyOf") != _INT_OR_STRING_ANY_OF:
                problems.append(f"{path}: int-or-string must have no type and anyOf [integer, string]")
        elif not node.get("type"):
            problems.append(f"{path}: has no type")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: has both properties and additionalProperties")
        for keyword in ("anyOf", "allOf", "oneOf", "not"):
            if keyword in node and not (int_or_string and keyword == "anyOf"):
                problems.append(f"{path}: uses {keyword}; keep the schema plain")
        if path != "metadata" and not str(node.get("description", "")).strip():
            problems.append(f"{path}: has no description (kubectl explain would show nothing)")
        if node.get("type") == "array" and node.get("x-kubernetes-list-type") == "map":
            required = set(node["items"].get("required", []))
            for key in node.get("x-kubernetes-list-map-keys", []):
                if key not in required:
                    problems.append(f"{path}: list-map key {key} must be required")
        if "enum" in node and node.get("type") == "string":
            problems += [
                f"{path}: enum value {v!r} is not a string" for v in node["enum"] if not isinstance(v, str)
            ]
    if set(schema["properties"].get("metadata", {})) - {"type"}:
        problems.append("metadata: may only say type: object")
    return problems
