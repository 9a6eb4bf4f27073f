"""Agents registered through Nexus's registry API, as the operator registers them, and their access
tokens from ``POST /oauth/token``, as the agent runtime gets them.

Every secret made here joins the run's secret check (``tests.secret_logs``): a test fails if one ever
reaches a log line.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.secret_logs import SecretRegistry


@dataclass
class RegisteredAgent:
    """An agent in Nexus's registry: its client credentials, and a token and clients made from them."""

    nexus_url: str
    workgroup: str
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    secrets: SecretRegistry = field(repr=False)
    _token: str | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """The agent's path under the registry API (``/internal/v1``)."""
        return f"/workgroups/{self.workgroup}/agents/{self.name}"

    async def token(self) -> str:
        """An access token from the client-credentials grant (fetched once, then reused)."""
        if self._token is None:
            async with httpx.AsyncClient(base_url=self.nexus_url) as anonymous:
                r = await anonymous.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self.client_secret),
                )
            assert r.status_code == 200, r.text
            self._token = str(r.json()["access_token"])
            self.secrets.add(self._token)
        return self._token

    async def client(self, **options: Any) -> httpx.AsyncClient:
        """A client of Nexus carrying the agent's token (the caller closes it)."""
        headers = {"Authorization": f"Bearer {await self.token()}"}
        return httpx.AsyncClient(base_url=self.nexus_url, headers=headers, **options)


def registry_client(nexus_url: str, admin_headers: dict[str, str]) -> httpx.AsyncClient:
    """A client of the registry API (``/internal/v1``) with the admin token, as the operator has."""
    return httpx.AsyncClient(base_url=f"{nexus_url}/internal/v1", headers=admin_headers)


async def register_agent(
    nexus_url: str,
    admin_headers: dict[str, str],
    secret_registry: SecretRegistry,
    workgroup: str,
    name: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    **spec: Any,
) -> RegisteredAgent:
    """``PUT`` an agent of an existing workgroup with client credentials (fresh unless given) and
    ``spec`` (registry fields such as ``aliases``, ``tools``, ``rateLimitPerMinute``)."""
    agent = RegisteredAgent(
        nexus_url=nexus_url,
        workgroup=workgroup,
        name=name,
        client_id=client_id or f"{workgroup}-{name}",
        client_secret=client_secret or secrets.token_urlsafe(24),
        secrets=secret_registry,
    )
    secret_registry.add(agent.client_secret)
    body = {"clientId": agent.client_id, "clientSecret": agent.client_secret, **spec}
    async with registry_client(nexus_url, admin_headers) as registry:
        r = await registry.put(agent.path, json=body)
    assert r.status_code in (200, 201), r.text
    return agent
