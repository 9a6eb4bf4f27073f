"""The task flow's test world: a real Nexus (API and worker in-process) wired to the fake Slack and
ClickUp, a team registered the way the operator registers it, and ways to read what the flow left
behind (queued jobs, agents' inboxes).

The ``stack`` fixture of ``tests/integration/flow`` builds a :class:`FlowStack`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis
from pydantic import SecretStr

from oblivion_nexus.resources import webhook_queue
from oblivion_nexus.settings import NexusSettings
from tests.fakes import clickup_payloads as shapes
from tests.fakes.clickup import FakeClickUp
from tests.fakes.models import FakeModels
from tests.fakes.slack import FakeSlack
from tests.support.nexus import RunningNexus
from tests.support.waiting import eventually

LIST_ID = "901200"
CHANNEL_NAME = "proj-auth"


@dataclass
class FlowStack:
    nexus: RunningNexus
    settings: NexusSettings
    slack: FakeSlack
    clickup: FakeClickUp
    channel_id: str
    signing_secret: str
    clickup_secret: str
    http: httpx.AsyncClient

    @property
    def clickup_url(self) -> str:
        return self.nexus.url + "/webhooks/clickup"

    @property
    def slack_url(self) -> str:
        return self.nexus.url + "/webhooks/slack"

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        response = await self.http.put(
            self.nexus.url + "/internal/v1" + path, json=body, headers=self.nexus.admin_headers()
        )
        assert response.status_code in (200, 201), response.text
        return response


WORKGROUP = "backend"
PROJECT = "auth"
AGENT = "reviewer"
ALIAS = "ai-backend"


async def register_team(stack: FlowStack, *, archived: bool = False) -> None:
    """A workgroup, a project on LIST_ID and the stack's channel, and one agent answering @ai-backend."""
    await stack.put(f"/workgroups/{WORKGROUP}", {"displayName": "Backend"})
    await stack.put(
        f"/workgroups/{WORKGROUP}/projects/{PROJECT}",
        {
            "clickupListId": LIST_ID,
            "slackChannelId": stack.channel_id,
            "statusMap": {"IN_PROGRESS": "in progress", "DONE": "complete"},
            "archived": archived,
        },
    )
    await put_reviewer(stack, secrets.token_urlsafe(16), clickupUserId="777", iconEmoji=":robot_face:")


async def put_reviewer(stack: FlowStack, secret: str, **fields: Any) -> None:
    """(Re-)register the team's agent answering @ai-backend, with ``secret`` and the registry
    ``fields`` given (e.g. ``model``)."""
    await stack.put(
        f"/workgroups/{WORKGROUP}/agents/{AGENT}",
        {
            "clientId": "backend-reviewer",
            "clientSecret": secret,
            "displayName": "Reviewer Bot",
            "aliases": [ALIAS],
            **fields,
        },
    )


async def put_model_credential(stack: FlowStack, models: FakeModels) -> None:
    """The workgroup's ``openai`` credential: the fake model API's key and URL."""
    await stack.put(
        f"/workgroups/{WORKGROUP}/credentials/openai",
        {
            "type": "openai",
            "value": models.api_key,
            "allowedActions": ["*"],
            "config": {"baseUrl": f"{models.url}/v1"},
        },
    )


def add_clickup_webhook(stack: FlowStack) -> str:
    """A webhook in the fake ClickUp to Nexus, signed with the fallback secret."""
    hook = shapes.webhook(stack.clickup.team_id, stack.clickup_url, ["*"], LIST_ID, stack.clickup_secret)
    stack.clickup.webhooks[hook["id"]] = hook
    return str(hook["id"])


async def inbox_frames(
    stack: FlowStack, workgroup: str = WORKGROUP, agent: str = AGENT
) -> list[dict[str, Any]]:
    """Every event frame queued for an agent (acked ones are gone), oldest first."""
    client = aioredis.Redis.from_url(stack.settings.redis.url, decode_responses=True)
    try:
        base = f"{stack.settings.redis.prefix}:inbox:{workgroup}:{agent}"
        order = await client.zrange(f"{base}:q", 0, -1)
        frames = await client.hgetall(f"{base}:ev")
        return [json.loads(frames[i]) for i in order if i in frames]
    finally:
        await client.aclose()


async def queue_drained(stack: FlowStack) -> bool:
    """Whether the webhook queue has nothing waiting, running or delayed."""
    queue = webhook_queue(stack.settings)
    try:
        counts = await queue.counts()
    finally:
        await queue.close()
    return all(counts.get(state, 0) == 0 for state in ("waiting", "active", "delayed"))


async def settle(stack: FlowStack) -> None:
    """Wait until every queued job ran (twice in a row, so jobs they caused ran too)."""
    await eventually(lambda: queue_drained(stack), what="queue drained")
    await eventually(lambda: queue_drained(stack), what="queue drained again")


async def start_task(stack: FlowStack) -> tuple[dict[str, Any], str]:
    """A ClickUp task summoning the agent, taken by a running worker: the task and its thread's ts."""
    task, _ = await stack.clickup.create_task(list_id=LIST_ID, name="Fix login", description=f"@{ALIAS} go")
    await eventually(lambda: inbox_frames(stack), what="TASK_ASSIGNED")
    await settle(stack)
    root = next(m for m in stack.slack.messages(stack.channel_id) if "thread_ts" not in m)
    return task, root["ts"]


async def queued_counts(stack: FlowStack) -> dict[str, int]:
    """Jobs of the webhook queue per state (waiting, active, delayed, completed, failed)."""
    queue = webhook_queue(stack.settings)
    try:
        return await queue.counts()
    finally:
        await queue.close()


def worker_env(stack: FlowStack, *, defaulted: Collection[str] = ()) -> dict[str, str]:
    """The environment of an ``oblivion nexus worker`` process on the stack's settings (database,
    Redis prefix, fakes, memory data directory), leaving the variables in ``defaulted`` at their
    defaults."""
    env: dict[str, str] = {}
    for name, section in type(stack.settings).sections():
        values = getattr(stack.settings, name)
        for field_name, field in section.model_fields.items():
            value = getattr(values, field_name)
            variable = str(field.validation_alias)
            if value is None or variable in defaulted:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[variable] = str(value)
    base = {k: v for k, v in os.environ.items() if not k.startswith("OBLIVION_")}
    return {**base, **env}
