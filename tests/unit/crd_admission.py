"""Admit custom resources against our CRDs the way the Kubernetes API server would, for the tests.

No API server runs in the unit tests, so this module repeats the steps it takes on a create or update,
in its order and with its wording, from the CRD's own ``openAPIV3Schema``:

1. strict decoding: a field the schema does not know is refused (``unknown field "spec.x"``), as
   kubectl's default ``--validate=strict`` asks;
2. defaulting: every ``default`` is filled in, recursively;
3. schema validation with jsonschema, errors rendered like the API server's field errors;
4. the ``x-kubernetes-validations`` CEL rules, evaluated with a real CEL implementation (cel-python),
   with ``oldSelf`` for transition rules on update. As in Kubernetes, strings of ``format: date`` or
   ``date-time`` are timestamps in CEL, and no rule runs while a field has the wrong type.
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from typing import Any

import celpy
import jsonschema
import yaml
from celpy import celtypes

from tests.unit.crd_schema import apply_defaults, child_nodes, crd_files, join_path, strict_schema

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


class Rejected(Exception):
    """What ``kubectl apply`` prints when the API server refuses an object."""

    def __init__(self, kind: str, version: str, name: str, causes: tuple[str, ...]) -> None:
        super().__init__(kind, version, name, causes)
        self.kind = kind
        self.version = version
        self.name = name
        self.causes = causes

    @property
    def mistakes(self) -> tuple[str, ...]:
        """The causes that point at a mistake (not the note that CEL rules were skipped)."""
        return tuple(cause for cause in self.causes if RULES_NOT_CHECKED not in cause)

    def __str__(self) -> str:
        if len(self.causes) == 1 and self.causes[0].startswith("strict decoding error"):
            where = f'{self.kind} in version "{self.version}"'
            return f"{where} cannot be handled as a {self.kind}: {self.causes[0]}"
        joined = self.causes[0] if len(self.causes) == 1 else "[" + ", ".join(self.causes) + "]"
        return f'The {self.kind} "{self.name}" is invalid: {joined}'


class CrdAdmission:
    """One CRD's admission of objects: decode strictly, default, validate, run the CEL rules."""

    def __init__(self, crd: dict[str, Any]) -> None:
        self.crd = crd
        version = crd["spec"]["versions"][0]
        self.kind: str = crd["spec"]["names"]["kind"]
        self.namespaced = crd["spec"]["scope"] == "Namespaced"
        self.version: str = version["name"]
        self.api_version = f"{crd['spec']['group']}/{self.version}"
        self.schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
        self._validator = jsonschema.Draft7Validator(
            strict_schema(self.schema), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        self._env = celpy.Environment()

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        """The object as stored (defaults filled in), or `Rejected` with the API server's messages."""
        name = str(obj.get("metadata", {}).get("name", ""))
        unknown = self._unknown_fields(obj)
        if unknown:
            causes = ", ".join(f'unknown field "{field}"' for field in unknown)
            raise Rejected(self.kind, self.version, name, (f"strict decoding error: {causes}",))
        stored = copy.deepcopy(obj)
        apply_defaults(stored, self.schema)
        causes_list = [*self._metadata_errors(stored), *self._schema_errors(stored)]
        old_stored = None
        if old is not None:
            old_stored = copy.deepcopy(old)
            apply_defaults(old_stored, self.schema)
        if any(": must be of type " in c or " in body must be of type " in c for c in causes_list):
            # Like the API server, no CEL rule runs on an object whose fields have the wrong types.
            causes_list.append(f'<nil>: Invalid value: "null": {RULES_NOT_CHECKED}')
        else:
            causes_list += self._cel_errors(stored, self.schema, "", old_stored, root=True)
        if causes_list:
            raise Rejected(self.kind, self.version, name, tuple(causes_list))
        return stored

    def _unknown_fields(self, obj: dict[str, Any]) -> list[str]:
        fields = []
        for error in self._validator.iter_errors(obj):
            if error.validator == "additionalProperties" and error.validator_value is False:
                known = set(error.schema.get("properties", {}))
                fields += [
                    join_path(_path(error.absolute_path), key) for key in error.instance if key not in known
                ]
        return sorted(fields)

    def _metadata_errors(self, obj: dict[str, Any]) -> list[str]:
        name = obj.get("metadata", {}).get("name")
        if not isinstance(name, str) or not name:
            return ["metadata.name: Required value: name or generateName is required"]
        if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            return [
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of '
                "lower case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            ]
        return []

    def _schema_errors(self, obj: dict[str, Any]) -> list[str]:
        errors = sorted(
            self._validator.iter_errors(obj), key=lambda e: (list(map(str, e.absolute_path)), e.message)
        )
        return [_field_error(e) for e in errors] + _list_type_errors(obj, self.schema, "")

    def _cel_errors(
        self, value: Any, schema: dict[str, Any], path: str, old: Any, *, root: bool = False
    ) -> list[str]:
        errors: list[str] = []
        for rule in schema.get("x-kubernetes-validations", []):
            if "oldSelf" in rule["rule"] and old is None:
                continue  # a transition rule runs on updates only, when there was an old value
            activation: dict[str, Any] = {"self": to_cel(_cel_view(value, root), schema)}
            if old is not None:
                activation["oldSelf"] = to_cel(_cel_view(old, root), schema)
            program = self._env.program(self._env.compile(rule["rule"]))
            try:
                result = program.evaluate(activation)
            except celpy.CELEvalError as e:
                result = e
            field = path or "<nil>"
            if isinstance(result, celpy.CELEvalError):
                errors.append(f"{field}: Internal error: rule {rule['rule']!r} failed to evaluate: {result}")
            elif not bool(result):
                message = rule.get("message") or f"failed rule: {rule['rule']}"
                errors.append(f'{field}: Invalid value: "{schema.get("type", "object")}": {message}')
        for child, child_schema, child_path, child_old in child_nodes(value, schema, path, old):
            errors += self._cel_errors(child, child_schema, child_path, child_old)
        return errors


def _cel_view(value: Any, root: bool) -> Any:
    """At the root, CEL sees only metadata.name and metadata.generateName of the metadata."""
    if not root or not isinstance(value, dict):
        return value
    view = dict(value)
    meta = value.get("metadata", {})
    view["metadata"] = {k: meta[k] for k in ("name", "generateName") if k in meta}
    return view


def to_cel(value: Any, schema: dict[str, Any]) -> Any:
    """A JSON value as Kubernetes hands it to CEL, guided by its schema (dates become timestamps)."""
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        if schema.get("format") == "date" and _is_date(value):
            day = datetime.date.fromisoformat(value)
            return celtypes.TimestampType(
                datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
            )
        if schema.get("format") == "date-time" and _is_date_time(value):
            return celtypes.TimestampType(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
        return celtypes.StringType(value)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(item, schema.get("items", {})) for item in value])
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return celtypes.MapType(
            {
                celtypes.StringType(k): to_cel(
                    v, properties.get(k) or (extra if isinstance(extra, dict) else {})
                )
                for k, v in value.items()
            }
        )
    return None


def _is_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _list_type_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Duplicates in x-kubernetes-list-type set/map lists, which plain JSON Schema does not catch."""
    errors: list[str] = []
    if isinstance(value, list):
        list_type = schema.get("x-kubernetes-list-type")
        seen: list[Any] = []
        for index, item in enumerate(value):
            if list_type == "set":
                key: Any = item
            elif list_type == "map" and isinstance(item, dict):
                key = {k: item.get(k) for k in schema.get("x-kubernetes-list-map-keys", [])}
            else:
                continue
            if key in seen:
                errors.append(f"{path}[{index}]: Duplicate value: {json.dumps(key)}")
            seen.append(key)
    for child, child_schema, child_path, _ in child_nodes(value, schema, path, None):
        errors += _list_type_errors(child, child_schema, child_path)
    return errors


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else join_path(text, str(part))
    return text


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def _field_error(error: jsonschema.ValidationError) -> str:
    """One jsonschema error in the words of the API server (apiextensions field errors)."""
    path = _path(error.absolute_path)
    field = path or "<nil>"
    keyword, limit, value = error.validator, error.validator_value, error.instance
    shown = json.dumps(value)
    if keyword == "required":
        missing = [name for name in limit if name not in value]
        return ", ".join(f"{join_path(path, name)}: Required value" for name in missing)
    if keyword == "enum":
        return f"{field}: Unsupported value: {shown}: supported values: " + ", ".join(
            json.dumps(v) for v in limit
        )
    if keyword == "type":
        actual = _json_type(value)
        return f'{field}: Invalid value: "{actual}": {path} in body must be of type {limit}: "{actual}"'
    if keyword == "format":
        return f"{field}: Invalid value: {shown}: {path} in body must be of type {limit}: {shown}"
    if keyword == "maxLength":
        return f"{field}: Too long: may not be more than {limit} bytes"
    if keyword == "maxItems":
        return f"{field}: Too many: {len(value)}: must have at most {limit} items"
    if keyword == "maxProperties":
        return f"{field}: Too many: {len(value)}: must have at most {limit} items"
    body = {
        "pattern": f"should match '{limit}'",
        "minimum": f"should be greater than or equal to {limit}",
        "maximum": f"should be less than or equal to {limit}",
        "minLength": f"should be at least {limit} chars long",
        "minItems": f"should have at least {limit} items",
    }.get(str(keyword), error.message)
    if keyword == "minItems":
        shown = str(len(value))
    return f"{field}: Invalid value: {shown}: {path} in body {body}"


def load_admissions() -> dict[str, CrdAdmission]:
    """One `CrdAdmission` per kind, read from crds/."""
    admissions = {}
    for path in crd_files():
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        admission = CrdAdmission(crd)
        admissions[admission.kind] = admission
    return admissions
