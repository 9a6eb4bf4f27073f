"""Structural schemas of CRDs, applied as the real API server does: defaults, pruning, validation.

A real cluster silently drops fields a CRD's `openAPIV3Schema` does not declare (also in status) and
refuses values outside it with 422; an emulator that stored anything would let an operator pass its
tests and lose its status in production. CEL rules are checked by `validation_rules`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from tests.kube import validation_rules

_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_ROOT_KEPT = ("apiVersion", "kind", "metadata")


def _json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAPI v3 subset of Kubernetes as plain JSON Schema (nullable, int-or-string)."""
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description", "example", "default"):
            continue
        if key == "properties":
            result[key] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            result[key] = _json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [_json_schema(sub) for sub in value]
        else:
            result[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _prune(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        preserved = schema.get(_PRESERVE) or schema.get("x-kubernetes-embedded-resource")
        if preserved and "properties" not in schema:
            return value
        properties: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        pruned: dict[str, Any] = {}
        for key, item in value.items():
            if item is None and not (properties.get(key) or {}).get("nullable"):
                continue  # nulls of non-nullable fields are dropped before defaulting, as in a cluster
            if key in properties:
                pruned[key] = _prune(item, properties[key])
            elif isinstance(extra, Mapping):
                pruned[key] = _prune(item, extra)
            elif extra is True or schema.get(_PRESERVE):
                pruned[key] = item
        return pruned
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_prune(item, schema["items"]) for item in value]
    return value


def _default(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = _default(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in value:
                if key not in properties:
                    value[key] = _default(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_default(item, schema["items"]) for item in value]
    return value


_MISSING = object()


def _value_at(obj: Any, path: Iterable[Any]) -> Any:
    for part in path:
        if (isinstance(obj, dict) and part in obj) or (
            isinstance(obj, list) and isinstance(part, int) and part < len(obj)
        ):
            obj = obj[part]
        else:
            return _MISSING
    return obj


def _path(error: jsonschema.ValidationError) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path]
    return "".join(parts).lstrip(".") or "<root>"


class StructuralSchema:
    """One served version's `openAPIV3Schema`, ready to default, prune and validate objects."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self._validator = jsonschema.Draft4Validator(_json_schema(schema))
        self._rules = validation_rules.collect_rules(schema)

    def admit(
        self, obj: dict[str, Any], *, validate: bool, old: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """Defaulted and pruned copy of `obj`, and (when validating) the field errors found.

        On updates, errors in values left unchanged from `old` are not reported (the validation
        ratcheting of Kubernetes 1.33), so an object stored before it became invalid stays patchable.
        """
        kept = {key: obj[key] for key in _ROOT_KEPT if key in obj}
        body = {key: value for key, value in obj.items() if key not in _ROOT_KEPT}
        shaped = _default(_prune(copy.deepcopy(body), self.schema), self.schema)
        result = {**kept, **shaped}
        if not validate:
            return result, []
        checked = {key: value for key, value in result.items() if key != "metadata"}
        errors = sorted(self._validator.iter_errors(checked), key=lambda e: [str(p) for p in e.absolute_path])
        problems = [
            f"{_path(e)}: Invalid value: {e.instance!r}: {e.message}"
            for e in errors
            if old is None or _value_at(old, e.absolute_path) != _value_at(result, e.absolute_path)
        ]
        if not problems:  # like the API server, CEL rules run only on schema-valid objects
            problems = validation_rules.violations(self._rules, result, old)
        return result, problems


def schemas_from_crd(crd: Mapping[str, Any]) -> dict[tuple[str, str, str], StructuralSchema]:
    """(group, version, plural) → schema for every served version that declares one."""
    spec = crd.get("spec") or {}
    plural = (spec.get("names") or {}).get("plural", "")
    result: dict[tuple[str, str, str], StructuralSchema] = {}
    for version in spec.get("versions") or []:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if version.get("served", True) and isinstance(schema, Mapping):
            result[(spec.get("group", ""), version["name"], plural)] = StructuralSchema(schema)
    return result
