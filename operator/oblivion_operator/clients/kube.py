"""A small async Kubernetes client for the children the operator owns.

kopf watches and patches the custom resources itself but offers handlers no client, and the official
``kubernetes`` package is synchronous. This client speaks the REST API with httpx using the very
credentials kopf logged in with (a ``kopf.ConnectionInfo``), and knows just the kinds we create.
Writes are get-or-create followed by a JSON merge-patch when the live object differs, so re-running a
reconcile is a no-op.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from typing import Any

import httpx
import kopf

from oblivion_operator.errors import ExternalError, NotFound

logger = logging.getLogger(__name__)
SYSTEM = "Kubernetes"
Obj = dict[str, Any]

# (apiVersion, kind) → plural, namespaced
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ResourceQuota"): ("resourcequotas", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("oblivion.dev/v1alpha1", "Workgroup"): ("workgroups", False),
    ("oblivion.dev/v1alpha1", "Project"): ("projects", True),
    ("oblivion.dev/v1alpha1", "Agent"): ("agents", True),
    ("oblivion.dev/v1alpha1", "ToolCredential"): ("toolcredentials", True),
}


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    try:
        plural, namespaced = KINDS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"unsupported kind {api_version}/{kind}") from None
    root = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{plural}" if namespaced else f"{root}/{plural}"
    return f"{path}/{name}" if name else path


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    ctx = ssl.create_default_context()
    if info.ca_path:
        ctx.load_verify_locations(cafile=os.fsdecode(info.ca_path))
    elif info.ca_data:
        ca_data = info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data
        ctx.load_verify_locations(cadata=ca_data)
    if info.certificate_path and info.private_key_path:
        ctx.load_cert_chain(os.fsdecode(info.certificate_path), os.fsdecode(info.private_key_path))
    elif info.certificate_data and info.private_key_data:
        # ssl only loads client certificates from files: write them privately, load, remove
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            for path, data in ((cert, info.certificate_data), (key, info.private_key_data)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data if isinstance(data, bytes) else data.encode())
            ctx.load_cert_chain(cert, key)
    return ctx


def _differs(desired: Any, live: Any) -> bool:
    """True when ``desired`` has a value ``live`` lacks; fields only the server sets are ignored."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return True
        return any(_differs(v, live.get(k)) for k, v in desired.items())
    return bool(desired != live)


class KubeClient:
    def __init__(self, info: kopf.ConnectionInfo, *, timeout: float = 30.0) -> None:
        headers = {"Accept": "application/json"}
        auth: httpx.Auth | None = None
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        elif info.username and info.password:
            auth = httpx.BasicAuth(info.username, info.password)
        self._http = httpx.AsyncClient(
            base_url=info.server.rstrip("/"),
            headers=headers,
            auth=auth,
            verify=_ssl_context(info),
            # Hundreds of resources may reconcile at once: they queue for a connection (no pool
            # timeout) rather than fail together and retry together.
            timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> Obj:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ExternalError(SYSTEM, f"{method} {path} failed: {type(e).__name__}: {e}") from e
        if response.status_code == 404:
            raise NotFound(SYSTEM, f"{method} {path}: not found")
        if response.status_code >= 400:
            try:
                body = response.json()
                reason, message = body.get("reason"), body.get("message")
            except ValueError:
                reason, message = None, response.text[:300]
            raise ExternalError(
                SYSTEM,
                f"{method} {path} answered {response.status_code} {reason or ''}: {message}",
                status=response.status_code,
                code=reason,
                retryable=response.status_code >= 500 or response.status_code in (409, 429),
            )
        result: Obj = response.json() if response.content else {}
        return result

    async def get(self, path: str) -> Obj | None:
        try:
            return await self._request("GET", path)
        except NotFound:
            return None

    async def list(self, path: str, label_selector: str | None = None) -> list[Obj]:
        params = {"labelSelector": label_selector} if label_selector else {}
        items: list[Obj] = (await self._request("GET", path, params=params)).get("items", [])
        return items

    async def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        return await self._request("POST", path, json=obj)

    async def merge_patch(self, path: str, patch: Obj) -> Obj:
        headers = {"Content-Type": "application/merge-patch+json"}
        return await self._request("PATCH", path, json=patch, headers=headers)

    async def apply(self, obj: Obj) -> tuple[Obj, bool]:
        """Get-or-create ``obj``, then merge-patch what differs; returns (live object, created)."""
        meta = obj["metadata"]
        path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        live = await self.get(path)
        if live is None:
            try:
                return await self.create(obj), True
            except ExternalError as e:
                if e.code != "AlreadyExists":
                    raise
                live = await self.get(path)
                if live is None:
                    raise
        desired = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        if _differs(desired, live):
            live = await self.merge_patch(path, desired)
        return live, False

    async def delete(self, path: str) -> bool:
        try:
            await self._request("DELETE", path, json={"propagationPolicy": "Background"})
        except NotFound:
            return False
        return True

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, status: Obj
    ) -> Obj:
        path = resource_path(api_version, kind, namespace, name) + "/status"
        return await self.merge_patch(path, {"status": status})
