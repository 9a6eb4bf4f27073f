"""`Cluster`: what a test holds of the real control plane — its kubeconfigs and a small admin client.

Tests arrange state and assert outcomes through the API as the cluster's admin, address resources the
way kubectl does (``"deployments.apps"``, ``"agents"``, ``"secrets"``), and wait for conditions with a
deadline instead of sleeping. The operator under test never uses this client: it logs in as its own
ServiceAccount (``operator_connection``), bound to ``operator/deploy/clusterrole.yaml`` and nothing
more, so a missing or superfluous RBAC verb shows up as a failing test.

No kubelet runs: ``mark_deployment_ready`` does what one would, marking a Deployment's Pods Ready so the
real ReplicaSet and Deployment controllers report ``readyReplicas``.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import copy
import datetime
import pathlib
import ssl
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import kopf
import yaml

from tests.controlplane.audit import AuditLog
from tests.tools.k8s_binaries import kubectl_path

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# Namespaces the control plane makes itself, and the one the operator's ServiceAccount lives in:
# `reset` keeps them.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
OPERATOR_NAMESPACE = "oblivion-system"
OPERATOR_SERVICE_ACCOUNT = "oblivion-operator"
# How long a request is retried while the server answers 429 (it names a delay of about a second).
RETRY_DEADLINE_SECONDS = 30.0


class ApiError(AssertionError):
    """The API server refused a request; ``status``, ``reason`` and ``message`` are its Status."""

    def __init__(
        self, status: int, reason: str, message: str, causes: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = causes or []


class WaitTimeout(AssertionError):
    """A condition a test waited for did not come true before the deadline."""


@dataclass(frozen=True)
class Resource:
    """One served resource, as discovery describes it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = (
            f"{root}/namespaces/{namespace}/{self.plural}"
            if self.namespaced and namespace
            else f"{root}/{self.plural}"
        )
        if name:
            path += f"/{name}"
        if subresource:
            path += f"/{subresource}"
        return path


def _read_kubeconfig(path: pathlib.Path) -> tuple[str, bytes, str]:
    config = yaml.safe_load(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    return cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), user["token"]


def write_kubeconfig(path: pathlib.Path, server: str, ca_data: bytes, token: str, user: str) -> pathlib.Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "controlplane",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_data).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "controlplane", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


