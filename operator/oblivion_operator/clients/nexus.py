"""Nexus's registry API (``/internal/v1``), the only way the operator tells Nexus what exists.

Every call is an idempotent PUT or DELETE keyed by stable names, so a retried reconcile never makes
anything twice. The admin token and agent client secrets travel in requests only; nothing here logs a
body.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from oblivion_operator.errors import ExternalError, NotFound

logger = logging.getLogger(__name__)
SYSTEM = "Nexus"
PARENT_NOT_REGISTERED = "workgroup_not_registered"


class NexusClient:
    def __init__(
        self, base_url: str, admin_token: str, *, timeout: float = 30.0, max_connections: int = 8
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/internal/v1/",
            headers={"Authorization": f"Bearer {admin_token}"},
            # Registering an agent hashes its secret (CPU-bound in Nexus): when hundreds of resources
            # reconcile at once, queue here for one of a few connections instead of flooding Nexus.
            timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as e:
            raise ExternalError(SYSTEM, f"{method} {path} failed: {type(e).__name__}: {e}") from e
        if response.status_code == 404:
            raise NotFound(SYSTEM, f"{method} {path}: not found")
        if response.status_code >= 400:
            detail = _error_detail(response)
            raise ExternalError(
                SYSTEM,
                f"{method} {path} answered {response.status_code}: {detail}",
                status=response.status_code,
                # 4xx is our request's fault (bad token, rejected body): retrying cannot heal it quickly,
                # but an admin may fix the token, so it is still retried, just slowly by the caller.
                retryable=response.status_code >= 500 or response.status_code in (401, 403, 408, 429),
            )
        if not response.content:
            return {}
        data = response.json()
        return data if isinstance(data, dict) else {"items": data}

    async def _put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT; a 404 means the workgroup is not registered *yet* (its Workgroup's reconcile registers it
        after making the namespace, so an Agent applied with it can get here first): retried, not final."""
        try:
            return await self._call("PUT", path, body)
        except NotFound as e:
            raise ExternalError(
                SYSTEM,
                f"PUT {path}: the workgroup is not registered in Nexus yet",
                status=404,
                code=PARENT_NOT_REGISTERED,
                retryable=True,
            ) from e

    async def _delete(self, path: str) -> None:
        try:
            await self._call("DELETE", path)
        except NotFound:
            return  # already gone: deleting is idempotent

    async def put_workgroup(self, workgroup: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._put(f"workgroups/{workgroup}", body)

    async def get_workgroup(self, workgroup: str) -> dict[str, Any] | None:
        """The workgroup as Nexus has it registered (its ``namespace`` included), None when it is not."""
        try:
            return await self._call("GET", f"workgroups/{workgroup}")
        except NotFound:
            return None

    async def delete_workgroup(self, workgroup: str) -> None:
        await self._delete(f"workgroups/{workgroup}")

    async def put_project(self, workgroup: str, project: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._put(f"workgroups/{workgroup}/projects/{project}", body)

    async def delete_project(self, workgroup: str, project: str) -> None:
        await self._delete(f"workgroups/{workgroup}/projects/{project}")

    async def drop_project_memory(self, workgroup: str, project: str) -> None:
        """Delete every Memory Bank point of the project (nothing to do for a project Nexus does not
        know); 503 while the worker holding the embedded engine, or Qdrant, does not answer."""
        await self._delete(f"workgroups/{workgroup}/projects/{project}/memory")

    async def put_agent(self, workgroup: str, agent: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._put(f"workgroups/{workgroup}/agents/{agent}", body)

    async def delete_agent(self, workgroup: str, agent: str) -> None:
        await self._delete(f"workgroups/{workgroup}/agents/{agent}")

    async def get_presence(self, workgroup: str, agent: str) -> dict[str, Any]:
        return await self._call("GET", f"workgroups/{workgroup}/agents/{agent}/presence")

    async def get_usage(self, workgroup: str, agent: str) -> dict[str, Any]:
        """The agent's model usage today (UTC): calls, tokens and cost."""
        return await self._call("GET", f"workgroups/{workgroup}/agents/{agent}/usage")

    async def put_credential(self, workgroup: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a credential; the answer carries its ``fingerprint``, never the value."""
        return await self._put(f"workgroups/{workgroup}/credentials/{name}", body)

    async def delete_credential(self, workgroup: str, name: str) -> None:
        await self._delete(f"workgroups/{workgroup}/credentials/{name}")


def _error_detail(response: httpx.Response) -> str:
    """A readable reason from an error answer, without echoing request values (FastAPI's ``input``)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.reason_phrase
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"{where}: {item.get('msg', '')}")
        return "; ".join(parts)[:300]
    return str(detail)[:300] if detail else response.reason_phrase
