"""The three PATCH dialects of the Kubernetes API: JSON merge-patch, JSON patch and strategic merge.

kopf writes with merge-patch and guards its finalizer edits with a JSON-patch `test` of
`metadata.resourceVersion`; kubectl and the official client use strategic merge for built-in kinds.
Strategic merge is approximated: maps merge, lists of maps that carry a merge key (`name`, `type`,
`containerPort`...) merge item by item, other lists are replaced, and `$patch: delete` removes an item.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from tests.kube.errors import EmulatorError

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Merge keys of the built-in kinds the operator writes (Deployment pods, NetworkPolicy, conditions).
_MERGE_KEYS = ("name", "type", "containerPort", "port", "mountPath", "devicePath", "ip")
# Lists of scalars that strategic merge unions instead of replacing (k8s `patchStrategy:merge`).
_UNION_LISTS = frozenset({"finalizers"})


class PatchError(EmulatorError, ValueError):
    """A patch that cannot be applied; `test_failed` marks a failed JSON-patch `test` op (HTTP 422)."""

    def __init__(self, message: str, *, test_failed: bool = False) -> None:
        super().__init__(message)
        self.test_failed = test_failed


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, `null` deletes a key, everything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 operations; a failing `test` raises `PatchError(test_failed=True)`."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(copy.deepcopy(target))
    except jsonpatch.JsonPatchTestFailed as e:
        raise PatchError(
            f"the server rejected our request due to an error in our request: {e}", test_failed=True
        ) from e
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, TypeError) as e:
        raise PatchError(f"the server rejected our request due to an error in our request: {e}") from e


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in _MERGE_KEYS:
        if all(key in item for item in items):
            return key
    return None


def strategic_merge_patch(target: Any, patch: Any, *, field_name: str = "") -> Any:
    """An approximation of Kubernetes' strategic merge patch, enough for the built-in kinds."""
    if isinstance(patch, Mapping):
        result = dict(target) if isinstance(target, Mapping) else {}
        for key, value in patch.items():
            if key.startswith("$"):
                continue
            if value is None:
                result.pop(key, None)
            else:
                result[key] = strategic_merge_patch(result.get(key), value, field_name=key)
        return result
    if isinstance(patch, list) and isinstance(target, list):
        if field_name in _UNION_LISTS:
            return list(target) + [item for item in patch if item not in target]
        key = _merge_key(patch) or _merge_key(target)
        if key is not None and all(isinstance(item, Mapping) for item in target + patch):
            merged = [dict(item) for item in target]
            for item in patch:
                index = next((i for i, old in enumerate(merged) if old.get(key) == item.get(key)), None)
                if item.get("$patch") == "delete":
                    if index is not None:
                        merged.pop(index)
                elif index is None:
                    merged.append(strategic_merge_patch({}, item))
                else:
                    merged[index] = strategic_merge_patch(merged[index], item)
            return merged
    return copy.deepcopy(patch)
