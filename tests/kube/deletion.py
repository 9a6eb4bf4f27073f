"""Deletion as the API server and its controllers perform it: finalizers, garbage collection of
dependents by ownerReferences (background propagation, or orphaning), namespace termination, and the
removal of a CRD's objects with it. Mixed into `ObjectStore`, on whose state it works.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import Any

from tests.kube import admission
from tests.kube.resources import CRD_RESOURCE, NAMESPACE_RESOURCE, ResourceCatalogue, ResourceType
from tests.kube.schemas import StructuralSchema
from tests.kube.watching import ChangeLog, WatchEvent

ObjectKey = tuple[str, str]  # (namespace or "", name)
ObjectRef = tuple[str, str, str, str]  # (group, plural, namespace or "", name)


def owner_uids(obj: dict[str, Any]) -> set[str]:
    return {ref["uid"] for ref in obj["metadata"].get("ownerReferences") or () if ref.get("uid")}


class Deletion:
    """The deleting half of the object store."""

    catalogue: ResourceCatalogue
    resource_version: int
    changes: ChangeLog
    schemas: dict[tuple[str, str, str], StructuralSchema]
    _objects: collections.defaultdict[tuple[str, str], dict[ObjectKey, dict[str, Any]]]
    _dependents: collections.defaultdict[str, set[ObjectRef]]

    def _key(self, rtype: ResourceType, namespace: str | None, name: str) -> ObjectKey:
        return (namespace or "") if rtype.namespaced else "", name

    def _store(self, rtype: ResourceType, obj: dict[str, Any], event_type: str) -> None:
        raise NotImplementedError  # provided by ObjectStore

    def _delete_object(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        if rtype == NAMESPACE_RESOURCE:
            return self._terminate_namespace(obj)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj
            marked = {
                **obj,
                "metadata": {
                    **meta,
                    "deletionTimestamp": admission.now_rfc3339(),
                    "deletionGracePeriodSeconds": 0,
                },
            }
            self._store(rtype, marked, "MODIFIED")
            return marked
        return self._remove(rtype, obj)

    def _remove(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        bucket = self._objects[(rtype.group, rtype.plural)]
        if bucket.get(key) is not obj:
            return obj
        del bucket[key]
        for uid in owner_uids(obj):
            self._dependents[uid].discard((rtype.group, rtype.plural, key[0], key[1]))
        self.resource_version += 1
        gone = {**obj, "metadata": {**meta, "resourceVersion": str(self.resource_version)}}
        self.changes.publish(WatchEvent(self.resource_version, "DELETED", rtype.group, rtype.plural, gone))
        self._collect_dependents(meta["uid"])
        if rtype == CRD_RESOURCE:
            self._drop_crd(obj)
        if rtype.namespaced:
            self._finish_namespace(key[0])
        return gone

    def _collect_dependents(self, owner_uid: str) -> None:
        for group, plural, namespace, name in sorted(self._dependents.pop(owner_uid, set())):
            rtype = next((r for r in self.catalogue if r.group == group and r.plural == plural), None)
            dependent = self._objects[(group, plural)].get((namespace, name))
            if rtype is None or dependent is None:
                continue
            remaining = [
                ref
                for ref in dependent["metadata"].get("ownerReferences") or ()
                if ref.get("uid") != owner_uid
            ]
            if remaining and any(self._uid_exists(ref.get("uid")) for ref in remaining):
                continue
            self._delete_object(rtype, dependent)

    def _uid_exists(self, uid: str | None) -> bool:
        return any(obj["metadata"].get("uid") == uid for obj in self._iter_objects())

    def _orphan_dependents(self, owner_uid: str) -> None:
        for group, plural, namespace, name in sorted(self._dependents.pop(owner_uid, set())):
            rtype = next((r for r in self.catalogue if r.group == group and r.plural == plural), None)
            dependent = self._objects[(group, plural)].get((namespace, name))
            if rtype is None or dependent is None:
                continue
            refs = [
                ref
                for ref in dependent["metadata"].get("ownerReferences") or ()
                if ref.get("uid") != owner_uid
            ]
            orphaned = {**dependent, "metadata": {**dependent["metadata"], "ownerReferences": refs}}
            self._store(rtype, orphaned, "MODIFIED")

    def _terminate_namespace(self, ns: dict[str, Any]) -> dict[str, Any]:
        name = ns["metadata"]["name"]
        if not ns["metadata"].get("deletionTimestamp"):
            ns = {
                **ns,
                "metadata": {**ns["metadata"], "deletionTimestamp": admission.now_rfc3339()},
                "status": {"phase": "Terminating"},
            }
            self._store(NAMESPACE_RESOURCE, ns, "MODIFIED")
        for rtype in list(self.catalogue):
            if not rtype.namespaced:
                continue
            bucket = self._objects[(rtype.group, rtype.plural)]
            for key in [k for k in bucket if k[0] == name]:
                if key in bucket:
                    self._delete_object(rtype, bucket[key])
        self._finish_namespace(name)
        return self._objects[("", "namespaces")].get(("", name), ns)

    def _finish_namespace(self, name: str) -> None:
        ns = self._objects[("", "namespaces")].get(("", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp") or ns["metadata"].get("finalizers"):
            return
        for (group, plural), bucket in self._objects.items():
            if (group, plural) != ("", "namespaces") and any(k[0] == name for k in bucket):
                return
        self._remove(NAMESPACE_RESOURCE, ns)

    def _drop_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        plural = (spec.get("names") or {}).get("plural", "")
        removed = self.catalogue.remove(spec.get("group", ""), plural)
        for rtype in removed:
            self.schemas.pop((rtype.group, rtype.version, rtype.plural), None)
        for rtype in removed[:1]:
            bucket = self._objects[(rtype.group, rtype.plural)]
            for obj in list(bucket.values()):
                self._remove(rtype, obj)

    def _iter_objects(self) -> Iterator[dict[str, Any]]:
        for bucket in self._objects.values():
            yield from bucket.values()
