"""The resource types the emulator serves: built-in Kubernetes kinds and those added by CRDs.

Discovery, URL routing and object semantics (scope, status subresource) all read one catalogue, so a
CustomResourceDefinition POSTed to the emulator is served exactly like a built-in kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry of a CRD version, for `kubectl get` tables."""

    name: str
    type: str
    json_path: str
    priority: int = 0


@dataclass(frozen=True)
class ResourceType:
    """One served group/version/plural with everything needed to behave like the real API server."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    printer_columns: tuple[PrinterColumn, ...] = ()
    # JSON paths of the scale subresource: spec replicas, status replicas, status label selector
    scale_paths: tuple[str, str, str] = (".spec.replicas", ".status.replicas", "")

    @property
    def api_version(self) -> str:
        return self.version if not self.group else f"{self.group}/{self.version}"

    @property
    def qualified_plural(self) -> str:
        """`agents.oblivion.dev` or `secrets`: how the real server names the resource in messages."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _core(
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    return _builtin(
        "", "v1", plural, kind, namespaced=namespaced, short=short, status=status, categories=categories
    )


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    scale: bool = False,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    subresources = {"status"} if status else set()
    if scale:
        subresources.add("scale")
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        subresources=frozenset(subresources),
    )


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short=("ns",), status=True),
    _core("nodes", "Node", namespaced=False, short=("no",), status=True),
    _core("secrets", "Secret"),
    _core("configmaps", "ConfigMap", short=("cm",)),
    _core("serviceaccounts", "ServiceAccount", short=("sa",)),
    _core("events", "Event", short=("ev",)),
    _core("services", "Service", short=("svc",), status=True, categories=("all",)),
    _core("endpoints", "Endpoints", short=("ep",)),
    _core("pods", "Pod", short=("po",), status=True, categories=("all",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), status=True),
    _core("resourcequotas", "ResourceQuota", short=("quota",), status=True),
    _core("limitranges", "LimitRange", short=("limits",)),
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        status=True,
        scale=True,
        categories=("all",),
    ),
    _builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short=("sts",),
        status=True,
        scale=True,
        categories=("all",),
    ),
    _builtin(
        "apps", "v1", "replicasets", "ReplicaSet", short=("rs",), status=True, scale=True, categories=("all",)
    ),
    _builtin("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), status=True, categories=("all",)),
    _builtin("batch", "v1", "jobs", "Job", status=True, categories=("all",)),
    _builtin("batch", "v1", "cronjobs", "CronJob", short=("cj",), status=True, categories=("all",)),
    _builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    _builtin("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",), status=True),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _builtin(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        status=True,
    ),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    _builtin("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",), status=True),
)

CRD_RESOURCE = next(r for r in BUILTIN_RESOURCES if r.plural == "customresourcedefinitions")
NAMESPACE_RESOURCE = next(r for r in BUILTIN_RESOURCES if r.plural == "namespaces")


def _scale_paths(version: Mapping[str, Any]) -> tuple[str, str, str]:
    scale = (version.get("subresources") or {}).get("scale") or {}
    return (
        scale.get("specReplicasPath", ".spec.replicas"),
        scale.get("statusReplicasPath", ".status.replicas"),
        scale.get("labelSelectorPath", ""),
    )


def resource_types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """Every served version of a CustomResourceDefinition object, as resource types."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result: list[ResourceType] = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = frozenset((version.get("subresources") or {}).keys())
        columns = tuple(
            PrinterColumn(
                name=col["name"],
                type=col.get("type", "string"),
                json_path=col["jsonPath"],
                priority=int(col.get("priority", 0)),
            )
            for col in version.get("additionalPrinterColumns") or []
        )
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", ""),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subresources,
                printer_columns=columns,
                scale_paths=_scale_paths(version),
            )
        )
    return result


@dataclass
class ResourceCatalogue:
    """The mutable set of served resource types, looked up by (group, version, plural)."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> ResourceCatalogue:
        catalogue = cls()
        for rtype in BUILTIN_RESOURCES:
            catalogue.add(rtype)
        return catalogue

    def add(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def remove(self, group: str, plural: str) -> list[ResourceType]:
        gone = [r for r in self._types.values() if r.group == group and r.plural == plural]
        for rtype in gone:
            del self._types[(rtype.group, rtype.version, rtype.plural)]
        return gone

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def find_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for rtype in self._types.values():
            if rtype.group == group and rtype.version == version and rtype.kind == kind:
                return rtype
        return None

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self._types.values() if r.group == group and r.version == version]

    def group_versions(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for rtype in self._types.values():
            versions = groups.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return groups

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def extend(self, types: Iterable[ResourceType]) -> None:
        for rtype in types:
            self.add(rtype)
