"""Discovery documents (`/api`, `/apis`, `/apis/g/v`, `/version`) rendered from the live catalogue.

kopf scans discovery to find its resources and their `status` subresource, kubectl resolves short
names and categories (`kubectl get wg`) through it; both read these exact shapes.
"""

from __future__ import annotations

from typing import Any

from tests.kube import errors
from tests.kube.resources import ALL_VERBS, ResourceCatalogue

KUBERNETES_VERSION = ("1", "33", "v1.33.0")


def server_version() -> dict[str, Any]:
    major, minor, git_version = KUBERNETES_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "oblivion-emulator",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def root_paths(catalogue: ResourceCatalogue) -> dict[str, Any]:
    paths = {"/api", "/api/v1", "/apis", "/version"}
    for group, versions in catalogue.group_versions().items():
        if group:
            paths.add(f"/apis/{group}")
            paths.update(f"/apis/{group}/{version}" for version in versions)
    return {"paths": sorted(paths)}


def core_versions(host: str, port: int | None) -> dict[str, Any]:
    address = f"{host}:{port}" if port else host
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def _group_document(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def group_list(catalogue: ResourceCatalogue) -> dict[str, Any]:
    groups = [
        _group_document(group, versions)
        for group, versions in sorted(catalogue.group_versions().items())
        if group
    ]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(catalogue: ResourceCatalogue, name: str) -> dict[str, Any]:
    versions = catalogue.group_versions().get(name)
    if not name or not versions:
        raise errors.no_such_path(f"/apis/{name}")
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_document(name, versions)}


def resource_list(catalogue: ResourceCatalogue, group: str, version: str) -> dict[str, Any]:
    types = catalogue.in_group_version(group, version)
    if not types:
        raise errors.no_such_path(f"/apis/{group}/{version}" if group else f"/api/{version}")
    resources: list[dict[str, Any]] = []
    for rtype in sorted(types, key=lambda r: r.plural):
        entry: dict[str, Any] = {
            "name": rtype.plural,
            "singularName": rtype.singular_name,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(ALL_VERBS),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        resources.append(entry)
        for subresource in sorted(rtype.subresources):
            resources.append(
                {
                    "name": f"{rtype.plural}/{subresource}",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def openapi_v2() -> dict[str, Any]:
    """An empty OpenAPI v2 document: kubectl's client-side validation downloads it and, finding no
    schema for a kind, lets the object through (the emulator does not validate against CRD schemas)."""
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION[2]},
        "paths": {},
        "definitions": {},
    }