class Cluster:
    """The running control plane as a test sees it, through its admin. Synchronous and thread-safe."""

    def __init__(self, kubeconfig_path: pathlib.Path) -> None:
        self.kubeconfig_path = kubeconfig_path
        self.url, self.ca_data, self.admin_token = _read_kubeconfig(kubeconfig_path)
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_token}", "Accept": "application/json"},
            verify=self.ssl_context(),
            timeout=30,
        )
        self._resources: dict[str, Resource] = {}
        self.operator_kubeconfig_path: pathlib.Path | None = None
        self._operator_token: str | None = None
        self.audit: AuditLog | None = None  # the operator's requests, when the fixture audits them

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the API server's certificate against the cluster's CA (for other HTTP clients)."""
        return ssl.create_default_context(cadata=self.ca_data.decode())

    def close(self) -> None:
        self._http.close()

    # Discovery

    def _discover(self) -> None:
        found: dict[str, Resource] = {}
        group_versions = [("", "v1")]
        for group in self._request("GET", "/apis")["groups"]:
            group_versions.append((group["name"], group["preferredVersion"]["version"]))
        for group, version in group_versions:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            for entry in self._request("GET", path)["resources"]:
                if "/" in entry["name"]:
                    continue  # a subresource
                resource = Resource(group, version, entry["name"], entry["kind"], entry["namespaced"])
                qualified = f"{entry['name']}.{group}" if group else entry["name"]
                found.setdefault(qualified, resource)
                found.setdefault(entry["name"], resource)  # the first group wins, as in kubectl
                found.setdefault(f"{resource.api_version}/{entry['kind']}", resource)
                for short in entry.get("shortNames") or ():
                    found.setdefault(short, resource)
        self._resources = found

    def resource(self, ref: str) -> Resource:
        """A resource by plural (``agents``), plural.group (``deployments.apps``) or short name."""
        if ref not in self._resources:
            self._discover()  # a CRD registered since the last look
        try:
            return self._resources[ref]
        except KeyError:
            raise ApiError(404, "NotFound", f"the server doesn't have a resource type {ref!r}") from None

    def _resource_of(self, obj: dict[str, Any]) -> Resource:
        return self.resource(f"{obj['apiVersion']}/{obj['kind']}")

    # HTTP

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        # The server answers 429 while a just-registered CRD's storage initialises, and under
        # priority-and-fairness pressure: a client retries after the delay it names.
        deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
        response = self._http.request(method, path, **kwargs)
        while response.status_code == 429 and time.monotonic() < deadline:
            time.sleep(float(response.headers.get("Retry-After", "1")))
            response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                raise ApiError(response.status_code, "", response.text[:500]) from None
            causes = (body.get("details") or {}).get("causes")
            raise ApiError(response.status_code, body.get("reason", ""), body.get("message", ""), causes)
        return response.json() if response.content else None

    # Reading

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", self.resource(resource).path(namespace, name))
        return result

    def find(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """Like `get`, but None when the object does not exist."""
        try:
            return self.get(resource, name, namespace)
        except ApiError as e:
            if e.status == 404:
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
        params = {k: v for k, v in (("labelSelector", labels), ("fieldSelector", fields)) if v}
        items: builtins.list[dict[str, Any]] = self._request(
            "GET", self.resource(resource).path(namespace), params=params
        )["items"]
        return items

    # Writing, as the admin: the API admits, validates and defaults these like any client's.

    def create(
        self, obj: dict[str, Any], namespace: str | None = None, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """POST the object with strict field validation, as kubectl does; ``dry_run``: admit only."""
        resource = self._resource_of(obj)
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        params = {"fieldValidation": "Strict", **({"dryRun": "All"} if dry_run else {})}
        result: dict[str, Any] = self._request("POST", resource.path(ns), json=obj, params=params)
        return result

    def replace(
        self, obj: dict[str, Any], *, subresource: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """PUT the object over the stored one (its current resourceVersion taken), strictly validated."""
        resource = self._resource_of(obj)
        meta = obj["metadata"]
        current = self.get(f"{resource.api_version}/{resource.kind}", meta["name"], meta.get("namespace"))
        body = {**obj, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
        params = {"fieldValidation": "Strict", **({"dryRun": "All"} if dry_run else {})}
        path = resource.path(meta.get("namespace"), meta["name"], subresource)
        result: dict[str, Any] = self._request("PUT", path, json=body, params=params)
        return result

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any] | builtins.list[Any],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        content_type: str = MERGE_PATCH,
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "PATCH",
            self.resource(resource).path(namespace, name, subresource),
            json=patch,
            headers={"Content-Type": content_type},
        )
        return result

    def delete(
        self, resource: str, name: str, namespace: str | None = None, *, propagation: str | None = None
    ) -> dict[str, Any]:
        body = {"propagationPolicy": propagation} if propagation else None
        result: dict[str, Any] = self._request(
            "DELETE", self.resource(resource).path(namespace, name), json=body
        )
        return result

    def create_stored_before_the_schema_tightened(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` although its CRD would refuse it, as a cluster upgraded to a stricter CRD holds
        objects written under the older one: the CRD briefly accepts any spec, then is put back."""
        resource = self._resource_of(obj)
        crds = "customresourcedefinitions.apiextensions.k8s.io"
        crd_name = f"{resource.plural}.{resource.group}"
        original_versions = self.get(crds, crd_name)["spec"]["versions"]
        permissive = copy.deepcopy(original_versions)
        for version in permissive:
            schema = version["schema"]["openAPIV3Schema"]
            schema.pop("x-kubernetes-validations", None)
            schema["properties"]["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        self.patch(crds, crd_name, {"spec": {"versions": permissive}})
        try:
            created: dict[str, Any] = self.wait_for(
                lambda: self._created_or_none(obj), timeout=30, message=f"{crd_name} accepting any spec"
            )
        finally:
            self.patch(crds, crd_name, {"spec": {"versions": original_versions}})
        probe = copy.deepcopy(obj)
        probe["metadata"]["name"] += "-probe"
        self.wait_for(
            lambda: self._created_or_none(probe, dry_run=True) is None,
            timeout=30,
            message=f"{crd_name} refusing the spec again",
        )
        return created

    def _created_or_none(self, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any] | None:
        try:
            return self.create(obj, dry_run=dry_run)
        except ApiError as e:
            if e.status in (400, 422):
                return None
            raise

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        return self.create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {})},
            }
        )

    def kubectl(
        self, *args: str, kubeconfig: pathlib.Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl against this cluster, as the admin unless another kubeconfig is given."""
        result = subprocess.run(
            [str(kubectl_path()), "--kubeconfig", str(kubeconfig or self.kubeconfig_path), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def apply_file(self, path: pathlib.Path | str, *, server_side: bool = False) -> None:
        """``kubectl apply -f path`` as a user would (``--server-side`` when asked)."""
        args = ["apply", "-f", str(path)]
        if server_side:
            args += ["--server-side", "--field-manager", "test-user"]
        self.kubectl(*args)

    # What a kubelet would do

    def mark_deployment_ready(self, name: str, namespace: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Mark the Pods of a Deployment's newest ReplicaSet Ready and wait for ``readyReplicas``."""
        deployment = self.get("deployments.apps", name, namespace)
        replicas = deployment["spec"].get("replicas", 1)
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())

        def pods() -> builtins.list[dict[str, Any]] | None:
            listed = [
                p
                for p in self.list("pods", namespace, labels=selector)
                if not p["metadata"].get("deletionTimestamp")
            ]
            return listed if len(listed) >= replicas else None

        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for pod in self.wait_for(
            pods, timeout=timeout, message=f"{replicas} Pods of Deployment {namespace}/{name}"
        ):
            conditions = [
                {"type": kind, "status": "True", "lastTransitionTime": now}
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ]
            self.patch(
                "pods",
                pod["metadata"]["name"],
                {"status": {"phase": "Running", "conditions": conditions, "startTime": now}},
                namespace,
                subresource="status",
            )
        return self.wait_for_object(
            "deployments.apps",
            name,
            namespace,
            condition=lambda d: (d.get("status") or {}).get("readyReplicas") == replicas,
            timeout=timeout,
        )

    # The operator's identity

    def operator_connection(self) -> kopf.ConnectionInfo:
        """How the operator logs in: its ServiceAccount's token, the cluster's CA, nothing else."""
        if self._operator_token is None:
            raise RuntimeError(
                "the operator's ServiceAccount is not set up (see tests.controlplane.fixtures)"
            )
        return kopf.ConnectionInfo(
            server=self.url, ca_data=self.ca_data, token=self._operator_token, scheme="Bearer"
        )

    def bind_operator(self, clusterrole: pathlib.Path, workdir: pathlib.Path) -> None:
        """Create the operator's ServiceAccount, bind it to ``clusterrole``, write its kubeconfig."""
        if self.find("namespaces", OPERATOR_NAMESPACE) is None:
            self.create_namespace(OPERATOR_NAMESPACE)
        self.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": OPERATOR_SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE},
            }
        )
        self.apply_file(clusterrole)
        role = yaml.safe_load(clusterrole.read_text())["metadata"]["name"]
        self.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": role},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [
                    {
                        "kind": "ServiceAccount",
                        "name": OPERATOR_SERVICE_ACCOUNT,
                        "namespace": OPERATOR_NAMESPACE,
                    }
                ],
            }
        )
        # One day: longer than any test session, short enough that a leaked token soon expires.
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 86400},
        }
        path = self.resource("serviceaccounts").path(OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, "token")
        self._operator_token = self._request("POST", path, json=request)["status"]["token"]
        self.operator_kubeconfig_path = write_kubeconfig(
            workdir / "operator.kubeconfig",
            self.url,
            self.ca_data,
            self._operator_token,
            OPERATOR_SERVICE_ACCOUNT,
        )

    # Between tests

    def reset(self, custom_groups: Iterable[str], *, timeout: float = 120.0) -> None:
        """Remove what tests made: custom resources (finalizers dropped, as no operator runs any
        more), then every namespace but the system ones, waiting until they are gone."""
        for ref, resource in sorted(self._refreshed().items()):
            if resource.group not in custom_groups or ref != f"{resource.plural}.{resource.group}":
                continue
            for obj in self.list(ref):
                meta = obj["metadata"]
                if meta.get("finalizers"):
                    self.patch(ref, meta["name"], {"metadata": {"finalizers": None}}, meta.get("namespace"))
                if self.find(ref, meta["name"], meta.get("namespace")) is not None:
                    self._delete_quietly(ref, meta["name"], meta.get("namespace"))
        leftovers = [
            ns["metadata"]["name"]
            for ns in self.list("namespaces")
            if ns["metadata"]["name"] not in SYSTEM_NAMESPACES | {OPERATOR_NAMESPACE}
        ]
        for name in leftovers:
            self._delete_quietly("namespaces", name)
        for name in (
            "deployments.apps",
            "secrets",
            "serviceaccounts",
            "networkpolicies.networking.k8s.io",
            "events",
        ):
            for obj in self.list(name, "default"):
                if name == "serviceaccounts" and obj["metadata"]["name"] == "default":
                    continue
                self._delete_quietly(name, obj["metadata"]["name"], "default")
        self.wait_for(
            lambda: not any(self.find("namespaces", name) for name in leftovers),
            timeout=timeout,
            message=f"deletion of the namespaces {leftovers}",
        )

    def _refreshed(self) -> dict[str, Resource]:
        self._discover()
        return dict(self._resources)

    def _delete_quietly(self, resource: str, name: str, namespace: str | None = None) -> None:
        try:
            self.delete(resource, name, namespace, propagation="Background")
        except ApiError as e:
            if e.status not in (404, 409):
                raise

    # Observation

    def request_count(self) -> int:
        """Requests the API server has answered so far (its ``apiserver_request_total`` metric)."""
        text = self._http.get("/metrics").text
        return int(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("apiserver_request_total{")
            )
        )

    def wait_for(
        self,
        condition: Callable[[], Any],
        *,
        timeout: float = 10.0,
        interval: float = 0.05,
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
        interval: float = 0.05,
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
