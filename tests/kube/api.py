"""`KubeApi`: what a test holds — the emulator's URL and kubeconfig, plus direct access to its objects.

Tests arrange state and assert outcomes here without going through HTTP (and without counting as
client requests), address resources the way kubectl does (`"deployments.apps"`, `"agents"`, `"wg"`,
`"apps/v1/deployments"`), and wait for conditions with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import kmock
import yaml

from tests.kube import errors, kubelet, patching
from tests.kube.resources import ResourceType
from tests.kube.selectors import object_matcher
from tests.kube.server import EmulatorServer

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CRDS_DIR = REPO_ROOT / "crds"
KOPF_PEERING_CRDS = pathlib.Path(__file__).with_name("kopf_peering_crds.yaml")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class WaitTimeout(errors.EmulatorError, AssertionError):
    """A condition a test waited for did not come true before the deadline."""


def write_kubeconfig(path: pathlib.Path, url: str, *, namespace: str = "default") -> pathlib.Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
        "contexts": [
            {
                "name": "emulator",
                "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
            }
        ],
        "current-context": "emulator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class KubeApi:
    """A running emulator as a test sees it. All methods are synchronous and thread-safe."""

    def __init__(self, server: EmulatorServer, kubeconfig_path: pathlib.Path) -> None:
        self.server = server
        self.kubeconfig_path = kubeconfig_path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def emulator(self) -> kmock.KubernetesScaffold:
        """The KMock handler (its request log and reactions); inject faults with `inject_fault`."""
        return self.server.emulator

    @property
    def resource_version(self) -> str:
        """The cluster's current resourceVersion, e.g. to watch only what happens from now on."""
        return str(self.server.call(lambda: self.server.emulator.store.resource_version))

    # Addressing

    def resource(self, ref: str) -> ResourceType:
        """Resolve `"secrets"`, `"deployments.apps"`, `"apps/v1/deployments"`, `"wg"`, `"Agent"`."""

        def find() -> ResourceType:
            for rtype in self.server.emulator.catalogue:
                names = {
                    rtype.plural,
                    rtype.qualified_plural,
                    f"{rtype.api_version}/{rtype.plural}",
                    rtype.kind,
                    rtype.kind.lower(),
                    rtype.singular_name,
                    *rtype.short_names,
                }
                if ref in names:
                    return rtype
            raise LookupError(f"the emulator serves no resource called {ref!r}")

        return self.server.call(find)

    def _resource_of(self, obj: dict[str, Any]) -> ResourceType:
        def find() -> ResourceType:
            rtype = self.server.emulator.catalogue.find_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
            if rtype is None:
                raise LookupError(f"the emulator serves no {obj.get('apiVersion')} {obj.get('kind')}")
            return rtype

        return self.server.call(find)

    # Reading

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        rtype = self.resource(resource)
        return copy.deepcopy(self.server.call(lambda: self.server.emulator.store.get(rtype, namespace, name)))

    def find(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Like `get`, but None when the object does not exist."""
        try:
            return self.get(resource, name, namespace)
        except errors.ApiError as e:
            if e.code == 404:
                return None
            raise

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        *,
        labels: str | None = None,
        fields: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        rtype = self.resource(resource)
        matcher = object_matcher(labels, fields)
        return copy.deepcopy(
            self.server.call(lambda: self.server.emulator.store.list_objects(rtype, namespace, matcher))
        )

    # Writing: the same semantics and watch events as a client's write. CRD schemas default and prune
    # these objects too, but validate them only with `validate=True`: a test may arrange a state the
    # API would refuse (an invalid spec the operator must report).

    def create(
        self, obj: dict[str, Any], namespace: str | None = None, *, validate: bool = False
    ) -> dict[str, Any]:
        rtype = self._resource_of(obj)
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        store = self.server.emulator.store
        return copy.deepcopy(self.server.call(lambda: store.create(rtype, ns, obj, validate=validate)))

    def apply(self, obj: dict[str, Any], *, validate: bool = False) -> dict[str, Any]:
        """Create the object, or merge-patch it when it exists (like `kubectl apply` of one object)."""
        meta = obj.get("metadata") or {}
        rtype = self._resource_of(obj)
        existing = self.find(rtype.qualified_plural, meta["name"], meta.get("namespace"))
        if existing is None:
            return self.create(obj, validate=validate)
        return self.patch(
            rtype.qualified_plural, meta["name"], obj, namespace=meta.get("namespace"), validate=validate
        )

    def apply_file(
        self, path: pathlib.Path | str, *, validate: bool = False
    ) -> builtins.list[dict[str, Any]]:
        """Apply every document of a YAML file; returns the stored objects."""
        docs = [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
        return [self.apply(doc, validate=validate) for doc in docs]

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any] | builtins.list[Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        content_type: str = patching.MERGE_PATCH,
        validate: bool = False,
    ) -> dict[str, Any]:
        rtype = self.resource(resource)
        store = self.server.emulator.store
        return copy.deepcopy(
            self.server.call(
                lambda: store.patch(
                    rtype, namespace, name, content_type, patch, subresource, validate=validate
                )
            )
        )

    def delete(
        self, resource: str, name: str, namespace: str | None = None, *, propagation: str | None = None
    ) -> dict[str, Any]:
        rtype = self.resource(resource)
        options = {"propagationPolicy": propagation} if propagation else {}
        store = self.server.emulator.store
        return copy.deepcopy(self.server.call(lambda: store.delete(rtype, namespace, name, options)))

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return self.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {})},
            }
        )

    def register_crds(self, paths: Iterable[pathlib.Path | str] | None = None) -> builtins.list[str]:
        """POST CustomResourceDefinitions (default: every file in the repo's `crds/`); returns their names."""
        files = [pathlib.Path(p) for p in paths] if paths is not None else sorted(CRDS_DIR.glob("*.yaml"))
        if not files:
            raise FileNotFoundError(f"no CRD files found in {CRDS_DIR}")
        names: builtins.list[str] = []
        for file in files:
            for doc in yaml.safe_load_all(file.read_text()):
                if doc and doc.get("kind") == "CustomResourceDefinition":
                    names.append(self.apply(doc)["metadata"]["name"])
        return names

    def register_kopf_peering_crds(self) -> builtins.list[str]:
        """kopf's own KopfPeering/ClusterKopfPeering CRDs, for operators run with peering enabled."""
        return self.register_crds([KOPF_PEERING_CRDS])

    # Controllers the emulator does not run by itself

    def mark_deployment_ready(self, name: str, namespace: str) -> dict[str, Any]:
        """Set a Deployment's status as the deployment controller and kubelets would when pods are Ready."""
        return copy.deepcopy(
            self.server.call(lambda: kubelet.mark_ready(self.server.emulator.store, name, namespace))
        )

    def start_kubelet(self) -> None:
        """From now on, every Deployment becomes Ready as soon as it is created or changed."""
        self.server.call(lambda: kubelet.start(self.server.emulator.store))

    # Faults

    def inject_fault(
        self,
        *criteria: Any,
        status: int = 500,
        reason: str = "InternalError",
        message: str = "injected by the test",
        times: int | None = None,
    ) -> None:
        """Fail matching requests with a Status error: `inject_fault("patch", kmock.resource("v1/secrets"),
        status=503, times=2)`. Criteria are KMock's (methods, resources, names, namespaces, paths)."""
        self.server.call(
            lambda: self.server.emulator.inject_fault(
                *criteria, status=status, reason=reason, message=message, times=times
            )
        )

    def clear_faults(self) -> None:
        self.server.call(self.server.emulator.clear_faults)

    def compact(self, up_to: int | None = None) -> None:
        """Forget watch history up to a resourceVersion (default: now), so older watches get 410."""
        store = self.server.emulator.store
        self.server.call(lambda: store.changes.compact(store.resource_version if up_to is None else up_to))

    # Observation

    @property
    def requests(self) -> builtins.list[kmock.Request]:
        """Every HTTP request the emulator received so far (KMock's request log), oldest first."""
        return self.server.call(lambda: builtins.list(self.server.emulator))

    def request_count(self, method: str | None = None) -> int:
        def count() -> int:
            log = builtins.list(self.server.emulator)
            return len(log) if method is None else sum(1 for r in log if r.method.value == method.upper())

        return self.server.call(count)

    def wait_for(
        self,
        condition: Callable[[], Any],
        *,
        timeout: float = 10.0,
        interval: float = 0.02,
        message: str = "condition",
    ) -> Any:
        """Poll `condition` until it returns something truthy and return that; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = condition()
            if last:
                return last
            time.sleep(interval)
        raise WaitTimeout(f"{message} was not met within {timeout} s (last value: {last!r})")

    async def wait_for_async(
        self,
        condition: Callable[[], Any],
        *,
        timeout: float = 10.0,
        interval: float = 0.02,
        message: str = "condition",
    ) -> Any:
        """`wait_for` for async tests: polls without blocking the test's event loop between checks."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = condition()
            if last:
                return last
            await asyncio.sleep(interval)
        raise WaitTimeout(f"{message} was not met within {timeout} s (last value: {last!r})")

    def wait_for_object(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        *,
        condition: Callable[[dict[str, Any]], Any] = bool,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Wait until the object exists and `condition(obj)` holds; returns the object."""

        def check() -> dict[str, Any] | None:
            obj = self.find(resource, name, namespace)
            return obj if obj is not None and condition(obj) else None

        result: dict[str, Any] = self.wait_for(
            check, timeout=timeout, message=f"{resource} {namespace}/{name}"
        )
        return result

    def wait_for_deletion(
        self, resource: str, name: str, namespace: str | None = None, *, timeout: float = 10.0
    ) -> None:
        self.wait_for(
            lambda: self.find(resource, name, namespace) is None,
            timeout=timeout,
            message=f"deletion of {resource} {namespace}/{name}",
        )


@contextlib.contextmanager
def serve_kube_api(workdir: pathlib.Path, *, bookmark_interval: float = 5.0) -> Iterator[KubeApi]:
    """Start an emulator with the default namespaces and a kubeconfig in `workdir`; stop it afterwards."""
    server = EmulatorServer(bookmark_interval=bookmark_interval).start()
    try:
        api = KubeApi(server, write_kubeconfig(workdir / "kubeconfig", server.url))
        for namespace in DEFAULT_NAMESPACES:
            api.create_namespace(namespace)
        yield api
    finally:
        server.stop()
