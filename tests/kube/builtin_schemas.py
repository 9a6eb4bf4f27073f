"""Validation of built-in kinds (Deployments, NetworkPolicies, Secrets...) against Kubernetes 1.33's
OpenAPI schemas, as shipped by the `kubernetes-validate` package.

The operator renders these objects itself; a Deployment without a selector or a NetworkPolicy port
of the wrong type is refused by a real API server, so the emulator refuses it too (422) instead of
letting the operator's tests pass. Semantic rules outside the schemas (selector matching the
template's labels...) are not checked.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

KUBERNETES_VERSION = "1.33"
_SCHEMA_DIR = f"kubernetes-json-schema/v{KUBERNETES_VERSION}.0-local"
_MISSING = object()


@functools.cache
def _definitions() -> Any:
    return schema_contents(f"{_SCHEMA_DIR}/_definitions.json", KUBERNETES_VERSION)


@functools.cache
def _validator(api_version: str, kind: str) -> Any | None:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(f"{_SCHEMA_DIR}/{kind.lower()}-{group_version}.json", KUBERNETES_VERSION)
    except FileNotFoundError:
        return None
    registry: Registry[Any] = Resource.from_contents(_definitions()) @ (
        Resource.from_contents(schema) @ Registry()
    )
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _value_at(obj: Any, path: Iterable[Any]) -> Any:
    for part in path:
        if (isinstance(obj, dict) and part in obj) or (
            isinstance(obj, list) and isinstance(part, int) and part < len(obj)
        ):
            obj = obj[part]
        else:
            return _MISSING
    return obj


def problems(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Schema violations of a built-in object; on updates, unchanged values are not re-checked."""
    validator = _validator(obj.get("apiVersion", ""), obj.get("kind", ""))
    if validator is None:
        return []
    found = []
    for error in validator.iter_errors(obj):
        path = list(error.absolute_path)
        if old is not None and _value_at(old, path) == _value_at(obj, path):
            continue
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "<root>"
        found.append(f"{where}: Invalid value: {error.instance!r}: {error.message}")
    return found
