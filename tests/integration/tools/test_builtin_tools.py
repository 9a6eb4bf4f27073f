"""The built-in clickup and slack tools: an agent reads and comments on its projects' ClickUp tasks
and posts in their Slack channels through Nexus's own connections, only as far as its tools grant
and its token's projects reach, audited like every tool call, and also over MCP."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from oblivion_agent import Context
from tests.fakes.clickup import FakeClickUp
from tests.fakes.slack import FakeSlack
from tests.secret_logs import SecretRegistry
from tests.support.agent_tasks import TaskWorld, run_handler, task_world
from tests.support.registry import RegisteredAgent, register_agent

OUT_OF_SCOPE = "is not in a project of this token"


@dataclass
class Place:
    """A project somewhere: its workgroup, name, ClickUp list and Slack channel."""

    workgroup: str
    name: str
    list_id: str
    channel: str


@dataclass
class BuiltinWorld:
    """The task world's project (``home``), a second project of its workgroup (``billing``) and a
    project of another workgroup (``elsewhere``)."""

    tasks: TaskWorld
    home: Place
    billing: Place
    elsewhere: Place

    async def agent(self, name: str, tools: list[dict[str, Any]], **spec: Any) -> RegisteredAgent:
        return await self.tasks.register_agent(name, tools=tools, **spec)

    def task_in(self, place: Place, name: str = "Fix the login") -> str:
        return str(
            self.tasks.clickup.add_task(list_id=place.list_id, name=name, description="Users see 500")["id"]
        )

    async def audit(self) -> list[dict[str, Any]]:
        async with self.tasks.admin() as admin:
            r = await admin.get(f"/internal/v1/workgroups/{self.home.workgroup}/audit")
        assert r.status_code == 200, r.text
        return list(r.json()["records"])


async def _project(admin: httpx.AsyncClient, world: TaskWorld, workgroup: str, name: str) -> Place:
    place = Place(
        workgroup,
        name,
        str(800_000 + secrets.randbelow(99_999)),
        world.slack.add_channel(f"proj-{uuid.uuid4().hex[:8]}", bot_is_member=True)["id"],
    )
    r = await admin.put(
        f"/internal/v1/workgroups/{workgroup}/projects/{name}",
        json={"clickupListId": place.list_id, "slackChannelId": place.channel},
    )
    assert r.status_code == 201, r.text
    return place


@pytest.fixture
async def builtins(
    nexus_env: dict[str, str],
    fake_slack: FakeSlack,
    fake_clickup: FakeClickUp,
    secret_registry: SecretRegistry,
) -> AsyncIterator[BuiltinWorld]:
    async with task_world(nexus_env, fake_slack, fake_clickup, secret_registry) as world:
        other = f"wg-{uuid.uuid4().hex[:8]}"
        async with world.admin() as admin:
            assert (await admin.put(f"/internal/v1/workgroups/{other}", json={})).status_code == 201
            billing = await _project(admin, world, world.workgroup, "billing")
            elsewhere = await _project(admin, world, other, world.project)
        home = Place(world.workgroup, world.project, world.list_id, world.channel)
        yield BuiltinWorld(world, home, billing, elsewhere)


async def invoke(agent: RegisteredAgent, tool: str, action: str, **args: Any) -> httpx.Response:
    async with await agent.client(timeout=30) as client:
        return await client.post("/v1/tools/invoke", json={"tool": tool, "action": action, "args": args})


async def test_an_agent_reads_a_task_of_its_project_and_comments_on_it(builtins: BuiltinWorld) -> None:
    agent = await builtins.agent("reader", [{"builtin": "clickup"}], projects=[builtins.home.name])
    task_id = builtins.task_in(builtins.home)
    builtins.tasks.clickup.add_comment(task_id, "It started after the deploy")

    got = await invoke(agent, "clickup", "tasks.get", taskId=task_id)
    assert got.status_code == 200, got.text
    task = got.json()["result"]
    assert (task["name"], task["description"], task["project"]) == (
        "Fix the login",
        "Users see 500",
        "auth-refactor",
    )

    listed = await invoke(agent, "clickup", "tasks.list", project=builtins.home.name)
    assert listed.status_code == 200, listed.text
    assert [t["id"] for t in listed.json()["result"]["tasks"]] == [task_id]

    made = await invoke(agent, "clickup", "comments.create", taskId=task_id, text="Looking into it")
    assert made.status_code == 200, made.text
    newest = builtins.tasks.clickup.comments_newest_first(task_id)[0]
    assert newest["comment_text"] == "reader (Oblivion): Looking into it"

    comments = await invoke(agent, "clickup", "comments.list", taskId=task_id)
    assert comments.status_code == 200, comments.text
    texts = [c["text"] for c in comments.json()["result"]["comments"]]
    assert texts == ["reader (Oblivion): Looking into it", "It started after the deploy"]


async def test_a_task_of_another_project_or_workgroup_is_refused_with_the_rule_and_audited(
    builtins: BuiltinWorld,
) -> None:
    agent = await builtins.agent("narrow", [{"builtin": "clickup"}], projects=[builtins.home.name])
    for place in (builtins.billing, builtins.elsewhere):
        task_id = builtins.task_in(place)
        read = await invoke(agent, "clickup", "tasks.get", taskId=task_id)
        comment = await invoke(agent, "clickup", "comments.create", taskId=task_id, text="hi")
        for refused in (read, comment):
            assert refused.status_code == 403, refused.text
            body = refused.json()["detail"]
            assert f"task {task_id} {OUT_OF_SCOPE} (projects: auth-refactor)" == body["rule"]
            assert "Fix the login" not in refused.text
        assert builtins.tasks.clickup.comments_newest_first(task_id) == []
    other_list = await invoke(agent, "clickup", "tasks.list", listId=builtins.elsewhere.list_id)
    unknown = await invoke(agent, "clickup", "tasks.get", taskId="nosuchtask")
    assert (other_list.status_code, unknown.status_code) == (403, 403)

    records = [r for r in await builtins.audit() if r["agent"] == "narrow"]
    assert [(r["credential"], r["outcome"]) for r in records] == [("builtin:clickup", "denied")] * 6
    assert all(OUT_OF_SCOPE in r["detail"] for r in records)


async def test_an_agent_posts_in_its_projects_channel_and_a_tasks_thread_escaped(
    builtins: BuiltinWorld,
) -> None:
    agent = await builtins.agent("poster", [{"builtin": "slack"}], projects=[builtins.home.name])
    task_id = builtins.tasks.track_task("Fix the login", agents=["poster"])

    posted = await invoke(
        agent, "slack", "messages.post", project=builtins.home.name, text="<!channel> deployed"
    )
    in_thread = await invoke(agent, "slack", "messages.post", taskId=task_id, text="Found it")
    assert (posted.status_code, in_thread.status_code) == (200, 200), (posted.text, in_thread.text)

    channel = builtins.tasks.slack.messages(builtins.home.channel)
    message = next(m for m in channel if m["ts"] == posted.json()["result"]["ts"])
    assert (message["text"], message["username"]) == ("&lt;!channel&gt; deployed", "poster")
    assert "thread_ts" not in message
    assert builtins.tasks.thread(task_id)[-1]["text"] == "Found it"

    for refused in (
        await invoke(agent, "slack", "messages.post", project="billing", text="hi"),
        await invoke(agent, "slack", "messages.post", project="no-such-project", text="hi"),
    ):
        assert refused.status_code == 403, refused.text
        assert OUT_OF_SCOPE in refused.json()["detail"]["rule"]
    assert builtins.tasks.slack.messages(builtins.billing.channel) == []


async def test_an_agent_allowed_mentions_posts_its_text_as_written(builtins: BuiltinWorld) -> None:
    agent = await builtins.agent("pinger", [{"builtin": "slack"}], allowMentions=True)
    posted = await invoke(agent, "slack", "messages.post", project="billing", text="<!here> release at 5")
    assert posted.status_code == 200, posted.text
    assert builtins.tasks.slack.messages(builtins.billing.channel)[-1]["text"] == "<!here> release at 5"


async def test_a_token_narrowed_to_fewer_projects_is_refused_at_once(builtins: BuiltinWorld) -> None:
    tools = [{"builtin": "clickup", "actions": ["tasks.get"]}]
    wide = await builtins.agent("mover", tools, projects=[builtins.home.name, "billing"])
    task_id = builtins.task_in(builtins.billing)
    assert (await invoke(wide, "clickup", "tasks.get", taskId=task_id)).status_code == 200

    world = builtins.tasks
    narrowed = await register_agent(
        world.nexus.url,
        world.nexus.admin_headers(),
        world.secrets,
        world.workgroup,
        "mover",
        client_id=wide.client_id,
        client_secret=wide.client_secret,
        tools=tools,
        projects=[builtins.home.name],
    )
    assert (await invoke(wide, "clickup", "tasks.get", taskId=task_id)).status_code == 401
    refused = await invoke(narrowed, "clickup", "tasks.get", taskId=task_id)
    assert refused.status_code == 403, refused.text
    assert OUT_OF_SCOPE in refused.json()["detail"]["rule"]


async def test_an_action_or_builtin_not_granted_is_refused_before_anything_is_read(
    builtins: BuiltinWorld,
) -> None:
    agent = await builtins.agent(
        "reader", [{"builtin": "clickup", "actions": ["tasks.get", "comments.list"]}]
    )
    task_id = builtins.task_in(builtins.home)
    calls_before = len(builtins.tasks.clickup.calls)
    comment = await invoke(agent, "clickup", "comments.create", taskId=task_id, text="hi")
    post = await invoke(agent, "slack", "messages.post", project=builtins.home.name, text="hi")
    unknown = await invoke(agent, "clickup", "tasks.delete", taskId=task_id)
    assert (comment.status_code, post.status_code, unknown.status_code) == (403, 403, 404)
    assert "is not granted 'comments.create' on the built-in 'clickup'" in comment.json()["detail"]["rule"]
    assert "is not granted the built-in tool 'slack'" in post.json()["detail"]["rule"]
    assert len(builtins.tasks.clickup.calls) == calls_before
    bad = await invoke(agent, "clickup", "tasks.get", taskId="a/b")
    assert bad.status_code == 422, bad.text


async def test_calls_are_audited_with_the_builtin_as_credential_and_the_project(
    builtins: BuiltinWorld,
) -> None:
    agent = await builtins.agent("auditor", [{"builtin": "clickup"}, {"builtin": "slack"}])
    task_id = builtins.task_in(builtins.billing)
    got = await invoke(agent, "clickup", "tasks.get", taskId=task_id)
    posted = await invoke(agent, "slack", "messages.post", project="billing", text="hello")
    records = [r for r in await builtins.audit() if r["agent"] == "auditor"]
    assert [(r["tool"], r["credential"], r["action"], r["outcome"], r["project"]) for r in records] == [
        ("clickup", "builtin:clickup", "tasks.get", "ok", "billing"),
        ("slack", "builtin:slack", "messages.post", "ok", "billing"),
    ]
    assert [r["invocation_id"] for r in records] == [got.json()["auditId"], posted.json()["auditId"]]
    assert records[0]["task_id"] == task_id


async def test_get_v1_tools_lists_the_granted_builtin_actions_with_their_schemas(
    builtins: BuiltinWorld,
) -> None:
    agent = await builtins.agent(
        "lister", [{"builtin": "clickup", "actions": ["tasks.*"]}, {"builtin": "slack"}]
    )
    async with await agent.client() as client:
        listed = (await client.get("/v1/tools")).json()["tools"]
    by_action = {(t["tool"], t["action"]): t for t in listed}
    assert set(by_action) == {("clickup", "tasks.get"), ("clickup", "tasks.list"), ("slack", "messages.post")}
    get = by_action[("clickup", "tasks.get")]
    assert get["credential"] == "builtin:clickup"
    assert get["approval"] is False
    assert get["argsSchema"]["required"] == ["taskId"]
    assert {"project", "taskId", "text"} <= set(
        by_action[("slack", "messages.post")]["argsSchema"]["properties"]
    )


async def test_an_mcp_client_lists_and_calls_a_builtin_by_the_same_name(builtins: BuiltinWorld) -> None:
    agent = await builtins.agent("mcp-user", [{"builtin": "clickup", "actions": ["tasks.get"]}])
    task_id = builtins.task_in(builtins.home)
    headers = {"Authorization": f"Bearer {await agent.token()}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(builtins.tasks.nexus.url + "/mcp", http_client=http)
        async with Client(transport) as client:  # type: ignore[arg-type]
            names = [tool.name for tool in (await client.list_tools()).tools]
            result = await client.call_tool("clickup.tasks.get", {"taskId": task_id})
            refused = await client.call_tool("clickup.comments.create", {"taskId": task_id, "text": "x"})
    assert names == ["clickup.tasks.get", "memory_search"]
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["result"]["name"] == "Fix the login"
    assert refused.is_error
    assert refused.structured_content is not None
    assert refused.structured_content["httpStatus"] == 403


async def test_narrowing_a_builtins_actions_refuses_the_next_call(builtins: BuiltinWorld) -> None:
    agent = await builtins.agent("writer", [{"builtin": "clickup"}])
    task_id = builtins.task_in(builtins.home)
    first = await invoke(agent, "clickup", "comments.create", taskId=task_id, text="one")
    assert first.status_code == 200, first.text

    world = builtins.tasks
    await register_agent(
        world.nexus.url,
        world.nexus.admin_headers(),
        world.secrets,
        world.workgroup,
        "writer",
        client_id=agent.client_id,
        client_secret=agent.client_secret,
        aliases=["writer"],
        tools=[{"builtin": "clickup", "actions": ["tasks.get"]}],
    )
    second = await invoke(agent, "clickup", "comments.create", taskId=task_id, text="two")
    assert second.status_code == 403, second.text
    assert "is not granted 'comments.create'" in second.json()["detail"]["rule"]
    assert [c["comment_text"] for c in builtins.tasks.clickup.comments_newest_first(task_id)] == [
        "writer (Oblivion): one"
    ]


async def test_a_handler_reads_its_task_and_posts_in_its_thread_with_the_sdk(builtins: BuiltinWorld) -> None:
    agent = await builtins.agent(
        "sdk-user", [{"builtin": "clickup", "actions": ["tasks.get"]}, {"builtin": "slack"}]
    )
    task_id = builtins.tasks.track_task("Fix the login", "Users see 500", agents=["sdk-user"])

    async def body(ctx: Context) -> tuple[list[str], str]:
        listed = [f"{tool.tool}.{tool.action}" for tool in await ctx.tools.list()]
        task = await ctx.tools.invoke("clickup", "tasks.get", {"taskId": task_id})
        await ctx.tools.invoke(
            "slack", "messages.post", {"taskId": task_id, "text": f"Read: {task.result['name']}"}
        )
        return listed, str(task.result["description"])

    listed, description = await run_handler(builtins.tasks, agent, task_id, body)
    assert listed == ["clickup.tasks.get", "slack.messages.post"]
    assert description == "Users see 500"
    assert builtins.tasks.thread(task_id)[-1]["text"] == "Read: Fix the login"
