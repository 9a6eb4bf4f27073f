"""The agent task API's test world: a real Nexus wired to the fake Slack and ClickUp, with tracked tasks
assigned to registered agents.

Tasks are made as the worker leaves them: the task in ClickUp, its root message in the project's
channel, the mapping and the agents assigned to it in PostgreSQL. The ``world`` fixture of
``tests/integration/tasks`` builds a :class:`TaskWorld`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from oblivion_nexus.stores import tables as t
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.nexus import RunningNexus
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
