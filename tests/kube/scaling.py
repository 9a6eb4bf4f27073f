"""The `/scale` subresource: `kubectl scale` and autoscalers read and write replicas through it.

The Scale object (`autoscaling/v1`) is a view on the scaled object: its spec replicas live at the
CRD's `specReplicasPath` (`.spec.replicas` for Deployments), so writing a Scale is a patch of that path.
"""

from __future__ import annotations

from typing import Any

from tests.kube import errors, patching
from tests.kube.resources import ResourceType


def _parts(path: str) -> list[str]:
    return [part for part in path.strip().lstrip(".").split(".") if part]


def _read(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in _parts(path):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def scale_view(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    if "scale" not in rtype.subresources:
        raise errors.no_such_path(f"{rtype.qualified_plural}/scale")
    spec_path, status_path, selector_path = rtype.scale_paths
    meta = obj["metadata"]
    status: dict[str, Any] = {"replicas": _read(obj, status_path) or 0}
    if selector_path and _read(obj, selector_path):
        status["selector"] = _read(obj, selector_path)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": _read(obj, spec_path) or 0},
        "status": status,
    }


def replicas_patch(
    rtype: ResourceType, current_scale: dict[str, Any], content_type: str | None, body: Any
) -> dict[str, Any]:
    """The merge patch of the scaled object that a PUT or PATCH of its Scale amounts to."""
    if content_type is None:
        scale = body
    elif content_type == patching.JSON_PATCH:
        scale = patching.json_patch(current_scale, body)
    else:
        scale = patching.merge_patch(current_scale, body)
    replicas = (scale.get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
    if not isinstance(replicas, int) or replicas < 0:
        raise errors.invalid(
            rtype,
            current_scale["metadata"]["name"],
            f"spec.replicas: Invalid value: {replicas!r}: must be a non-negative integer",
        )
    patch: dict[str, Any] = {}
    node = patch
    parts = _parts(rtype.scale_paths[0])
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = replicas
    return patch
