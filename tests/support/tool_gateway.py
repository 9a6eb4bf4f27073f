"""The Tool Gateway's test world: a real Nexus with a workgroup whose github credential points at the
fake GitHub, agents granted tools, and a person's click on an approval as Slack sends it.

The ``world`` fixture of ``tests/integration/tools`` builds a :class:`ToolWorld`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes import slack_events
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus
from tests.support.registry import register_agent, registry_client

REPO = "acme/api"
APPROVER, STRANGER = "UAPPROVER1", "USTRANGER1"


@dataclass
class ToolWorld:
    nexus: RunningNexus
    github: FakeGitHub
    secrets: SecretRegistry
    workgroup: str
    slack: FakeSlack
    channel: str
    signing_secret: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def admin(self) -> httpx.AsyncClient:
        return registry_client(self.nexus.url, self.nexus.admin_headers())

    async def credential(self, name: str, **spec: Any) -> None:
        async with self.admin() as admin:
            r = await admin.put(f"/workgroups/{self.workgroup}/credentials/{name}", json=spec)
        assert r.status_code in (200, 201), r.text

    async def register(self, name: str, tools: list[dict[str, Any]]) -> tuple[str, str]:
        """Register an agent with these tool grants; its client id and secret."""
        agent = await register_agent(
            self.nexus.url, self.nexus.admin_headers(), self.secrets, self.workgroup, name, tools=tools
        )
        return agent.client_id, agent.client_secret

    async def agent(self, name: str, tools: list[dict[str, Any]]) -> httpx.AsyncClient:
        """Register an agent with these tool grants; a client carrying its access token (closed with
        the world)."""
        agent = await register_agent(
            self.nexus.url, self.nexus.admin_headers(), self.secrets, self.workgroup, name, tools=tools
        )
        client = await agent.client(timeout=30)
        self.clients.append(client)
        return client


async def merge_needs_approval(world: ToolWorld, timeout: int = 600) -> None:
    """The github credential allows every action, and merging a pull request waits for APPROVER."""
    await world.credential(
        "github",
        type="github",
        value=world.github.token,
        allowedActions=["*"],
        config={"baseUrl": world.github.url},
        approval={
            "actions": ["pulls.merge"],
            "approvers": [APPROVER, "S0GROUP01"],
            "timeoutSeconds": timeout,
        },
    )


def open_pull(world: ToolWorld) -> int:
    """A mergeable pull request in the fake GitHub's REPO; its number."""
    repo = world.github.state.repos[REPO.lower()]
    world.github.state.commit(repo, "fix", "Fix", {"README.md": "# fixed\n"}, [repo.branches["main"]])
    return int(
        world.github.state.repos[REPO.lower()].issues.setdefault(
            7,
            {
                "number": 7,
                "title": "Fix",
                "state": "open",
                "pull_request": {},
                "merged": False,
                "mergeable": True,
                "head": {"ref": "fix"},
                "base": {"ref": "main"},
                "html_url": "https://github.com/acme/api/pull/7",
            },
        )["number"]
    )


async def click(world: ToolWorld, user: str, action_id: str, approval_id: str) -> httpx.Response:
    """``user`` clicks Approve or Deny (``action_id``) on an approval message, signed as Slack signs."""
    body, headers = slack_events.button_click(
        world.signing_secret, user=user, channel=world.channel, action_id=action_id, value=approval_id
    )
    async with httpx.AsyncClient(base_url=world.nexus.url) as slack:
        return await slack.post("/webhooks/slack/interactivity", content=body, headers=headers)
