"""A rogue agent's text in Slack: ``<!channel>``, ``<!here>``, ``<@U…>`` and a link whose label hides
where it goes reach the thread escaped (shown as typed, inert), as people's ClickUp text already does,
unless the agent's registration sets ``allowMentions``. Against a real Nexus and the fake Slack.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from oblivion_nexus.stores import tables as t
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.support.nexus import RunningNexus, migrate_database, nexus_settings, running_nexus

ROGUE_TEXT = "<!channel> <!here> ping <@U0G9QF9C6> and log in at <https://evil.example|ClickUp login> & more"
ESCAPED = (
    "&lt;!channel&gt; &lt;!here&gt; ping &lt;@U0G9QF9C6&gt; and log in at "
    "&lt;https://evil.example|ClickUp login&gt; &amp; more"
)


@dataclass
class Thread:
    nexus: RunningNexus
    slack: FakeSlack
    clickup: FakeClickUp
    workgroup: str
    channel: str
    list_id: str
    secret_registry: Any

    async def agent_token(self, name: str, **spec: Any) -> tuple[str, dict[str, Any]]:
        client_id, client_secret = f"{self.workgroup}-{name}", secrets.token_urlsafe(24)
        self.secret_registry.add(client_secret)
        body = {"clientId": client_id, "clientSecret": client_secret, "aliases": [name], **spec}
        async with httpx.AsyncClient(base_url=self.nexus.url, headers=self.nexus.admin_headers()) as admin:
            registered = await admin.put(f"/internal/v1/workgroups/{self.workgroup}/agents/{name}", json=body)
            assert registered.status_code == 201, registered.text
            granted = await admin.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
            )
        assert granted.status_code == 200, granted.text
        return str(granted.json()["access_token"]), registered.json()

    def track_task(self, agent: str) -> tuple[str, str]:
        """A task in ClickUp with its thread in Slack, as the worker leaves it; returns (task id, ts)."""
        task = self.clickup.add_task(list_id=self.list_id, name="Fix login", description="")
        root = self.slack.workspace.post(
            self.channel, {"user": "U0LAN0Z89", "bot_id": "B1", "text": "Fix login"}
        )
        engine = create_engine(self.nexus.settings.database.url)
        try:
            with engine.begin() as conn:
                mapping_id = conn.execute(
                    t.TaskMapping.__table__.insert()
                    .values(
                        workgroup=self.workgroup,
                        project="web",
                        clickup_task_id=task["id"],
                        slack_channel_id=self.channel,
                        thread_ts=root["ts"],
                        title="Fix login",
                    )
                    .returning(t.TaskMapping.id)
                ).scalar_one()
                agent_id = conn.execute(
                    select(t.Agent.id).where(t.Agent.workgroup == self.workgroup, t.Agent.name == agent)
                ).scalar_one()
                conn.execute(
                    t.TaskAgent.__table__.insert().values(task_mapping_id=mapping_id, agent_id=agent_id)
                )
        finally:
            engine.dispose()
        return str(task["id"]), str(root["ts"])


@pytest.fixture
async def thread(
    nexus_env: dict[str, str], fake_slack: FakeSlack, fake_clickup: FakeClickUp, secret_registry: Any
) -> AsyncIterator[Thread]:
    settings = nexus_settings(
        nexus_env,
        slack_bot_token=fake_slack.bot_token,
        slack_api_url=fake_slack.url + "/api/",
        clickup_token=fake_clickup.token,
        clickup_api_url=fake_clickup.url,
    )
    await asyncio.to_thread(migrate_database, settings.database.url)
    channel = fake_slack.add_channel(f"proj-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"]
    workgroup, list_id = f"wg-{uuid.uuid4().hex[:8]}", str(800_000 + secrets.randbelow(99_999))
    async with running_nexus(settings) as nexus:
        async with httpx.AsyncClient(base_url=nexus.url, headers=nexus.admin_headers()) as admin:
            assert (await admin.put(f"/internal/v1/workgroups/{workgroup}", json={})).status_code == 201
            project = {"clickupListId": list_id, "slackChannelId": channel}
            assert (
                await admin.put(f"/internal/v1/workgroups/{workgroup}/projects/web", json=project)
            ).is_success
        yield Thread(nexus, fake_slack, fake_clickup, workgroup, channel, list_id, secret_registry)


async def post_as_agent(thread: Thread, token: str, task_id: str, text: str) -> None:
    async with httpx.AsyncClient(
        base_url=thread.nexus.url, headers={"Authorization": f"Bearer {token}"}
    ) as agent:
        posted = await agent.post(f"/v1/tasks/{task_id}/messages", json={"text": text})
    assert posted.status_code == 201, posted.text


async def test_an_agents_mentions_and_disguised_links_reach_slack_inert(thread: Thread) -> None:
    token, view = await thread.agent_token("rogue")
    assert view["allowMentions"] is False
    task_id, ts = thread.track_task("rogue")
    await post_as_agent(thread, token, task_id, ROGUE_TEXT)
    posted = thread.slack.thread(thread.channel, ts)[-1]
    assert posted["text"] == ESCAPED
    assert "<!channel>" not in posted["text"]


async def test_an_agent_registered_with_allow_mentions_posts_its_markup_as_written(thread: Thread) -> None:
    token, view = await thread.agent_token("herald", allowMentions=True)
    assert view["allowMentions"] is True
    task_id, ts = thread.track_task("herald")
    await post_as_agent(thread, token, task_id, ROGUE_TEXT)
    assert thread.slack.thread(thread.channel, ts)[-1]["text"] == ROGUE_TEXT
