"""Validation the API server does in code rather than in schemas, for mistakes operators really make:
label keys and values, Secret and ConfigMap keys, and a Deployment's selector (it must match the pod
template's labels and cannot change once set).
"""

from __future__ import annotations

import re
from typing import Any

from tests.kube.resources import ResourceType

_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return "name part must be 63 characters or less, alphanumerics, '-', '_' or '.'"
    return None


def _labels(where: str, labels: Any) -> list[str]:
    problems = []
    for key, value in (labels or {}).items():
        reason = _label_key_problem(str(key))
        if reason:
            problems.append(f'{where}: Invalid value: "{key}": {reason}')
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_NAME.match(value):
            problems.append(
                f'{where}: Invalid value: "{value}": a label value must be 63 characters or '
                "less, alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
            )
    return problems


def _data_keys(obj: dict[str, Any]) -> list[str]:
    return [
        f'{field}[{key}]: Invalid value: "{key}": a valid config key must consist of alphanumerics, '
        "'-', '_' or '.'"
        for field in ("data", "binaryData", "stringData")
        for key in (obj.get(field) or {})
        if not _DATA_KEY.match(str(key))
    ]


def _deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    spec = obj.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    problems = []
    if any(template_labels.get(k) != v for k, v in selector.items()):
        problems.append(
            "spec.template.metadata.labels: Invalid value: "
            f"{template_labels!r}: `selector` does not match template `labels`"
        )
    if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
        problems.append(f"spec.selector: Invalid value: {spec.get('selector')!r}: field is immutable")
    return problems


def problems(rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    meta = obj.get("metadata") or {}
    found = _labels("metadata.labels", meta.get("labels"))
    if rtype.group == "" and rtype.plural in ("secrets", "configmaps"):
        found += _data_keys(obj)
    if rtype.group == "apps" and rtype.plural == "deployments":
        found += _deployment(obj, old)
    return found
