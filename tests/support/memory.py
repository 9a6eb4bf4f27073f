"""The Memory Bank's test world: on top of the task flow's stack (``tests.support.taskflow``), a
second project of the same workgroup and a second workgroup, each with its own channel, ClickUp list
and agent, and searches as those agents make them (``POST /v1/memory/search``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.fakes.slack_events import event_callback, message_event, send_slack_event
from tests.secret_logs import SecretRegistry
from tests.support.registry import RegisteredAgent, register_agent
from tests.support.taskflow import LIST_ID, PROJECT, WORKGROUP, FlowStack, register_team

OTHER_PROJECT = "billing"
OTHER_LIST_ID = "901201"
OTHER_WORKGROUP = "frontend"
OTHER_WORKGROUP_PROJECT = "web"
OTHER_WORKGROUP_LIST_ID = "901300"


@dataclass
class MemoryWorld:
    """Three projects and an agent on each: ``auth`` (the stack's channel) and ``billing`` of the
    workgroup ``backend``, ``web`` of ``frontend``; ``unmapped`` is a channel no project maps."""

    stack: FlowStack
    auth_agent: RegisteredAgent
    billing_agent: RegisteredAgent
    frontend_agent: RegisteredAgent
    billing_channel: str
    web_channel: str
    unmapped_channel: str

    async def say(
        self, channel: str, text: str, *, thread_ts: str | None = None, user: str | None = None
    ) -> str:
        """A person's message in ``channel`` delivered to Nexus as Slack's event; returns its ts."""
        options: dict[str, Any] = {"thread_ts": thread_ts}
        if user is not None:
            options["user"] = user
        event = message_event(channel, text, **options)
        await self.send(event)
        return str(event["ts"])

    async def send(self, event: dict[str, Any]) -> None:
        delivery = await send_slack_event(
            self.stack.slack_url, event_callback(event), self.stack.signing_secret, http=self.stack.http
        )
        assert delivery.delivered, delivery


async def build_memory_world(stack: FlowStack, secrets: SecretRegistry) -> MemoryWorld:
    await register_team(stack)
    billing = stack.slack.add_channel("proj-billing", bot_is_member=True)["id"]
    web = stack.slack.add_channel("web-app", bot_is_member=True)["id"]
    unmapped = stack.slack.add_channel("random", bot_is_member=True)["id"]
    await stack.put(
        f"/workgroups/{WORKGROUP}/projects/{OTHER_PROJECT}",
        {"clickupListId": OTHER_LIST_ID, "slackChannelId": billing},
    )
    await stack.put(f"/workgroups/{OTHER_WORKGROUP}", {"displayName": "Frontend"})
    await stack.put(
        f"/workgroups/{OTHER_WORKGROUP}/projects/{OTHER_WORKGROUP_PROJECT}",
        {"clickupListId": OTHER_WORKGROUP_LIST_ID, "slackChannelId": web},
    )
    url, admin = stack.nexus.url, stack.nexus.admin_headers()
    auth_agent = await register_agent(url, admin, secrets, WORKGROUP, "auth-searcher", projects=[PROJECT])
    billing_agent = await register_agent(
        url, admin, secrets, WORKGROUP, "billing-searcher", projects=[OTHER_PROJECT]
    )
    frontend_agent = await register_agent(url, admin, secrets, OTHER_WORKGROUP, "web-searcher")
    return MemoryWorld(stack, auth_agent, billing_agent, frontend_agent, billing, web, unmapped)


async def search(agent: RegisteredAgent, query: str, **body: Any) -> httpx.Response:
    """``POST /v1/memory/search`` as ``agent``."""
    async with await agent.client(timeout=30) as client:
        return await client.post("/v1/memory/search", json={"query": query, **body})


async def found_texts(agent: RegisteredAgent, query: str, **body: Any) -> list[str]:
    """The texts of the hits ``agent`` gets for ``query`` (the search must succeed)."""
    response = await search(agent, query, **body)
    assert response.status_code == 200, response.text
    return [hit["text"] for hit in response.json()["hits"]]


__all__ = ["LIST_ID", "MemoryWorld", "build_memory_world", "found_texts", "search"]


def backfill_cli_env(stack: FlowStack, nexus_env: dict[str, str]) -> dict[str, str]:
    """The environment of `oblivion memory backfill` run by hand against the stack (its database and
    the fake Slack and ClickUp)."""
    settings = stack.settings
    assert settings.slack.bot_token is not None
    assert settings.clickup.token is not None
    return {
        **nexus_env,
        "OBLIVION_DATABASE_URL": settings.database.url,
        "OBLIVION_SLACK_BOT_TOKEN": settings.slack.bot_token.get_secret_value(),
        "OBLIVION_SLACK_API_URL": settings.slack.api_url,
        "OBLIVION_CLICKUP_TOKEN": settings.clickup.token.get_secret_value(),
        "OBLIVION_CLICKUP_API_URL": settings.clickup.api_url,
    }
