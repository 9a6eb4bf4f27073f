"""An agent registered in a real Nexus as the agent runtime (SDK and ``oblivion agent run``) meets it:
its settings and environment, and the registry's view of its events and presence.

The ``register_agent`` fixture of ``tests/integration/agent`` makes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from oblivion_agent import AgentSettings
from tests.support.nexus import RunningNexus

# Short heartbeats keep the tests quick; the agent must use the same interval as Nexus.
HEARTBEAT_SECONDS = 1.0


@dataclass
class RuntimeAgent:
    """An agent registered in its own workgroup, as the agent runtime is configured to reach Nexus."""

    nexus: RunningNexus
    workgroup: str
    name: str
    client_id: str
    client_secret: str

    @property
    def path(self) -> str:
        return f"/internal/v1/workgroups/{self.workgroup}/agents/{self.name}"

    def settings(self, **overrides: Any) -> AgentSettings:
        values: dict[str, Any] = {
            "nexus_url": self.nexus.url,
            "client_id": self.client_id,
            "client_secret": SecretStr(self.client_secret),
            "heartbeat_seconds": HEARTBEAT_SECONDS,
            "backoff_base_seconds": 0.05,
            "backoff_cap_seconds": 0.5,
        }
        values.update(overrides)
        return AgentSettings(**values)

    def env(self) -> dict[str, str]:
        """What the operator mounts into an agent's pod."""
        return {
            "OBLIVION_NEXUS_URL": self.nexus.url,
            "OBLIVION_CLIENT_ID": self.client_id,
            "OBLIVION_CLIENT_SECRET": self.client_secret,
            "OBLIVION_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        }

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.nexus.url, headers=self.nexus.admin_headers())

    async def queue(self, type_: str, data: dict[str, Any]) -> str:
        async with self.admin() as admin:
            r = await admin.post(f"{self.path}/events", json={"type": type_, "data": data})
        assert r.status_code == 202, r.text
        event_id: str = r.json()["id"]
        return event_id

    async def presence(self) -> dict[str, Any]:
        async with self.admin() as admin:
            r = await admin.get(f"{self.path}/presence")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body
