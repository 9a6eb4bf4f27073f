"""The emulator's object store: every object, the resourceVersion clock, and the change log for watches.

All methods are synchronous and run on the emulator's event loop, so each write is atomic as in etcd:
it validates, stores, bumps the single resourceVersion counter and publishes one watch event. Deletion
honours finalizers, cascades to dependents by ownerReferences (background garbage collection), empties
terminating namespaces, and a deleted CRD takes its objects with it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from tests.kube import admission, builtin_schemas, errors, patching, semantics
from tests.kube.deletion import Deletion, ObjectRef, owner_uids
from tests.kube.resources import (
    CRD_RESOURCE,
    ResourceCatalogue,
    ResourceType,
    resource_types_from_crd,
)
from tests.kube.schemas import schemas_from_crd
from tests.kube.selectors import Matcher
from tests.kube.watching import ChangeLog, Subscription, WatchEvent

logger = logging.getLogger(__name__)

StoreKey = tuple[str, str]  # (group, plural): all versions of a resource share one storage


class ObjectStore(Deletion):
    """In-memory etcd plus the API server's write semantics, for one emulator."""

    def __init__(self, catalogue: ResourceCatalogue) -> None:
        self.catalogue = catalogue
        self.resource_version = 0
        self._objects = collections.defaultdict(dict)
        self._dependents = collections.defaultdict(set)
        self.changes = ChangeLog()
        self.schemas = {}
        self.controllers: list[asyncio.Task[None]] = []  # emulated controllers (e.g. the kubelet)

    # Reading

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[(rtype.group, rtype.plural)].get(self._key(rtype, namespace, name))
        if obj is None:
            raise errors.not_found(rtype, name)
        return self._as_version(rtype, obj)

    def list_objects(
        self, rtype: ResourceType, namespace: str | None, matcher: Matcher
    ) -> list[dict[str, Any]]:
        bucket = self._objects[(rtype.group, rtype.plural)]
        keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
        return [self._as_version(rtype, bucket[k]) for k in keys if matcher(bucket[k])]

    def count(self) -> int:
        return sum(len(bucket) for bucket in self._objects.values())

    def namespace_exists(self, namespace: str) -> bool:
        return ("", namespace) in self._objects[("", "namespaces")]

    # Writing

    def create(
        self, rtype: ResourceType, namespace: str | None, body: Any, *, validate: bool = True
    ) -> dict[str, Any]:
        obj = admission.prepare_create(rtype, body, namespace, self.resource_version + 1)
        obj = self._admit(rtype, obj, validate=validate)
        meta = obj["metadata"]
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        if key in self._objects[(rtype.group, rtype.plural)]:
            raise errors.already_exists(rtype, meta["name"])
        if rtype.namespaced:
            ns = self._objects[("", "namespaces")].get(("", meta["namespace"]))
            if ns is None:
                raise errors.ApiError(
                    404,
                    "NotFound",
                    f'namespaces "{meta["namespace"]}" not found',
                    {"name": meta["namespace"], "kind": "namespaces"},
                )
            if ns["metadata"].get("deletionTimestamp"):
                raise errors.ApiError(
                    403,
                    "Forbidden",
                    f'{rtype.qualified_plural} "{meta["name"]}" is forbidden: unable to '
                    f"create new content in namespace {meta['namespace']} because it is being terminated",
                )
        if rtype == CRD_RESOURCE:
            self._check_crd_names(obj)
        self._store(rtype, obj, "ADDED")
        if rtype == CRD_RESOURCE:
            self._serve_crd(obj)
        return self._as_version(rtype, obj)

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None,
        *,
        validate: bool = True,
    ) -> dict[str, Any]:
        old = self._stored(rtype, namespace, name)
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was in an unknown format")
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise errors.bad_request("the name of the object does not match the name on the URL")
        expected = body_meta.get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rtype, name)
        return self._write(rtype, old, body, subresource, validate=validate)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None,
        *,
        validate: bool = True,
    ) -> dict[str, Any]:
        old = self._stored(rtype, namespace, name)
        current = self._as_version(rtype, old)
        try:
            if content_type == patching.JSON_PATCH:
                new = patching.json_patch(current, patch)
            elif content_type == patching.STRATEGIC_MERGE_PATCH:
                if rtype.group not in _BUILTIN_GROUPS:
                    raise errors.ApiError(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media "
                        "types include: application/json-patch+json, "
                        "application/merge-patch+json, application/apply-patch+yaml",
                    )
                new = patching.strategic_merge_patch(current, patch)
            else:
                if not isinstance(patch, dict):
                    raise errors.bad_request("a merge patch must be a JSON object")
                new = patching.merge_patch(current, patch)
        except patching.PatchError as e:
            if e.test_failed:
                raise errors.invalid(rtype, name, str(e)) from e
            raise errors.bad_request(str(e)) from e
        if isinstance(patch, dict):
            expected = (patch.get("metadata") or {}).get("resourceVersion")
            if expected and expected != old["metadata"]["resourceVersion"]:
                raise errors.conflict(rtype, name)
        return self._write(rtype, old, new, subresource, validate=validate)

    def delete(
        self, rtype: ResourceType, namespace: str | None, name: str, options: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        old = self._stored(rtype, namespace, name)
        options = options or {}
        preconditions = options.get("preconditions") or {}
        for field_name in ("uid", "resourceVersion"):
            if preconditions.get(field_name) and preconditions[field_name] != old["metadata"].get(field_name):
                raise errors.conflict(rtype, name)
        if options.get("propagationPolicy") == "Orphan":
            self._orphan_dependents(old["metadata"]["uid"])
        result = self._delete_object(rtype, old)
        return self._as_version(rtype, result)

    # Watching

    def subscribe(
        self, rtype: ResourceType, namespace: str | None, matcher: Matcher, since: str | None
    ) -> tuple[Subscription, list[WatchEvent]]:
        """A live subscription plus the events that precede it: all objects, or the log after `since`."""
        subscription = Subscription(rtype, namespace, matcher)
        if since in (None, "", "0"):
            backlog = [
                WatchEvent(int(obj["metadata"]["resourceVersion"]), "ADDED", rtype.group, rtype.plural, obj)
                for obj in self.list_objects(rtype, namespace, matcher)
            ]
            self.changes.add(subscription)
            return subscription, backlog
        try:
            start = int(since or 0)
        except ValueError:
            raise errors.bad_request(f"invalid resourceVersion {since!r}") from None
        return subscription, self.changes.subscribe(subscription, start)

    def as_version(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        return self._as_version(rtype, obj)

    # Internals

    def _stored(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[(rtype.group, rtype.plural)].get(self._key(rtype, namespace, name))
        if obj is None:
            raise errors.not_found(rtype, name)
        return obj

    def _as_version(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if obj.get("apiVersion") == rtype.api_version:
            return obj
        return {**obj, "apiVersion": rtype.api_version}

    def _write(
        self, rtype: ResourceType, old: dict[str, Any], new: Any, subresource: str | None, *, validate: bool
    ) -> dict[str, Any]:
        if subresource not in (None, "status"):
            raise errors.no_such_path(f"{rtype.qualified_plural}/{subresource}")
        if subresource == "status" and not rtype.has_status:
            raise errors.no_such_path(f"{rtype.qualified_plural}/status")
        obj = admission.prepare_update(
            rtype, old, new, subresource=subresource, resource_version=self.resource_version + 1
        )
        obj = self._admit(rtype, obj, validate=validate, old=old)
        if admission.unchanged(old, obj):
            return self._as_version(rtype, old)
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._store(rtype, obj, "MODIFIED")
            self._remove(rtype, obj)
        else:
            self._store(rtype, obj, "MODIFIED")
            if rtype == CRD_RESOURCE:
                self._serve_crd(obj)
        return self._as_version(rtype, obj)

    def _admit(
        self, rtype: ResourceType, obj: dict[str, Any], *, validate: bool, old: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Apply the resource's schema: for CRDs defaults and pruning always, validation when asked;
        built-in kinds are validated against Kubernetes' own schemas when asked."""
        schema = self.schemas.get((rtype.group, rtype.version, rtype.plural))
        if validate:
            found = semantics.problems(rtype, obj, old)
            if found:
                raise errors.invalid(rtype, obj["metadata"].get("name", ""), ", ".join(found))
        if schema is None:
            found = builtin_schemas.problems(obj, old) if validate and rtype.group in _BUILTIN_GROUPS else []
            if found:
                raise errors.invalid(rtype, obj["metadata"].get("name", ""), ", ".join(found))
            return obj
        admitted, problems = schema.admit(obj, validate=validate, old=old)
        if problems:
            raise errors.invalid(rtype, obj["metadata"].get("name", ""), ", ".join(problems))
        return admitted

    def _serve_crd(self, crd: dict[str, Any]) -> None:
        self.catalogue.extend(resource_types_from_crd(crd))
        self.schemas.update(schemas_from_crd(crd))

    def _store(self, rtype: ResourceType, obj: dict[str, Any], event_type: str) -> None:
        meta = obj["metadata"]
        key = self._key(rtype, meta.get("namespace"), meta["name"])
        bucket = self._objects[(rtype.group, rtype.plural)]
        ref: ObjectRef = (rtype.group, rtype.plural, key[0], key[1])
        previous = bucket.get(key)
        if previous is not None:
            for uid in owner_uids(previous):
                self._dependents[uid].discard(ref)
        for uid in owner_uids(obj):
            self._dependents[uid].add(ref)
        self.resource_version += 1
        meta["resourceVersion"] = str(self.resource_version)
        bucket[key] = obj
        self.changes.publish(
            WatchEvent(self.resource_version, event_type, rtype.group, rtype.plural, obj, previous)
        )

    def _check_crd_names(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        for field_name in ("group", "names", "versions", "scope"):
            if not spec.get(field_name):
                raise errors.invalid(
                    CRD_RESOURCE, crd["metadata"]["name"], f"spec.{field_name}: Required value"
                )


_BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "coordination.k8s.io",
        "events.k8s.io",
        "policy",
    }
)
