"""What the API server does to an object between the request and storage.

Server-set metadata (uid, creationTimestamp, generation, namespace, resourceVersion), `generateName`,
the status-subresource split, Secret `stringData`, and the defaults the operator relies on (the
`kubernetes.io/metadata.name` label of namespaces, `Established` CRDs). Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import re
import secrets
import string
import uuid
from typing import Any

from tests.kube import errors
from tests.kube.resources import ResourceType

_GENERATE_ALPHABET = string.ascii_lowercase + string.digits
_IMMUTABLE_METADATA = (
    "uid",
    "creationTimestamp",
    "name",
    "namespace",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def check_name(rtype: ResourceType, name: str) -> None:
    """The name rules of the real server: DNS labels for namespaces, subdomains for most kinds."""
    if rtype.group == "rbac.authorization.k8s.io":
        valid, rule = name not in (".", "..") and "/" not in name and "%" not in name, "a path segment name"
    elif rtype.group == "" and rtype.plural == "namespaces":
        valid, rule = bool(_DNS_LABEL.match(name)) and len(name) <= 63, "a lowercase RFC 1123 label"
    elif rtype.group == "" and rtype.plural == "services":
        valid, rule = bool(_DNS_1035_LABEL.match(name)) and len(name) <= 63, "a DNS-1035 label"
    else:
        valid, rule = bool(_DNS_SUBDOMAIN.match(name)) and len(name) <= 253, "a lowercase RFC 1123 subdomain"
    if not valid:
        raise errors.invalid(rtype, name, f'metadata.name: Invalid value: "{name}": must be {rule}')


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """Everything whose change bumps `metadata.generation`."""
    skipped = {"metadata", "kind", "apiVersion"}
    if rtype.has_status:
        skipped.add("status")
    return {key: value for key, value in obj.items() if key not in skipped}


def _check_identity(rtype: ResourceType, obj: dict[str, Any]) -> None:
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind is not None and kind != rtype.kind:
        raise errors.bad_request(f"the kind {kind!r} does not match the resource {rtype.qualified_plural}")
    if api_version is not None and api_version.rpartition("/")[0] != rtype.group:
        raise errors.bad_request(
            f"the apiVersion {api_version!r} does not match the group of {rtype.qualified_plural}"
        )


def _encode_secret(rtype: ResourceType, obj: dict[str, Any]) -> None:
    name = obj["metadata"]["name"]
    data = dict(obj.get("data") or {})
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as e:
            raise errors.invalid(rtype, name, f"data[{key}]: Invalid value: illegal base64 data") from e
    for key, value in (obj.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    obj["data"] = data
    obj.setdefault("type", "Opaque")


def _apply_kind_defaults(rtype: ResourceType, obj: dict[str, Any], *, creating: bool) -> None:
    metadata = obj["metadata"]
    if rtype.group == "" and rtype.plural == "secrets":
        _encode_secret(rtype, obj)
    elif rtype.group == "" and rtype.plural == "namespaces":
        metadata["labels"] = {
            **(metadata.get("labels") or {}),
            "kubernetes.io/metadata.name": metadata["name"],
        }
        if creating:
            obj["status"] = {"phase": "Active"}
    elif rtype.group == "apps" and rtype.plural == "deployments":
        obj.setdefault("spec", {}).setdefault("replicas", 1)
    elif rtype.group == "apiextensions.k8s.io" and creating:
        names = (obj.get("spec") or {}).get("names") or {}
        group = (obj.get("spec") or {}).get("group")
        if metadata["name"] != f"{names.get('plural')}.{group}":
            raise errors.invalid(
                rtype,
                metadata["name"],
                'metadata.name: Invalid value: must be spec.names.plural+"."+spec.group',
            )
        obj["status"] = {
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in obj["spec"].get("versions", []) if v.get("storage")],
            "conditions": [
                {
                    "type": cond,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": now_rfc3339(),
                }
                for cond, reason, message in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }


def prepare_create(
    rtype: ResourceType, body: Any, namespace: str | None, resource_version: int
) -> dict[str, Any]:
    """The object as stored after a POST, or an `ApiError` the real server would answer."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body of the request was in an unknown format")
    _check_identity(rtype, body)
    obj = copy.deepcopy(body)
    if rtype.has_status:
        obj.pop("status", None)
    metadata = obj.setdefault("metadata", {})
    if not metadata.get("name"):
        prefix = metadata.get("generateName")
        if not prefix:
            raise errors.invalid(rtype, "", "metadata.name: Required value: name or generateName is required")
        metadata["name"] = prefix + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
    check_name(rtype, str(metadata["name"]))
    if rtype.namespaced:
        body_namespace = metadata.get("namespace")
        if namespace and body_namespace and body_namespace != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        metadata["namespace"] = namespace or body_namespace or "default"
    else:
        metadata.pop("namespace", None)
    for server_set in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
        metadata.pop(server_set, None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = now_rfc3339()
    metadata["generation"] = 1
    metadata["resourceVersion"] = str(resource_version)
    obj["kind"] = rtype.kind
    obj["apiVersion"] = rtype.api_version
    _apply_kind_defaults(rtype, obj, creating=True)
    return obj


def prepare_update(
    rtype: ResourceType, old: dict[str, Any], new: Any, *, subresource: str | None, resource_version: int
) -> dict[str, Any]:
    """The object as stored after a PUT or PATCH produced `new` from `old`.

    Server-owned metadata is kept from `old`; with a status subresource, a main-resource write keeps
    the old status and a `/status` write changes nothing but the status.
    """
    if not isinstance(new, dict):
        raise errors.bad_request("the body of the request was in an unknown format")
    name = old["metadata"]["name"]
    _check_identity(rtype, new)
    if subresource == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = copy.deepcopy(new["status"])
        else:
            result.pop("status", None)
    else:
        result = copy.deepcopy(new)
        if rtype.has_status:
            if "status" in old:
                result["status"] = copy.deepcopy(old["status"])
            else:
                result.pop("status", None)
    metadata = result.setdefault("metadata", {})
    old_metadata = old["metadata"]
    for key in _IMMUTABLE_METADATA:
        if key in old_metadata:
            metadata[key] = old_metadata[key]
        else:
            metadata.pop(key, None)
    new_finalizers = set(metadata.get("finalizers") or ())
    if old_metadata.get("deletionTimestamp") and new_finalizers - set(old_metadata.get("finalizers") or ()):
        raise errors.invalid(
            rtype,
            name,
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
        )
    result["kind"] = rtype.kind
    result["apiVersion"] = rtype.api_version
    _apply_kind_defaults(rtype, result, creating=False)
    generation = int(old_metadata.get("generation", 1))
    if _spec_part(rtype, result) != _spec_part(rtype, old):
        generation += 1
    metadata["generation"] = generation
    metadata["resourceVersion"] = str(resource_version)
    return result


def unchanged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a write is a no-op, which the real server answers without a new resourceVersion."""

    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        meta = {
            k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "generation")
        }
        return {**obj, "metadata": meta}

    return strip(old) == strip(new)
