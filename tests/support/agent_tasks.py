"""The agent task API's test world: a real Nexus wired to the fake Slack and ClickUp, with tracked tasks
assigned to registered agents, and an SDK agent running one handler on a queued ``TASK_ASSIGNED``
(``run_handler``).

Tasks are made as the worker leaves them: the task in ClickUp, its root message in the project's
channel, the mapping and the agents assigned to it in PostgreSQL. The ``world`` fixture of
``tests/integration/tasks`` builds a :class:`TaskWorld`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import create_engine, select

from oblivion_agent import Agent, AgentSettings, Context, TaskAssigned
from oblivion_nexus.stores import tables as t
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus
from tests.support.registry import RegisteredAgent, register_agent

STATUS_MAP = {"TODO": "to do", "IN_PROGRESS": "in progress", "BLOCKED_ON_HUMAN": "review", "DONE": "complete"}
MUTE_SECONDS = 1.0


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
        """Register an agent answering to its own name as alias, plus registry fields ``spec``."""
        spec.setdefault("aliases", [name])
        agent = await register_agent(
            self.nexus.url, self.nexus.admin_headers(), self.secrets, self.workgroup, name, **spec
        )
        self.agents[name] = agent
        return agent

    def track_task(self, name: str, description: str = "", *, agents: list[str], state: str = "TODO") -> str:
        """A task in ClickUp with its thread in Slack, tracked and assigned to ``agents``."""
        task = self.clickup.add_task(list_id=self.list_id, name=name, description=description)
        root = self.slack.workspace.post(
            self.channel, {"user": "U0LAN0Z89", "bot_id": "B123ABC456", "text": name}
        )
        engine = create_engine(self.nexus.settings.database.url)
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
        engine = create_engine(self.nexus.settings.database.url)
        try:
            with engine.connect() as conn:
                ts = conn.execute(
                    select(t.TaskMapping.thread_ts).where(t.TaskMapping.clickup_task_id == task_id)
                ).scalar_one()
        finally:
            engine.dispose()
        return self.slack.thread(self.channel, ts)

    def state(self, task_id: str) -> str:
        engine = create_engine(self.nexus.settings.database.url)
        try:
            with engine.connect() as conn:
                return str(
                    conn.execute(
                        select(t.TaskMapping.state).where(t.TaskMapping.clickup_task_id == task_id)
                    ).scalar_one()
                )
        finally:
            engine.dispose()


@contextlib.asynccontextmanager
async def task_world(
    nexus_env: dict[str, str],
    slack: FakeSlack,
    clickup: FakeClickUp,
    secret_registry: SecretRegistry,
    **settings: object,
) -> AsyncIterator[TaskWorld]:
    """A running Nexus on the fakes with a workgroup and a project whose channel the bot is in;
    ``settings`` override Nexus settings by variable name without the prefix."""
    webhook_secret = secrets.token_hex(32)
    secret_registry.add(webhook_secret)
    nexus = nexus_settings(
        nexus_env,
        slack_bot_token=slack.bot_token,
        slack_api_url=slack.url + "/api/",
        clickup_token=clickup.token,
        clickup_api_url=clickup.url,
        agent_mute_seconds=MUTE_SECONDS,
        clickup_webhook_secret=webhook_secret,
        **settings,
    )
    await asyncio.to_thread(migrate_database, nexus.database.url)
    channel = slack.add_channel(f"proj-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
    workgroup, project, list_id = (
        f"wg-{uuid.uuid4().hex[:8]}",
        "auth-refactor",
        str(900_000 + secrets.randbelow(99_999)),
    )
    async with running_nexus(nexus) as running:
        world = TaskWorld(running, slack, clickup, secret_registry, workgroup, project, channel, list_id)
        async with world.admin() as admin:
            r = await admin.put(f"/internal/v1/workgroups/{workgroup}", json={})
            assert r.status_code == 201, r.text
            r = await admin.put(
                f"/internal/v1/workgroups/{workgroup}/projects/{project}",
                json={"clickupListId": list_id, "slackChannelId": channel, "statusMap": STATUS_MAP},
            )
            assert r.status_code == 201, r.text
        yield world


def settings_of(agent: RegisteredAgent) -> AgentSettings:
    return AgentSettings(
        nexus_url=agent.nexus_url,
        client_id=agent.client_id,
        client_secret=SecretStr(agent.client_secret),
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )


async def queue_task(world: TaskWorld, agent: str, task_id: str, title: str, description: str = "") -> None:
    data = {"task_id": task_id, "project": world.project, "title": title, "description": description}
    async with world.admin() as admin:
        r = await admin.post(
            f"/internal/v1/workgroups/{world.workgroup}/agents/{agent}/events",
            json={"type": "TASK_ASSIGNED", "data": data},
        )
    assert r.status_code == 202, r.text


async def run_handler(
    world: TaskWorld, registered: RegisteredAgent, task_id: str, body: Callable[[Context], Awaitable[Any]]
) -> Any:
    """Serve a one-handler agent until its handler for ``task_id`` finished; return what it returned."""
    outcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    agent = Agent(registered.name)

    @agent.on_task
    async def on_task(event: TaskAssigned, ctx: Context) -> None:
        try:
            outcome.set_result(await body(ctx))
        except Exception as e:
            outcome.set_exception(e)

    serving = asyncio.create_task(agent.serve(settings_of(registered)))
    try:
        await queue_task(world, registered.name, task_id, "Fix login")
        return await asyncio.wait_for(outcome, 20)
    finally:
        agent.stop()
        await asyncio.wait_for(serving, 20)
