"""A real Nexus wired to the fake Slack and ClickUp, with tracked tasks assigned to registered agents.

Tasks are made as the worker leaves them: the task in ClickUp, its root message in the project's
channel, the mapping and the agents assigned to it in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from oblivion_nexus.stores import tables as t
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus

STATUS_MAP = {"TODO": "to do", "IN_PROGRESS": "in progress", "BLOCKED_ON_HUMAN": "review", "DONE": "complete"}
MUTE_SECONDS = 1.0


@dataclass
class RegisteredAgent:
    name: str
    client_id: str
    client_secret: str
    nexus_url: str
    _token: str | None = None

    async def token(self) -> str:
        if self._token is None:
            async with httpx.AsyncClient(base_url=self.nexus_url) as client:
                r = await client.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self.client_secret),
                )
            assert r.status_code == 200, r.text
            self._token = str(r.json()["access_token"])
        return self._token

    async def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {await self.token()}"}
        return httpx.AsyncClient(base_url=self.nexus_url, headers=headers)


@dataclass
class TaskWorld:
    nexus: RunningNexus
    slack: FakeSlack
    clickup: FakeClickUp
    secrets: SecretRegistry
    workgroup: str
    project: str
    channel: str
    list_id: str
    agents: dict[str, RegisteredAgent] = field(default_factory=dict)

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.nexus.url, headers=self.nexus.admin_headers())

    async def register_agent(self, name: str, **spec: Any) -> RegisteredAgent:
        agent = RegisteredAgent(name, f"{self.workgroup}-{name}", secrets.token_urlsafe(24), self.nexus.url)
        self.secrets.add(agent.client_secret)
        body = {"clientId": agent.client_id, "clientSecret": agent.client_secret, "aliases": [name], **spec}
        async with self.admin() as admin:
            r = await admin.put(f"/internal/v1/workgroups/{self.workgroup}/agents/{name}", json=body)
        assert r.status_code in (200, 201), r.text
        self.agents[name] = agent
        return agent

    def track_task(self, name: str, description: str = "", *, agents: list[str], state: str = "TODO") -> str:
        """A task in ClickUp with its thread in Slack, tracked and assigned to ``agents``."""
        task = self.clickup.add_task(list_id=self.list_id, name=name, description=description)
        root = self.slack.workspace.post(
            self.channel, {"user": "U0LAN0Z89", "bot_id": "B123ABC456", "text": name}
        )
        engine = create_engine(self.nexus.settings.database_url)
        try:
            with engine.begin() as conn:
                mapping_id = conn.execute(
                    t.TaskMapping.__table__.insert()
                    .values(
                        workgroup=self.workgroup,
                        project=self.project,
                        clickup_task_id=task["id"],
                        slack_channel_id=self.channel,
                        thread_ts=root["ts"],
                        state=state,
                        title=name,
                    )
                    .returning(t.TaskMapping.id)
                ).scalar_one()
                for agent in agents:
                    agent_id = conn.execute(
                        select(t.Agent.id).where(t.Agent.workgroup == self.workgroup, t.Agent.name == agent)
                    ).scalar_one()
                    conn.execute(
                        t.TaskAgent.__table__.insert().values(task_mapping_id=mapping_id, agent_id=agent_id)
                    )
        finally:
            engine.dispose()
        return str(task["id"])

    def thread(self, task_id: str) -> list[dict[str, Any]]:
        engine = create_engine(self.nexus.settings.database_url)
        try:
            with engine.connect() as conn:
                ts = conn.execute(
                    select(t.TaskMapping.thread_ts).where(t.TaskMapping.clickup_task_id == task_id)
                ).scalar_one()
        finally:
            engine.dispose()
        return self.slack.thread(self.channel, ts)

    def state(self, task_id: str) -> str:
        engine = create_engine(self.nexus.settings.database_url)
        try:
            with engine.connect() as conn:
                return str(
                    conn.execute(
                        select(t.TaskMapping.state).where(t.TaskMapping.clickup_task_id == task_id)
                    ).scalar_one()
                )
        finally:
            engine.dispose()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def fake_clickup() -> Iterator[FakeClickUp]:
    with FakeClickUp() as clickup:
        yield clickup


@pytest.fixture
async def world(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> AsyncIterator[TaskWorld]:
    webhook_secret = secrets.token_hex(32)
    secret_registry.add(webhook_secret)
    settings = nexus_settings(
        nexus_env,
        slack_bot_token=fake_slack.bot_token,
        slack_api_url=fake_slack.url + "/api/",
        clickup_token=fake_clickup.token,
        clickup_api_url=fake_clickup.url,
        agent_mute_seconds=MUTE_SECONDS,
        clickup_webhook_secret=webhook_secret,
    )
    await asyncio.to_thread(migrate_database, settings.database_url)
    channel = fake_slack.add_channel(f"proj-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
    workgroup, project, list_id = (
        f"wg-{uuid.uuid4().hex[:8]}",
        "auth-refactor",
        str(900_000 + secrets.randbelow(99_999)),
    )
    async with running_nexus(settings) as nexus:
        world = TaskWorld(
            nexus, fake_slack, fake_clickup, secret_registry, workgroup, project, channel, list_id
        )
        async with world.admin() as admin:
            r = await admin.put(f"/internal/v1/workgroups/{workgroup}", json={})
            assert r.status_code == 201, r.text
            r = await admin.put(
                f"/internal/v1/workgroups/{workgroup}/projects/{project}",
                json={"clickupListId": list_id, "slackChannelId": channel, "statusMap": STATUS_MAP},
            )
            assert r.status_code == 201, r.text
        yield world
